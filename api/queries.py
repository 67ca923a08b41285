"""The SQL the API runs, one named function per question."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

_DEVICE_COLUMNS = """
    d.dev_eui, d.name, d.application_id, d.model, d.device_profile, d.decoder, d.profile,
    d.latitude,
    d.longitude, d.first_seen_at, d.last_seen_at, d.joined_at, d.battery_level, d.battery_at,
    newest.decoder AS decoded_by, newest.decoder_version AS decoded_by_version,
    newest.state::text AS state, d.operator_set, d.network_latitude, d.network_longitude,
    d.location_source, d.location_at
"""

# The decoder of the device's newest uplink: null there means "no decoder" for this device.
_NEWEST_UPLINK = """
LEFT JOIN LATERAL (
    SELECT u.decoder, u.decoder_version, u.state FROM uplinks u
    WHERE u.device_id = d.id ORDER BY u.received_at DESC LIMIT 1
) newest ON true
"""


async def list_devices(conn: asyncpg.Connection, after: str | None, limit: int) -> list[Any]:
    return list(
        await conn.fetch(
            f"SELECT {_DEVICE_COLUMNS} FROM devices d {_NEWEST_UPLINK}"
            "WHERE $1::text IS NULL OR d.dev_eui > $1 ORDER BY d.dev_eui LIMIT $2",
            after,
            limit,
        )
    )


async def get_device(conn: asyncpg.Connection, dev_eui: str) -> Any:
    return await conn.fetchrow(
        f"SELECT d.id, {_DEVICE_COLUMNS} FROM devices d {_NEWEST_UPLINK} WHERE d.dev_eui = $1",
        dev_eui,
    )


async def device_latest(conn: asyncpg.Connection, device_id: int) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT q.key AS quantity, q.unit, l.sensor, l.time, l.value "
            "FROM latest l JOIN quantities q ON q.id = l.quantity_id "
            "WHERE l.device_id = $1 ORDER BY q.key, l.sensor",
            device_id,
        )
    )


async def quantity_id(conn: asyncpg.Connection, key: str) -> int | None:
    value = await conn.fetchval("SELECT id FROM quantities WHERE key = $1", key)
    return int(value) if value is not None else None


async def storage_engine(conn: asyncpg.Connection) -> str:
    timescale = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
    )
    return "timescaledb" if timescale else "postgresql"


async def quantity_and_city_timezone(conn: asyncpg.Connection, key: str) -> tuple[int | None, str]:
    """The quantity's id and the time zone the daily rollups follow, in one round trip."""
    row = await conn.fetchrow(
        "SELECT (SELECT id FROM quantities WHERE key = $1) AS id, "
        "(SELECT timezone FROM rollup_config) AS timezone",
        key,
    )
    return (int(row["id"]) if row["id"] is not None else None), str(row["timezone"])


async def check_timezone(conn: asyncpg.Connection, timezone: str) -> bool:
    """Whether PostgreSQL knows the time zone too (its tz database may differ from Python's)."""
    try:
        await conn.fetchval("SELECT now() AT TIME ZONE $1::text", timezone)
    except asyncpg.exceptions.InvalidParameterValueError:
        return False
    return True


async def series_sensors(conn: asyncpg.Connection, device_id: int, quantity_id: int) -> list[int]:
    """The sensors a device has measured a quantity with: a loose index scan of the key."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE s(sensor) AS (
            SELECT min(sensor) FROM measurements WHERE device_id = $1 AND quantity_id = $2
            UNION ALL
            SELECT (SELECT min(sensor) FROM measurements
                    WHERE device_id = $1 AND quantity_id = $2 AND sensor > s.sensor)
            FROM s WHERE s.sensor IS NOT NULL
        )
        SELECT sensor FROM s WHERE sensor IS NOT NULL
        """,
        device_id,
        quantity_id,
    )
    return [int(r["sensor"]) for r in rows]


async def raw_page(
    conn: asyncpg.Connection,
    device_id: int,
    quantity_id: int,
    start: datetime,
    end: datetime,
    sensors: list[int],
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Any]:
    """Raw points in (time, sensor) order after the key `after`: per sensor an index range scan
    of the primary key, merged, so each page costs its own rows whatever its offset."""
    return list(
        await conn.fetch(
            """
            SELECT m.time, s.sensor, m.value
            FROM unnest($5::smallint[]) AS s(sensor)
            CROSS JOIN LATERAL (
                SELECT time, value FROM measurements
                WHERE device_id = $1 AND quantity_id = $2 AND sensor = s.sensor
                  AND time >= greatest($3::timestamptz, $6::timestamptz) AND time < $4
                  AND ($6::timestamptz IS NULL OR time > $6 OR s.sensor > $7::smallint)
                ORDER BY time LIMIT $8
            ) m
            ORDER BY m.time, s.sensor LIMIT $8
            """,
            device_id,
            quantity_id,
            start,
            end,
            sensors,
            *(after or (None, None)),
            limit,
        )
    )


