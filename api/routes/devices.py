"""Devices, one device with its latest values, and a device's time series."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime

from api import params, queries
from api.deps import connection
from api.errors import BadParameterError, NotFoundError
from api.schemas import (
    BucketPoint,
    Device,
    DeviceDetail,
    DevicePage,
    LatestValue,
    Location,
    Point,
    Series,
)
from api.settings import ApiSettings
from decoders import QUANTITIES

router = APIRouter(prefix="/v1/devices", tags=["devices"])

Conn = Annotated[asyncpg.Connection, Depends(connection)]


def _device(row: Any) -> Device:
    location = None
    if row["latitude"] is not None and row["longitude"] is not None:
        location = Location(latitude=row["latitude"], longitude=row["longitude"])
    return Device(
        dev_eui=row["dev_eui"],
        name=row["name"],
        application_id=row["application_id"],
        model=row["model"],
        decoder=row["decoder"],
        location=location,
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
    )


@router.get("", response_model=DevicePage, summary="List devices, ordered by DevEUI")
async def list_devices(
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> DevicePage:
    after = params.dev_eui(cursor) if cursor else None
    rows = await queries.list_devices(conn, after, limit + 1)
    items = [_device(r) for r in rows[:limit]]
    return DevicePage(items=items, next_cursor=items[-1].dev_eui if len(rows) > limit else None)


async def _known_device(conn: asyncpg.Connection, dev_eui: str) -> Any:
    row = await queries.get_device(conn, params.dev_eui(dev_eui))
    if row is None:
        raise NotFoundError(f"no device with dev_eui {dev_eui.upper()}")
    return row


@router.get("/{dev_eui}", response_model=DeviceDetail, summary="One device and its latest values")
async def get_device(dev_eui: str, conn: Conn) -> DeviceDetail:
    row = await _known_device(conn, dev_eui)
    latest = [LatestValue(**dict(r)) for r in await queries.device_latest(conn, row["id"])]
    return DeviceDetail(**_device(row).model_dump(), latest=latest)


@router.get(
    "/{dev_eui}/series",
    response_model=Series,
    response_model_by_alias=True,
    summary="Raw points of one quantity, or avg/min/max/count per bucket",
)
async def series(
    dev_eui: str,
    request: Request,
    conn: Conn,
    quantity: Annotated[str, Query(description="Quantity key, see /v1/quantities")],
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
    bucket: Annotated[str | None, Query(description="Bucket size: 15m, 1h, 1d, ...")] = None,
    sensor: Annotated[int | None, Query(ge=0, le=32767)] = None,
) -> Series:
    settings: ApiSettings = request.app.state.settings
    catalogue_entry = QUANTITIES.get(quantity)
    if catalogue_entry is None:
        raise BadParameterError(f"unknown quantity {quantity!r}; /v1/quantities lists them")
    start, end = params.time_range(from_, to, settings.api_max_range_days)
    row = await _known_device(conn, dev_eui)
    qid = await queries.quantity_id(conn, quantity)
    if qid is None:
        raise BadParameterError(f"quantity {quantity!r} is not in this database's catalogue yet")
    points: list[Point] | list[BucketPoint]
    next_from: datetime | None = None
    if bucket is None:
        limit = settings.api_max_points
        rows = await queries.raw_series(conn, row["id"], qid, start, end, sensor, limit + 1)
        if len(rows) > limit:
            next_from = rows[limit]["time"]
            rows = [r for r in rows[:limit] if r["time"] < next_from]
        points = [Point(**dict(r)) for r in rows]
    else:
        size = params.bucket(bucket)
        buckets = (end - start) / size
        if buckets > settings.api_max_buckets:
            raise BadParameterError(
                f"bucket {bucket} over this range gives {int(buckets)} buckets, more than the "
                f"limit of {settings.api_max_buckets}; widen the bucket or narrow the range"
            )
        rows = await queries.bucketed_series(conn, row["id"], qid, start, end, sensor, size)
        points = [BucketPoint(**dict(r)) for r in rows]
    return Series.model_validate(
        {
            "dev_eui": row["dev_eui"],
            "quantity": quantity,
            "unit": catalogue_entry.unit,
            "from": start,
            "to": end,
            "bucket": bucket,
            "points": points,
            "next_from": next_from,
        }
    )
