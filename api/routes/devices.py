"""Devices, one device with its latest values and zones, its location, and its time series."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
import orjson
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from api import aggregation, export, params, queries, series
from api.deps import Conn
from api.errors import BadParameterError, NotFoundError
from api.schemas import (
    BucketPoint,
    Device,
    DeviceDetail,
    DevicePage,
    DevicePatch,
    LatestValue,
    Location,
    NetworkLocation,
    Point,
    Series,
)
from api.settings import ApiSettings
from decoders import QUANTITIES
from decoders.catalogue import Aggregation, Quantity

router = APIRouter(prefix="/v1/devices", tags=["devices"])


# What each route's `format` offers besides JSON, and only that, in the OpenAPI document.
_GEOJSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/geo+json": {"schema": {"type": "object"}}}}
}
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


def _device(row: Any) -> Device:
    location = None
    if row["latitude"] is not None and row["longitude"] is not None:
        location = Location(latitude=row["latitude"], longitude=row["longitude"])
    return Device(
        dev_eui=row["dev_eui"],
        name=row["name"],
        application_id=row["application_id"],
        model=row["model"],
        device_profile=row["device_profile"],
        decoder=row["decoder"],
        profile=row["profile"],
        decoded_by=(
            f"{row['decoded_by']}@{row['decoded_by_version']}" if row["decoded_by"] else None
        ),
        location=location,
        network_location=_network_location(row),
        operator_set=sorted(row["operator_set"]),
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
        joined_at=row["joined_at"],
        battery_level=row["battery_level"],
        battery_at=row["battery_at"],
        state=orjson.loads(row["state"]) if row["state"] else None,
    )


def _network_location(row: Any) -> NetworkLocation | None:
    if row["network_latitude"] is None or row["network_longitude"] is None:
        return None
    return NetworkLocation(
        latitude=row["network_latitude"],
        longitude=row["network_longitude"],
        source=row["location_source"],
        at=row["location_at"],
    )


@router.get(
    "",
    response_model=DevicePage,
    summary="List devices, ordered by DevEUI (format=geojson: a FeatureCollection)",
    responses=_GEOJSON,
)
async def list_devices(
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    format: Annotated[Literal["json", "geojson"], Query()] = "json",
) -> Any:
    after = params.dev_eui(cursor) if cursor else None
    rows = await queries.list_devices(conn, after, limit + 1)
    items = [_device(r) for r in rows[:limit]]
    next_cursor = items[-1].dev_eui if len(rows) > limit else None
    if format == "geojson":
        features = [
            export.feature(r["longitude"], r["latitude"], _device(r).model_dump(mode="json"))
            for r in rows[:limit]
        ]
        return JSONResponse(
            export.collection(features, next_cursor=next_cursor),
            media_type="application/geo+json",
        )
    return DevicePage(items=items, next_cursor=next_cursor)


async def _known_device(conn: asyncpg.Connection, dev_eui: str) -> Any:
    row = await queries.get_device(conn, params.dev_eui(dev_eui))
    if row is None:
        raise NotFoundError(f"no device with dev_eui {dev_eui.upper()}")
    return row


@router.get(
    "/{dev_eui}", response_model=DeviceDetail, summary="One device, its latest values and zones"
)
async def get_device(dev_eui: str, conn: Conn) -> DeviceDetail:
    row = await _known_device(conn, dev_eui)
    latest = [LatestValue(**dict(r)) for r in await queries.device_latest(conn, row["id"])]
    in_zones = await queries.device_zones(conn, row["id"])
    return DeviceDetail(**_device(row).model_dump(), latest=latest, zones=in_zones)


@router.patch(
    "/{dev_eui}",
    response_model=DeviceDetail,
    summary="Set a device's name, location or profile (operators); zones follow the location",
    description=(
        "`profile` names the device profile that says what the device's generic channels "
        "measure (e.g. CayenneLPP analog input 4 is NO2 in ppb); ingest applies it to the "
        "device's uplinks from a few seconds later, and `meetnet reprocess` to stored ones. "
        "A name or location set here is never overwritten by network metadata; null hands it "
        "back to the network, whose own position is always in `network_location`."
    ),
)
async def patch_device(
    dev_eui: str, conn: Conn, patch: Annotated[DevicePatch, Body()]
) -> DeviceDetail:
    row = await _known_device(conn, dev_eui)
    fields: dict[str, Any] = {}
    if "name" in patch.model_fields_set:
        fields["name"] = patch.name
    if "location" in patch.model_fields_set:
        fields["latitude"] = patch.location.latitude if patch.location else None
        fields["longitude"] = patch.location.longitude if patch.location else None
    if "profile" in patch.model_fields_set:
        if patch.profile is not None and not await queries.profile_exists(conn, patch.profile):
            known = ", ".join(await queries.profile_names(conn))
            raise BadParameterError(f"no device profile named {patch.profile!r}; known: {known}")
        fields["profile"] = patch.profile
    await queries.update_device(conn, row["id"], fields)
    return await get_device(dev_eui, conn)


def _quantity(key: str) -> Quantity:
    entry = QUANTITIES.get(key)
    if entry is None:
        raise BadParameterError(f"unknown quantity {key!r}; /v1/quantities lists them")
    return entry


async def resolve_quantity(
    conn: asyncpg.Connection, key: str, timezone: str | None, default_timezone: str
) -> tuple[Quantity, int, str, str]:
    """Catalogue entry, id, requested time zone and the daily rollups' zone of a series."""
    entry = _quantity(key)
    tz = params.timezone(timezone or default_timezone)
    qid, city_tz = await queries.quantity_and_city_timezone(conn, key)
    if qid is None:
        raise BadParameterError(f"quantity {key!r} is not in this database's catalogue yet")
    if tz != city_tz and not await queries.check_timezone(conn, tz):
        raise BadParameterError(f"tz {tz!r} is not known to the database; choose another name")
    return entry, qid, tz, city_tz


