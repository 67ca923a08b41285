"""Zone membership kept by the database (migrations/0060) agrees with shapely's `covers`."""

from __future__ import annotations

import asyncio
import itertools
import random

import asyncpg
import orjson
import shapely
from shapely.geometry import shape

# A concave outline with a hole, and a MultiPolygon of a triangle and a slanted quadrilateral.
COMB = {
    "type": "Polygon",
    "coordinates": [
        [[0, 0], [4, 0], [4, 3], [3, 3], [3, 1], [2, 1], [2, 3], [0, 3], [0, 0]],
        [[0.5, 0.5], [1.5, 0.5], [1.5, 2.5], [0.5, 2.5], [0.5, 0.5]],
    ],
}
PIECES = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[5, 0], [7, 0], [6, 2], [5, 0]]],
        [[[5, 2.5], [7.5, 2], [8, 3], [5.5, 3.5], [5, 2.5]]],
    ],
}


def _points(rng: random.Random) -> list[tuple[float, float]]:
    """Random points over both zones, every vertex, and points on the axis-parallel edges."""
    points = [(rng.uniform(-0.5, 8.5), rng.uniform(-0.5, 4)) for _ in range(1500)]
    for geometry in (COMB, PIECES):
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry[
            "coordinates"]  # fmt: skip
        for rings in polygons:
            for ring in rings:
                for (x1, y1), (x2, y2) in itertools.pairwise(ring):
                    points.append((float(x1), float(y1)))
                    if x1 == x2 or y1 == y2:
                        points.append(((x1 + x2) / 2, (y1 + y2) / 2))
    return points


async def _membership(url: str, points: list[tuple[float, float]]) -> dict[str, set[int]]:
    conn = await asyncpg.connect(url)
    try:
        for name, geometry in (("comb", COMB), ("pieces", PIECES)):
            min_lon, min_lat, max_lon, max_lat = shape(geometry).bounds
            await conn.execute(
                "INSERT INTO zones (name, geometry, min_lon, min_lat, max_lon, max_lat) "
                "VALUES ($1, $2::jsonb, $3, $4, $5, $6)",
                name, orjson.dumps(geometry).decode(), min_lon, min_lat, max_lon, max_lat,
            )  # fmt: skip
        # Zones first, devices after: the device trigger places them. Then an update that
        # leaves the geometry as it was re-places nothing, and place_zone (what the zone
        # trigger runs) gives the same answer as the device trigger.
        await conn.execute(
            "INSERT INTO devices (dev_eui, longitude, latitude) "
            "SELECT upper(lpad(to_hex(i), 16, '0')), lon, lat "
            "FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS p(lon, lat, i)",
            [p[0] for p in points],
            [p[1] for p in points],
        )
        rows = await conn.fetch(
            "SELECT z.name, ('x' || d.dev_eui)::bit(64)::bigint - 1 AS point "
            "FROM zone_members m JOIN zones z ON z.id = m.zone_id "
            "JOIN devices d ON d.id = m.device_id"
        )
        by_device: dict[str, set[int]] = {"comb": set(), "pieces": set()}
        for r in rows:
            by_device[r["name"]].add(int(r["point"]))
        await conn.execute("DELETE FROM zone_members")
        await conn.execute("UPDATE zones SET geometry = geometry || '{}'::jsonb")  # unchanged
        assert await conn.fetchval("SELECT count(*) FROM zone_members") == 0
        await conn.execute("SELECT place_zone(id) FROM zones")
        again = await conn.fetchval("SELECT count(*) FROM zone_members")
        assert again == sum(len(v) for v in by_device.values())
        return by_device
    finally:
        await conn.close()


def test_membership_is_shapely_covers_boundary_included(db_url: str) -> None:
    points = _points(random.Random(14))
    found = asyncio.run(_membership(db_url, points))
    for name, geometry in (("comb", COMB), ("pieces", PIECES)):
        mask = shapely.covers(shape(geometry), shapely.points(points))
        expected = {i for i, inside in enumerate(mask) if inside}
        assert found[name] == expected, name
    # The sample reaches every case: inside, in the hole, outside, on the boundary.
    assert len(found["comb"]) > 100 and len(found["pieces"]) > 100
