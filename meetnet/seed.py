"""Plausible history for demos and benchmarks: devices around Utrecht with air temperature, noise
and people counts every few minutes, loaded with binary COPY and rolled up.

Rows are built as numpy records in PostgreSQL's binary COPY format (one 46-byte row per
measurement), so generating them costs far less than the database's work of storing them. Each
week is copied while the previous one is rolled up, on two connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np

logger = logging.getLogger(__name__)

QUANTITIES = ("air_temperature", "noise_laeq", "people_count")
EUI_PREFIX = "5EED"  # seeded devices: 5EED followed by the device number in hex
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_WINDOW = timedelta(days=7)
_CHUNK_BYTES = 8 << 20

# PostgreSQL binary COPY (docs: "COPY ... Binary Format"): signature, flags, extension length,
# then per row a field count and each field as int32 length + big-endian value; -1 ends.
_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
_ROW = np.dtype(
    [
        ("fields", ">i2"),  # 5
        ("device_len", ">i4"),  # 4
        ("device_id", ">i4"),  # integer
        ("quantity_len", ">i4"),  # 2
        ("quantity_id", ">i2"),  # smallint
        ("sensor_len", ">i4"),  # 2
        ("sensor", ">i2"),  # smallint
        ("time_len", ">i4"),  # 8
        ("time", ">i8"),  # timestamptz: microseconds since 2000-01-01 UTC
        ("value_len", ">i4"),  # 8
        ("value", ">f8"),  # double precision
    ]
)


@dataclass(frozen=True, slots=True)
class SeedResult:
    devices: int
    measurements: int
    start: datetime
    end: datetime
    seconds: float


def _values(
    rng: np.random.Generator, key: str, times: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """Values of one quantity, shape (devices, times), following a day's rhythm."""
    hours = (times % 86_400_000_000) / 3_600_000_000  # UTC hour of day
    day = np.clip(np.sin((hours - 6) / 24 * 2 * np.pi) * 1.2, 0, 1)  # 0 at night, 1 at noon
    shape = (len(offsets), len(times))
    if key == "air_temperature":
        season = 4 * np.sin((times / 86_400_000_000 / 365.25 - 0.3) * 2 * np.pi)
        base = 10 + season + 6 * day + offsets[:, None] + rng.normal(0, 0.3, shape)
        return np.asarray(np.round(base, 1))
    if key == "noise_laeq":
        return np.asarray(np.round(42 + 16 * day + offsets[:, None] + rng.normal(0, 3, shape), 1))
    return rng.poisson(1 + 25 * day, shape).astype(np.float64)


def _window_rows(
    rng: np.random.Generator,
    device_ids: np.ndarray,
    quantity_ids: list[int],
    times: np.ndarray,
    offsets: np.ndarray,
) -> np.ndarray:
    n_dev, n_t = len(device_ids), len(times)
    rows = np.empty(n_dev * len(quantity_ids) * n_t, dtype=_ROW)
    rows["fields"] = 5
    rows["device_len"], rows["quantity_len"], rows["sensor_len"] = 4, 2, 2
    rows["time_len"], rows["value_len"] = 8, 8
    rows["sensor"] = 0
    view = rows.reshape(n_dev, len(quantity_ids), n_t)  # device-major: the primary key's order
    for qi, (key, qid) in enumerate(zip(QUANTITIES, quantity_ids, strict=True)):
        part = view[:, qi, :]
        part["device_id"] = device_ids[:, None]
        part["quantity_id"] = qid
        part["time"] = times[None, :]
        part["value"] = _values(rng, key, times, offsets)
    return rows


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for at in range(0, len(view), _CHUNK_BYTES):
        yield bytes(view[at : at + _CHUNK_BYTES])