def check_buckets(plan: series.Plan, bucket: str, settings: ApiSettings) -> None:
    if plan.buckets > settings.api_max_buckets:
        raise BadParameterError(
            f"bucket {bucket} over this range gives {plan.buckets} buckets, more than the "
            f"limit of {settings.api_max_buckets}; widen the bucket or narrow the range"
        )


@router.get(
    "/{dev_eui}/series",
    response_model=Series,
    response_model_by_alias=True,
    summary="Raw points of one quantity, or its aggregate per bucket (format=csv: streamed)",
    description=(
        "Without `bucket`: raw points. With `bucket`: per sensor, the buckets whose start lies "
        "in [from, to), each with the quantity's aggregate (`aggregation`, see /v1/quantities), "
        "min, max, count, and p50/p95 with `percentiles=true`. Directions (`circular_mean`) "
        "average as vectors: 350° and 10° give 0°, and `value` is null where a bucket's "
        "directions cancel. Counters (`counter`: meter indexes) give the last reading as `value` "
        "and what was added in the bucket as `delta` (the last reading less the one before the "
        "bucket; a reading below the one before is a reset, counted from zero), never a mean. "
        "Whole-day buckets follow local days in `tz` (default: the city's); raw data, hourly or "
        "daily rollups answer as the bucket allows, with the same values."
    ),
    responses=_CSV,
)
async def device_series(
    dev_eui: str,
    request: Request,
    conn: Conn,
    quantity: Annotated[str, Query(description="Quantity key, see /v1/quantities")],
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
    bucket: Annotated[str | None, Query(description="Bucket size: 15m, 1h, 1d, 7d, ...")] = None,
    sensor: Annotated[int | None, Query(ge=0, le=32767)] = None,
    tz: Annotated[str | None, Query(description="Time zone of day buckets")] = None,
    percentiles: Annotated[bool, Query(description="Add p50 and p95 (from raw data)")] = False,
    source: Annotated[
        Literal["auto", "raw"], Query(description="raw: skip the rollups (to compare)")
    ] = "auto",
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    settings: ApiSettings = request.app.state.settings
    entry = _quantity(quantity)
    start, end = params.time_range(from_, to, settings.api_max_range_days)
    size = params.bucket(bucket) if bucket is not None else None
    row = await _known_device(conn, dev_eui)
    entry, qid, tz_name, city_tz = await resolve_quantity(
        conn, quantity, tz, settings.city_timezone
    )
    if size is None:
        if percentiles:
            raise BadParameterError("percentiles need a bucket, such as bucket=1h")
        return await _raw_series(request, conn, row, entry, qid, start, end, sensor, format)
    assert bucket is not None
    plan = series.plan(start, end, size, tz_name, city_tz, percentiles or source == "raw")
    check_buckets(plan, bucket, settings)
    kind = entry.aggregation
    rows = await series.device_buckets(conn, plan, row["id"], qid, sensor, percentiles, kind)
    points = [
        BucketPoint(
            time=r["time"],
            sensor=r["sensor"],
            value=aggregation.value_of(kind, r),
            delta=aggregation.delta_of(kind, r),
            min=r["min"],
            max=r["max"],
            count=r["count"],
            p50=r["p50"] if percentiles else None,
            p95=r["p95"] if percentiles else None,
        )
        for r in rows
    ]
    if format == "csv":
        # At most api_max_buckets rows per sensor: read whole like JSON, so both agree.
        counter = kind is Aggregation.COUNTER
        return export.csv_from_rows(
            (
                (p.time.isoformat(), p.sensor, p.value, p.min, p.max, p.count)
                + ((p.delta,) if counter else ())
                + (p.p50, p.p95)
                for p in points
            ),
            ("time", "sensor", "value", "min", "max", "count")
            + (("delta",) if counter else ())
            + ("p50", "p95"),
            f"{row['dev_eui']}-{quantity}-{bucket}.csv",
        )
    return Series.model_validate(
        {
            "dev_eui": row["dev_eui"],
            "quantity": quantity,
            "unit": entry.unit,
            "from": start,
            "to": end,
            "bucket": bucket,
            "aggregation": kind.value,
            "timezone": tz_name,
            "source": plan.source,
            "points": points,
            "next_from": None,
        }
    )


async def _raw_series(
    request: Request,
    conn: asyncpg.Connection,
    row: Any,
    entry: Quantity,
    qid: int,
    start: datetime,
    end: datetime,
    sensor: int | None,
    format: str,
) -> Any:
    settings: ApiSettings = request.app.state.settings
    device_id = row["id"]
    sensors = [sensor] if sensor is not None else await queries.series_sensors(conn, device_id, qid)

    async def page(conn: asyncpg.Connection, after: Any, limit: int) -> list[Any]:
        return await queries.raw_page(conn, device_id, qid, start, end, sensors, after, limit)

    if format == "csv":
        return export.csv_pages(
            request.app.state.pool,
            page,
            lambda r: (r["time"], r["sensor"]),
            ("time", "sensor", "value"),
            lambda r: (r["time"].isoformat(), r["sensor"], r["value"]),
            f"{row['dev_eui']}-{entry.key}.csv",
        )
    limit = settings.api_max_points
    rows = await page(conn, None, limit + 1)
    next_from: datetime | None = None
    if len(rows) > limit:
        next_from = rows[limit]["time"]
        rows = [r for r in rows[:limit] if r["time"] < next_from]
    return Series.model_validate(
        {
            "dev_eui": row["dev_eui"],
            "quantity": entry.key,
            "unit": entry.unit,
            "from": start,
            "to": end,
            "bucket": None,
            "aggregation": None,
            "timezone": None,
            "source": "raw",
            "points": [Point(**dict(r)) for r in rows],
            "next_from": next_from,
        }
    )
