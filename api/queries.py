"""The SQL the API runs, one named function per question."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

_DEVICE_COLUMNS = """
    d.dev_eui, d.name, d.application_id, d.model, d.decoder, d.latitude, d.longitude,
    d.first_seen_at, d.last_seen_at
"""


async def list_devices(conn: asyncpg.Connection, after: str | None, limit: int) -> list[Any]:
    return list(
        await conn.fetch(
            f"SELECT {_DEVICE_COLUMNS} FROM devices d "
            "WHERE $1::text IS NULL OR d.dev_eui > $1 ORDER BY d.dev_eui LIMIT $2",
            after,
            limit,
        )
    )


async def get_device(conn: asyncpg.Connection, dev_eui: str) -> Any:
    return await conn.fetchrow(
        f"SELECT d.id, {_DEVICE_COLUMNS} FROM devices d WHERE d.dev_eui = $1", dev_eui
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


async def raw_series(
    conn: asyncpg.Connection,
    device_id: int,
    quantity_id: int,
    start: datetime,
    end: datetime,
    sensor: int | None,
    limit: int,
) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT time, sensor, value FROM measurements "
            "WHERE device_id = $1 AND quantity_id = $2 AND time >= $3 AND time < $4 "
            "AND ($5::smallint IS NULL OR sensor = $5) "
            "ORDER BY time, sensor LIMIT $6",
            device_id,
            quantity_id,
            start,
            end,
            sensor,
            limit,
        )
    )


async def bucketed_series(
    conn: asyncpg.Connection,
    device_id: int,
    quantity_id: int,
    start: datetime,
    end: datetime,
    sensor: int | None,
    bucket: timedelta,
) -> list[Any]:
    # date_bin (PostgreSQL 14+) with a fixed origin gives the same buckets on every server.
    return list(
        await conn.fetch(
            "SELECT date_bin($6::interval, time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS time, "
            "sensor, avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS count "
            "FROM measurements "
            "WHERE device_id = $1 AND quantity_id = $2 AND time >= $3 AND time < $4 "
            "AND ($5::smallint IS NULL OR sensor = $5) "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            device_id,
            quantity_id,
            start,
            end,
            sensor,
            bucket,
        )
    )


async def latest_for_quantity(conn: asyncpg.Connection, quantity_id: int) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT d.dev_eui, d.name, d.latitude, d.longitude, l.sensor, l.time, l.value "
            "FROM latest l JOIN devices d ON d.id = l.device_id "
            "WHERE l.quantity_id = $1 ORDER BY d.dev_eui, l.sensor",
            quantity_id,
        )
    )


async def storage_engine(conn: asyncpg.Connection) -> str:
    timescale = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
    )
    return "timescaledb" if timescale else "postgresql"