async def seed(
    dsn: str, devices: int, days: int, interval_min: int, seed: int = 1, end: datetime | None = None
) -> SeedResult:
    """Replace the history of `devices` seeded devices by `days` days at `interval_min` minutes."""
    started = time.monotonic()
    rng = np.random.default_rng(seed)
    step = timedelta(minutes=interval_min)
    end = end or datetime.now(UTC)
    end = _PG_EPOCH + ((end - _PG_EPOCH) // step) * step
    start = end - timedelta(days=days)
    euis = [f"{EUI_PREFIX}{i:012X}" for i in range(devices)]
    lats = rng.uniform(52.04, 52.12, devices)
    lons = rng.uniform(5.04, 5.20, devices)
    conn = await asyncpg.connect(dsn)
    rollup_conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "INSERT INTO devices AS d (dev_eui, name, model, latitude, longitude, first_seen_at, "
            "last_seen_at) SELECT e, 'seed ' || e, 'meetnet/seed', lat, lon, $4, $5 "
            "FROM unnest($1::text[], $2::float8[], $3::float8[]) AS s(e, lat, lon) "
            "ON CONFLICT (dev_eui) DO UPDATE SET latitude = EXCLUDED.latitude, "
            "longitude = EXCLUDED.longitude, first_seen_at = EXCLUDED.first_seen_at, "
            "last_seen_at = EXCLUDED.last_seen_at RETURNING id, dev_eui",
            euis,
            lats.tolist(),
            lons.tolist(),
            start,
            end - step,
        )
        by_eui = {r["dev_eui"]: r["id"] for r in rows}
        device_ids = np.array([by_eui[e] for e in euis], dtype=np.int32)
        qrows = await conn.fetch(
            "SELECT key, id FROM quantities WHERE key = ANY($1::text[])", list(QUANTITIES)
        )
        quantity_ids = [dict((r["key"], r["id"]) for r in qrows)[k] for k in QUANTITIES]
        ids = device_ids.tolist()
        # Queued measurements of these devices first, or a later fold would add them to the
        # latest values and rollups rebuilt here after their rows were deleted.
        await conn.execute("SELECT fold_rollups()")
        for table in ("measurements", "latest", "rollup_hourly", "rollup_daily"):
            await conn.execute(f"DELETE FROM {table} WHERE device_id = ANY($1::int[])", ids)
        offsets = rng.normal(0, 1.0, devices)
        total = 0
        rollup: asyncio.Task[None] | None = None
        window_start = start
        while window_start < end:
            window_end = min(window_start + _WINDOW, end)
            first = (window_start - _PG_EPOCH) // timedelta(microseconds=1)
            count = (window_end - window_start) // step
            times = first + np.arange(count, dtype=np.int64) * (step // timedelta(microseconds=1))
            data = _window_rows(rng, device_ids, quantity_ids, times, offsets)
            payload = _HEADER + data.tobytes() + _TRAILER
            await conn.copy_to_table(
                "measurements",
                source=_chunks(payload),
                columns=["device_id", "quantity_id", "sensor", "time", "value"],
                format="binary",
            )
            total += len(data)
            if rollup is not None:
                await rollup
            rollup = asyncio.create_task(
                _rebuild(rollup_conn, window_start, window_end, total, started)
            )
            window_start = window_end
        if rollup is not None:
            await rollup
        await conn.execute(
            "INSERT INTO latest AS l (device_id, quantity_id, sensor, time, value) "
            "SELECT DISTINCT ON (device_id, quantity_id, sensor) device_id, quantity_id, sensor, "
            "time, value FROM measurements WHERE device_id = ANY($1::int[]) AND time >= $2 "
            "ORDER BY device_id, quantity_id, sensor, time DESC "
            "ON CONFLICT (device_id, quantity_id, sensor) DO UPDATE "
            "SET time = EXCLUDED.time, value = EXCLUDED.value WHERE l.time < EXCLUDED.time",
            ids,
            end - 2 * step,
        )
        # Each device's days side by side, as zone-year queries read them (bulk loading wrote
        # them week by week across all devices).
        await conn.execute("CLUSTER rollup_daily USING rollup_daily_pkey")
        for table in ("measurements", "rollup_hourly", "rollup_daily", "latest", "devices"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
        await rollup_conn.close()
    return SeedResult(devices, total, start, end, time.monotonic() - started)


async def _rebuild(
    conn: asyncpg.Connection, start: datetime, end: datetime, total: int, started: float
) -> None:
    await conn.execute("SELECT rebuild_rollups($1, $2)", start, end)
    logger.info(
        "seeded up to %s: %d measurements in %.0f s", end.date(), total, time.monotonic() - started
    )
