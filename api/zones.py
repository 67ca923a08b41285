"""Zones from GeoJSON, and which devices lie in them.

A device is in a zone when the zone's polygon covers its location, boundary included: a device
exactly on the shared border of two districts is in both, never in neither. Membership is kept in
`zone_members` and recomputed for a device whenever its location differs from the one recorded
in `zone_placements`, so locations changed by ingest (network-server locations) or by
`PATCH /v1/devices/{dev_eui}` are picked up before any zone answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from api.errors import BadParameterError

MAX_FEATURES = 1000
MAX_POSITIONS = 250_000
# pg_advisory_xact_lock key serialising membership updates ("zones" as an integer).
_LOCK_KEY = int.from_bytes(b"zones", "big")


@dataclass(frozen=True, slots=True)
class ZoneShape:
    name: str
    properties: dict[str, Any]
    geometry: BaseGeometry


def parse(document: Any, name: str | None, name_property: str) -> list[ZoneShape]:
    """Zones of a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection (RFC 7946)."""
    if not isinstance(document, dict):
        raise BadParameterError("the body must be a GeoJSON object")
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or not features:
            raise BadParameterError("a FeatureCollection needs a non-empty list 'features'")
        if len(features) > MAX_FEATURES:
            raise BadParameterError(
                f"{len(features)} features is more than the limit of {MAX_FEATURES} per upload"
            )
        if name is not None:
            raise BadParameterError("'name' is for a single geometry; features carry their own")
        return [_feature(f, i, name_property) for i, f in enumerate(features)]
    if kind == "Feature":
        return [_feature(document, 0, name_property, name)]
    if kind in ("Polygon", "MultiPolygon"):
        if not name:
            raise BadParameterError("a bare geometry needs the query parameter 'name'")
        return [ZoneShape(name, {}, _geometry(document, "the geometry"))]
    raise BadParameterError(
        "the body must be a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection, "
        f"not type {kind!r}"
    )


def _feature(feature: Any, index: int, name_property: str, name: str | None = None) -> ZoneShape:
    where = f"feature {index}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise BadParameterError(f"{where} must be a GeoJSON object of type 'Feature'")
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        raise BadParameterError(f"{where}: 'properties' must be an object or null")
    label = name or properties.get(name_property)
    if not isinstance(label, str) or not label.strip():
        raise BadParameterError(
            f"{where} has no text property {name_property!r} to name the zone; "
            "choose another with name_property="
        )
    return ZoneShape(label.strip(), properties, _geometry(feature.get("geometry"), where))


def _geometry(geometry: Any, where: str) -> BaseGeometry:
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadParameterError(f"{where} must have a Polygon or MultiPolygon geometry")
    coordinates = geometry.get("coordinates")
    if geometry["type"] == "Polygon":
        result: BaseGeometry = _polygon(coordinates, where)
    else:
        if not isinstance(coordinates, list) or not coordinates:
            raise BadParameterError(f"{where}: MultiPolygon coordinates must be a list of polygons")
        result = MultiPolygon(
            [_polygon(p, f"{where} polygon {i}") for i, p in enumerate(coordinates)]
        )
    if not result.is_valid:
        reason = shapely.is_valid_reason(result)
        raise BadParameterError(f"{where} is not a valid polygon ({reason}); repair it first")
    return result


def _polygon(coordinates: Any, where: str) -> Polygon:
    if not isinstance(coordinates, list) or not coordinates:
        raise BadParameterError(f"{where}: Polygon coordinates must be a list of linear rings")
    rings = [_ring(r, f"{where} ring {i}") for i, r in enumerate(coordinates)]
    if sum(len(r) for r in rings) > MAX_POSITIONS:
        raise BadParameterError(f"{where} has more than {MAX_POSITIONS} positions")
    return Polygon(rings[0], rings[1:])


def _ring(ring: Any, where: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list) or len(ring) < 4:
        raise BadParameterError(f"{where} must be a list of at least 4 positions")
    points = []
    for position in ring:
        if (
            not isinstance(position, list)
            or len(position) not in (2, 3)
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in position)
            or not all(math.isfinite(c) for c in position)
        ):
            raise BadParameterError(f"{where}: each position must be [longitude, latitude]")
        lon, lat = float(position[0]), float(position[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise BadParameterError(
                f"{where}: position [{lon}, {lat}] is outside longitude -180..180, "
                "latitude -90..90 (GeoJSON puts longitude first)"
            )
        points.append((lon, lat))
    if points[0] != points[-1]:
        raise BadParameterError(f"{where} must end with its first position (a closed ring)")
    return points


async def insert(conn: asyncpg.Connection, zones: list[ZoneShape]) -> list[int]:
    """Store zones and place every located device in them, in one transaction."""
    ids = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        devices = await conn.fetch(
            "SELECT id, latitude, longitude FROM devices WHERE latitude IS NOT NULL "
            "AND longitude IS NOT NULL"
        )
        for zone in zones:
            min_lon, min_lat, max_lon, max_lat = zone.geometry.bounds
            zone_id = await conn.fetchval(
                "INSERT INTO zones (name, properties, geometry, min_lon, min_lat, max_lon, "
                "max_lat) VALUES ($1, $2::jsonb, $3::jsonb, $4, $5, $6, $7) RETURNING id",
                zone.name,
                orjson.dumps(zone.properties).decode(),
                orjson.dumps(mapping(zone.geometry)).decode(),
                min_lon,
                min_lat,
                max_lon,
                max_lat,
            )
            ids.append(int(zone_id))
            inside = _covered(zone.geometry, devices)
            await conn.execute(
                "INSERT INTO zone_members (zone_id, device_id) SELECT $1, unnest($2::int[])",
                zone_id,
                inside,
            )
    return ids


def _covered(geometry: BaseGeometry, devices: list[Any]) -> list[int]:
    if not devices:
        return []
    points = shapely.points([(d["longitude"], d["latitude"]) for d in devices])
    shapely.prepare(geometry)
    mask = shapely.covers(geometry, points)
    return [int(d["id"]) for d, inside in zip(devices, mask, strict=True) if inside]


async def place_moved_devices(conn: asyncpg.Connection) -> int:
    """Recompute membership of devices whose location changed since they were last placed."""
    stale_sql = (
        "SELECT d.id, d.latitude, d.longitude FROM devices d "
        "LEFT JOIN zone_placements p ON p.device_id = d.id "
        "WHERE p.device_id IS NULL "
        "OR (p.latitude, p.longitude) IS DISTINCT FROM (d.latitude, d.longitude)"
    )
    if not await conn.fetch(stale_sql + " LIMIT 1"):
        return 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        stale = await conn.fetch(stale_sql)
        if not stale:
            return 0
        zones = await conn.fetch("SELECT id, geometry FROM zones")
        located = [d for d in stale if d["latitude"] is not None and d["longitude"] is not None]
        pairs: list[tuple[int, int]] = []
        for zone in zones:
            geometry = shape(orjson.loads(zone["geometry"]))
            pairs += [(zone["id"], device_id) for device_id in _covered(geometry, located)]
        ids = [d["id"] for d in stale]
        await conn.execute("DELETE FROM zone_members WHERE device_id = ANY($1::int[])", ids)
        await conn.execute(
            "INSERT INTO zone_members (zone_id, device_id) "
            "SELECT * FROM unnest($1::int[], $2::int[])",
            [z for z, _ in pairs],
            [d for _, d in pairs],
        )
        await conn.execute(
            "INSERT INTO zone_placements (device_id, latitude, longitude) "
            "SELECT * FROM unnest($1::int[], $2::float8[], $3::float8[]) "
            "ON CONFLICT (device_id) DO UPDATE "
            "SET latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude",
            ids,
            [d["latitude"] for d in stale],
            [d["longitude"] for d in stale],
        )
    return len(stale)
