"""Zones from GeoJSON, stored as upserts.

Which devices lie in a zone (its polygon covers their location, boundary included) is kept by
the database (migrations/0060): triggers place a device when its location changes, whoever
changes it (ingest, `PATCH /v1/devices/{dev_eui}`), and re-place the devices of a zone whose
geometry changes. Reads only read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from api.errors import BadParameterError

MAX_FEATURES = 1000
MAX_POSITIONS = 250_000


@dataclass(frozen=True, slots=True)
class ZoneShape:
    name: str
    properties: dict[str, Any]
    geometry: BaseGeometry
    feature_id: str | None = None  # the Feature's `id`: the zone it replaces on a new upload


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
        return _distinct([_feature(f, i, name_property) for i, f in enumerate(features)])
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
    feature_id = feature.get("id")
    if feature_id is not None and (
        isinstance(feature_id, bool) or not isinstance(feature_id, str | int | float)
    ):
        raise BadParameterError(f"{where}: 'id' must be a string or a number (RFC 7946 3.2)")
    return ZoneShape(
        label.strip(),
        properties,
        _geometry(feature.get("geometry"), where),
        None if feature_id is None else str(feature_id),
    )


def _distinct(shapes: list[ZoneShape]) -> list[ZoneShape]:
    """One upload names each zone once: by its feature id, else by its name."""
    seen: set[tuple[str, str]] = set()
    for shape in shapes:
        key = ("id", shape.feature_id) if shape.feature_id is not None else ("name", shape.name)
        if key in seen:
            raise BadParameterError(
                f"two features have the {key[0]} {key[1]!r}; each zone must appear once"
            )
        seen.add(key)
    return shapes


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


# A zone is replaced by the next upload with its feature id, or without one, with its name; the
# triggers of migrations/0060 re-place its devices when the geometry changed.
_UPSERT = """
INSERT INTO zones (name, properties, geometry, min_lon, min_lat, max_lon, max_lat, feature_id)
VALUES ($1, $2::jsonb, $3::jsonb, $4, $5, $6, $7, $8)
ON CONFLICT {target} DO UPDATE SET
    name = EXCLUDED.name, properties = EXCLUDED.properties, geometry = EXCLUDED.geometry,
    min_lon = EXCLUDED.min_lon, min_lat = EXCLUDED.min_lat,
    max_lon = EXCLUDED.max_lon, max_lat = EXCLUDED.max_lat
RETURNING id
"""
_BY_FEATURE_ID = _UPSERT.format(target="(feature_id)")
_BY_NAME = _UPSERT.format(target="(name) WHERE feature_id IS NULL")


async def upsert(conn: asyncpg.Connection, zones: list[ZoneShape]) -> list[int]:
    """Store zones, replacing those uploaded before, in one transaction; returns their ids."""
    ids = []
    async with conn.transaction():
        for zone in zones:
            min_lon, min_lat, max_lon, max_lat = zone.geometry.bounds
            zone_id = await conn.fetchval(
                _BY_NAME if zone.feature_id is None else _BY_FEATURE_ID,
                zone.name,
                orjson.dumps(zone.properties).decode(),
                orjson.dumps(mapping(zone.geometry)).decode(),
                min_lon,
                min_lat,
                max_lon,
                max_lat,
                zone.feature_id,
            )
            ids.append(int(zone_id))
    return ids
