"""Writing measurements the way ingest does (through store_measurements) for API tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import asyncpg


async def _store(url: str, dev_eui: str, key: str, points: Sequence[tuple]) -> int:
    conn = await asyncpg.connect(url)
    try:
        device_id = await conn.fetchval(
            "INSERT INTO devices (dev_eui) VALUES ($1) ON CONFLICT (dev_eui) DO UPDATE "
            "SET dev_eui = EXCLUDED.dev_eui RETURNING id",
            dev_eui,
        )
        quantity_id = await conn.fetchval("SELECT id FROM quantities WHERE key = $1", key)
        sensors = [p[2] if len(p) > 2 else 0 for p in points]
        stored = await conn.fetchval(
            "SELECT store_measurements($1::int[], $2::smallint[], $3::smallint[], "
            "$4::timestamptz[], $5::float8[])",
            [device_id] * len(points),
            [quantity_id] * len(points),
            sensors,
            [p[0] for p in points],
            [float(p[1]) for p in points],
        )
        return int(stored)
    finally:
        await conn.close()


def store(url: str, dev_eui: str, key: str, points: Sequence[tuple]) -> int:
    """Store (time, value[, sensor]) points of one device; returns how many were new."""
    return asyncio.run(_store(url, dev_eui, key, points))


async def _execute(url: str, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def execute(url: str, sql: str, *args: object) -> None:
    asyncio.run(_execute(url, sql, *args))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
