"""Newest value of one quantity for every device: what a city map shows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import asyncpg
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api import export, params, queries
from api.deps import Conn
from api.errors import BadParameterError, NotFoundError
from api.schemas import LatestList
from decoders import QUANTITIES

router = APIRouter(prefix="/v1/latest", tags=["latest"])


def _item(r: Any) -> dict[str, Any]:
    """One `DeviceLatest`, as plain data: a map of a whole city is thousands of these, and
    serialising them straight with orjson is several times faster than through models."""
    has_location = r["latitude"] is not None and r["longitude"] is not None
    return {
        "dev_eui": r["dev_eui"],
        "name": r["name"],
        "sensor": r["sensor"],
        "time": r["time"],
        "value": r["value"],
        "location": (
            {"latitude": r["latitude"], "longitude": r["longitude"]} if has_location else None
        ),
    }


@router.get(
    "",
    response_model=LatestList,
    summary="Newest value per device, by measurement time; as JSON, GeoJSON or CSV",
    description=(
        "Filter by `zone` (id) and/or `bbox` (min_lon,min_lat,max_lon,max_lat). "
        "JSON and GeoJSON page with `cursor`; CSV streams every matching device."
    ),
    responses={
        200: {
            "content": {
                "application/geo+json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            }
        }
    },
)
async def latest(
    request: Request,
    conn: Conn,
    quantity: Annotated[str, Query(description="Quantity key, see /v1/quantities")],
    zone: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Zone id")] = None,
    bbox: Annotated[
        str | None, Query(description="min_lon,min_lat,max_lon,max_lat (WGS84)")
    ] = None,
    format: Annotated[Literal["json", "geojson", "csv"], Query()] = "json",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Any:
    entry = QUANTITIES.get(quantity)
    if entry is None:
        raise BadParameterError(f"unknown quantity {quantity!r}; /v1/quantities lists them")
    box = params.bbox(bbox) if bbox is not None else None
    after = params.latest_cursor(cursor) if cursor else None
    if zone is not None and await queries.zone(conn, zone) is None:
        raise NotFoundError(f"no zone with id {zone}")
    qid = await queries.quantity_id(conn, quantity)
    if format == "csv":

        async def fetch_page(conn: asyncpg.Connection, after: Any, limit: int) -> list[Any]:
            return await queries.latest_page(conn, qid or 0, zone, box, after, limit)

        return export.csv_pages(
            request.app.state.pool,
            fetch_page,
            lambda r: (r["dev_eui"], r["sensor"]),
            ("dev_eui", "name", "latitude", "longitude", "sensor", "time", "value"),
            lambda r: (
                r["dev_eui"],
                r["name"],
                r["latitude"],
                r["longitude"],
                r["sensor"],
                r["time"].isoformat(),
                r["value"],
            ),
            f"latest-{quantity}.csv",
        )
    rows = await queries.latest_page(conn, qid, zone, box, after, limit + 1) if qid else []
    page = rows[:limit]
    next_cursor = f"{page[-1]['dev_eui']}.{page[-1]['sensor']}" if len(rows) > limit else None
    if format == "geojson":
        features = [
            export.feature(
                r["longitude"],
                r["latitude"],
                {
                    "dev_eui": r["dev_eui"],
                    "name": r["name"],
                    "quantity": quantity,
                    "unit": entry.unit,
                    "sensor": r["sensor"],
                    "time": r["time"].isoformat().replace("+00:00", "Z"),
                    "value": r["value"],
                },
            )
            for r in page
        ]
        return JSONResponse(
            export.collection(features, next_cursor=next_cursor),
            media_type="application/geo+json",
        )
    body = {
        "quantity": quantity,
        "unit": entry.unit,
        "items": [_item(r) for r in page],
        "next_cursor": next_cursor,
    }
    # The same document LatestList describes (times RFC 3339 with Z), without model round trips.
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")
