"""Zones (districts, neighbourhoods): GeoJSON upload, listing, series and latest values."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any, Literal

import asyncpg
import orjson
from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from api import aggregation, export, params, queries, series, zones
from api.deps import Conn
from api.errors import BadParameterError, NotFoundError
from api.routes.devices import check_buckets, resolve_quantity
from api.schemas import (
    Zone,
    ZoneBucketPoint,
    ZoneLatest,
    ZoneLatestList,
    ZonePage,
    ZoneSeries,
)
from api.settings import ApiSettings
from decoders import QUANTITIES
from decoders.catalogue import Aggregation, Quantity

router = APIRouter(prefix="/v1/zones", tags=["zones"])

ZoneId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Zone id")]


def _zone(row: Any) -> Zone:
    return Zone(
        id=row["id"],
        name=row["name"],
        feature_id=row["feature_id"],
        properties=orjson.loads(row["properties"]),
        bbox=[row["min_lon"], row["min_lat"], row["max_lon"], row["max_lat"]],
        devices=row["devices"],
    )


def _feature(row: Any) -> dict[str, Any]:
    zone = _zone(row)
    return {
        "type": "Feature",
        "id": zone.id,
        "bbox": zone.bbox,
        "geometry": orjson.loads(row["geometry"]),
        "properties": {**zone.properties, "name": zone.name, "devices": zone.devices},
    }


_GEOJSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/geo+json": {"schema": {"type": "object"}}}}
}


@router.get(
    "",
    response_model=ZonePage,
    summary="List zones by id (format=geojson: a FeatureCollection with the polygons)",
    responses=_GEOJSON,
)
async def list_zones(
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        int | None, Query(ge=0, le=2**31 - 1, description="next_cursor of the previous page")
    ] = None,
    format: Annotated[Literal["json", "geojson"], Query()] = "json",
) -> Any:
    rows = await queries.zones_page(conn, cursor, limit + 1)
    page = rows[:limit]
    next_cursor = str(page[-1]["id"]) if len(rows) > limit else None
    if format == "geojson":
        return JSONResponse(
            export.collection([_feature(r) for r in page], next_cursor=next_cursor),
            media_type="application/geo+json",
        )
    return ZonePage(items=[_zone(r) for r in page], next_cursor=next_cursor)


@router.post(
    "",
    response_model=list[Zone],
    status_code=201,
    summary="Upload zones as GeoJSON: Polygon, MultiPolygon, Feature or FeatureCollection",
    description=(
        "Each feature becomes a zone named by its property `name_property` (a bare geometry "
        "takes `name`). An upload replaces the zones it names: a feature with an `id` the zone "
        "uploaded with that id, one without the zone of that name; so uploading the same "
        "GeoJSON twice leaves the same zones. Located devices are placed in the zones at once, "
        "and re-placed when a geometry changes; the boundary belongs to the zone."
    ),
)
async def upload_zones(
    conn: Conn,
    document: Annotated[dict[str, Any], Body(description="A GeoJSON object (RFC 7946)")],
    name: Annotated[str | None, Query(max_length=200)] = None,
    name_property: Annotated[str, Query(max_length=100)] = "name",
) -> list[Zone]:
    shapes = zones.parse(document, name, name_property)
    ids = await zones.upsert(conn, shapes)
    return [_zone(await queries.zone(conn, i)) for i in ids]


def _across_devices(entry: Quantity) -> None:
    """Refuse to combine a generic quantity across devices: each may mean another unit by it."""
    if entry.generic:
        raise BadParameterError(
            f"{entry.key} is a generic quantity whose meaning and unit depend on each device, so "
            "a zone cannot combine it; give the devices a profile (PATCH /v1/devices/{dev_eui} "
            '{"profile": ...}) that maps it onto a catalogue quantity'
        )


async def _known_zone(conn: asyncpg.Connection, zone_id: int) -> Any:
    row = await queries.zone(conn, zone_id)
    if row is None:
        raise NotFoundError(f"no zone with id {zone_id}")
    return row


@router.get(
    "/{zone_id}",
    response_model=Zone,
    summary="One zone (format=geojson: a Feature with its polygon)",
    responses=_GEOJSON,
)
async def get_zone(
    zone_id: ZoneId, conn: Conn, format: Annotated[Literal["json", "geojson"], Query()] = "json"
) -> Any:
    row = await _known_zone(conn, zone_id)
    if format == "geojson":
        return JSONResponse(_feature(row), media_type="application/geo+json")
    return _zone(row)


@router.delete("/{zone_id}", status_code=204, summary="Remove a zone")
async def delete_zone(zone_id: ZoneId, conn: Conn) -> Response:
    if not await queries.delete_zone(conn, zone_id):
        raise NotFoundError(f"no zone with id {zone_id}")
    return Response(status_code=204)


@router.get(
    "/{zone_id}/series",
    response_model=ZoneSeries,
    response_model_by_alias=True,
    summary="A quantity aggregated across the zone's devices per bucket (format=csv: streamed)",
    description=(
        "Each device counts once per bucket: its bucket value (by the quantity's aggregation, "
        "see /v1/quantities) is combined across devices as mean of means, sum of sums, energy "
        "mean of energy means (dB), max of maxima, the share of devices in state 1, the circular "
        "mean of the devices' mean directions, or for counters the sum of the meters' last "
        "readings with `delta` the sum of what each added in the bucket. min, max and count "
        "cover all measurements. Generic quantities are refused: their unit depends on the "
        "device. Buckets as in device series."
    ),
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def zone_series(
    zone_id: ZoneId,
    request: Request,
    conn: Conn,
    quantity: Annotated[str, Query(description="Quantity key, see /v1/quantities")],
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
    bucket: Annotated[str, Query(description="Bucket size: 15m, 1h, 1d, 7d, ...")] = "1h",
    tz: Annotated[str | None, Query(description="Time zone of day buckets")] = None,
    percentiles: Annotated[bool, Query(description="Add p50 and p95 (from raw data)")] = False,
    source: Annotated[
        Literal["auto", "raw"], Query(description="raw: skip the rollups (to compare)")
    ] = "auto",
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    settings: ApiSettings = request.app.state.settings
    start, end = params.time_range(from_, to, settings.api_max_range_days)
    size = params.bucket(bucket)
    entry, qid, tz_name, city_tz = await resolve_quantity(
        conn, quantity, tz, settings.city_timezone
    )
    _across_devices(entry)
    zone = await _known_zone(conn, zone_id)
    plan = series.plan(start, end, size, tz_name, city_tz, percentiles or source == "raw")
    check_buckets(plan, bucket, settings)
    kind = entry.aggregation
    rows = await series.zone_buckets(conn, plan, kind, zone_id, qid, percentiles)
    points = [
        ZoneBucketPoint(
            time=r["time"],
            value=aggregation.zone_value_of(kind, r),
            delta=aggregation.delta_of(kind, r),
            min=r["min"],
            max=r["max"],
            count=r["count"],
            devices=r["devices"],
            p50=r["p50"] if percentiles else None,
            p95=r["p95"] if percentiles else None,
        )
        for r in rows
    ]
    if format == "csv":
        return export.csv_from_rows(
            (
                (p.time.isoformat(), p.value, p.min, p.max, p.count, p.devices, p.p50, p.p95)
                for p in points
            ),
            ("time", "value", "min", "max", "count", "devices", "p50", "p95"),
            f"zone-{zone_id}-{quantity}-{bucket}.csv",
        )
    return ZoneSeries.model_validate(
        {
            "zone_id": zone_id,
            "zone": zone["name"],
            "quantity": quantity,
            "unit": entry.unit,
            "from": start,
            "to": end,
            "bucket": bucket,
            "aggregation": kind.value,
            "timezone": tz_name,
            "source": plan.source,
            "points": points,
        }
    )


@router.get(
    "/{zone_id}/latest",
    response_model=ZoneLatestList,
    summary="The devices' latest values per quantity, combined across the zone",
    description=(
        "Generic quantities (`generic` in /v1/quantities: CayenneLPP analog inputs and the like) "
        "are left out: each device may mean another unit by them."
    ),
)
async def zone_latest(
    zone_id: ZoneId,
    request: Request,
    conn: Conn,
    quantity: Annotated[str | None, Query(description="Only this quantity")] = None,
) -> ZoneLatestList:
    settings: ApiSettings = request.app.state.settings
    zone = await _known_zone(conn, zone_id)
    qid = None
    if quantity is not None:
        entry, qid, _, _ = await resolve_quantity(conn, quantity, None, settings.city_timezone)
        _across_devices(entry)
    rows = await queries.zone_latest(conn, zone_id, qid)
    grouped: dict[tuple[str, str, str], dict[int, list[Any]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in rows:
        known = QUANTITIES.get(r["key"])
        if known is not None and known.generic:  # its unit depends on the device: not combined
            continue
        grouped[(r["key"], r["unit"], r["aggregation"])][r["device_id"]].append(r)
    items = []
    for (key, unit, kind_name), devices in grouped.items():
        kind = Aggregation(kind_name)
        each = [_device_value(kind, readings) for readings in devices.values()]
        values = [v for v in each if v is not None]  # directions of a device may cancel
        times = [r["time"] for readings in devices.values() for r in readings]
        all_values = [r["value"] for readings in devices.values() for r in readings]
        items.append(
            ZoneLatest(
                quantity=key,
                unit=unit,
                aggregation=kind_name,
                value=aggregation.combine(kind, values) if values else None,
                min=min(all_values),
                max=max(all_values),
                devices=len(devices),
                oldest=min(times),
                newest=max(times),
            )
        )
    return ZoneLatestList(zone_id=zone_id, zone=zone["name"], items=items)


def _device_value(kind: Aggregation, readings: list[Any]) -> float | None:
    """One device's latest values (one per sensor) as one value of its aggregation kind."""
    if kind is Aggregation.STATE:
        return float(max(readings, key=lambda r: (r["time"], r["sensor"]))["value"])
    return aggregation.combine(kind, [float(r["value"]) for r in readings])