async def device_zones(conn: asyncpg.Connection, device_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT zone_id FROM zone_members WHERE device_id = $1 ORDER BY zone_id", device_id
    )
    return [int(r["zone_id"]) for r in rows]


async def update_device(conn: asyncpg.Connection, device_id: int, fields: dict[str, Any]) -> None:
    """Set an operator's name and/or location (`latitude`, `longitude`) of one device, which
    ingest then never overwrites (migrations/0070); None hands the field back to the network:
    it shows the network's name or position again. `profile` is set as given."""
    if "profile" in fields:
        await conn.execute(
            "UPDATE devices SET profile = $2 WHERE id = $1", device_id, fields["profile"]
        )
    if "name" in fields:
        await conn.execute(
            "UPDATE devices SET name = COALESCE($2, network_name), operator_set = CASE "
            "WHEN $2::text IS NULL THEN array_remove(operator_set, 'name') "
            "ELSE array_append(array_remove(operator_set, 'name'), 'name') END WHERE id = $1",
            device_id,
            fields["name"],
        )
    if "latitude" in fields:
        await conn.execute(
            "UPDATE devices SET "
            "latitude = CASE WHEN $2::float8 IS NULL THEN network_latitude ELSE $2 END, "
            "longitude = CASE WHEN $2::float8 IS NULL THEN network_longitude ELSE $3 END, "
            "operator_set = CASE WHEN $2::float8 IS NULL "
            "THEN array_remove(operator_set, 'location') "
            "ELSE array_append(array_remove(operator_set, 'location'), 'location') END "
            "WHERE id = $1",
            device_id,
            fields["latitude"],
            fields["longitude"],
        )


async def profile_exists(conn: asyncpg.Connection, name: str) -> bool:
    found = await conn.fetchval("SELECT true FROM device_profiles WHERE name = $1", name)
    return found is True


async def profile_names(conn: asyncpg.Connection) -> list[str]:
    return [r["name"] for r in await conn.fetch("SELECT name FROM device_profiles ORDER BY name")]


_LATEST_SQL = """
SELECT d.dev_eui, d.name, d.latitude, d.longitude, l.sensor, l.time, l.value
FROM latest l JOIN devices d ON d.id = l.device_id
WHERE l.quantity_id = $1
  AND ($2::int IS NULL OR l.device_id IN (SELECT device_id FROM zone_members WHERE zone_id = $2))
  AND ($3::float8 IS NULL OR (d.longitude BETWEEN $3 AND $5 AND d.latitude BETWEEN $4 AND $6))
  AND ($7::text IS NULL OR (d.dev_eui, l.sensor) > ($7, $8::smallint))
ORDER BY d.dev_eui, l.sensor
"""


async def latest_page(
    conn: asyncpg.Connection,
    quantity_id: int,
    zone_id: int | None,
    bbox: tuple[float, float, float, float] | None,
    after: tuple[str, int] | None,
    limit: int,
) -> list[Any]:
    return list(
        await conn.fetch(
            _LATEST_SQL + " LIMIT $9",
            quantity_id,
            zone_id,
            *(bbox or (None, None, None, None)),
            *(after or (None, None)),
            limit,
        )
    )


_ZONE = """
SELECT z.id, z.name, z.feature_id, z.properties, z.geometry, z.min_lon, z.min_lat, z.max_lon,
       z.max_lat, (SELECT count(*) FROM zone_members m WHERE m.zone_id = z.id) AS devices
FROM zones z
"""


async def zone(conn: asyncpg.Connection, zone_id: int) -> Any:
    return await conn.fetchrow(_ZONE + "WHERE z.id = $1", zone_id)


async def zones_page(conn: asyncpg.Connection, after: int | None, limit: int) -> list[Any]:
    return list(
        await conn.fetch(
            _ZONE + "WHERE $1::int IS NULL OR z.id > $1 ORDER BY z.id LIMIT $2", after, limit
        )
    )


async def delete_zone(conn: asyncpg.Connection, zone_id: int) -> bool:
    return await conn.fetchval("DELETE FROM zones WHERE id = $1 RETURNING true", zone_id) is True


async def zone_latest(conn: asyncpg.Connection, zone_id: int, quantity_id: int | None) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT q.key, q.unit, q.aggregation, l.device_id, l.sensor, l.time, l.value "
            "FROM zone_members m JOIN latest l ON l.device_id = m.device_id "
            "JOIN quantities q ON q.id = l.quantity_id "
            "WHERE m.zone_id = $1 AND ($2::smallint IS NULL OR l.quantity_id = $2) "
            "ORDER BY q.key, l.device_id, l.time, l.sensor",
            zone_id,
            quantity_id,
        )
    )


async def zone_dev_euis(conn: asyncpg.Connection, zone_id: int) -> frozenset[str]:
    rows = await conn.fetch(
        "SELECT d.dev_eui FROM zone_members m JOIN devices d ON d.id = m.device_id "
        "WHERE m.zone_id = $1",
        zone_id,
    )
    return frozenset(r["dev_eui"] for r in rows)
