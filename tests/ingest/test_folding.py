"""Queued measurements folded into latest and the rollups (migrations/0040) against a real
PostgreSQL: the same rows as the synchronous store_measurements, under concurrency and rebuilds.

Values are quarters, and decibels multiples of 10 (so 10^(L/10) is a whole number): every sum is
exact in floating point whatever the order of addition, and rows can be compared exactly. One test
scatters unrounded values instead, and compares sums within a tolerance.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from decoders import Measurement
from ingest.folding import Folding
from ingest.metrics import Metrics
from ingest.model import DecodedUplink, Radio, Uplink
from ingest.writer import Writer
from meetnet.database import prepare

# Two Amsterdam DST changes: 2025-03-30 has 23 hours, 2025-10-26 has 25.
WINDOWS = (datetime(2025, 3, 29, 20, tzinfo=UTC), datetime(2025, 10, 25, 20, tzinfo=UTC))
QUANTITIES = (
    "air_temperature",
    "noise_laeq",
    "people_count",
    "parking_occupied",
    "wind_direction",
    "water_volume",
)

Point = tuple[str, int, datetime, float]  # quantity, sensor, time, value

_ARRAYS = "$1::int[], $2::smallint[], $3::smallint[], $4::timestamptz[], $5::float8[]"


def _value(rng: random.Random, quantity: str) -> float:
    if quantity == "noise_laeq":
        return 10.0 * rng.randint(3, 9)
    if quantity == "wind_direction":  # sines and cosines 0 or +-1: sums exact in any order
        return 90.0 * rng.randint(0, 3)
    return rng.randint(-40, 160) / 4


def _batches(seed: int, count: int) -> list[list[Point]]:
    """Batches in arrival order: out of time order, with re-deliveries of earlier points (same
    key, maybe another value: not stored again), over both DST days."""
    rng = random.Random(seed)
    sent: list[Point] = []
    batches = []
    for _ in range(count):
        batch = []
        for _ in range(rng.randint(1, 40)):
            if sent and rng.random() < 0.15:
                quantity, sensor, at, _ = rng.choice(sent)
            else:
                quantity, sensor = rng.choice(QUANTITIES), rng.randint(0, 1)
                at = rng.choice(WINDOWS) + timedelta(minutes=rng.randrange(3 * 24 * 60))
            point = (quantity, sensor, at, _value(rng, quantity))
            batch.append(point)
            sent.append(point)
        batches.append(batch)
    return batches


async def _device(conn: asyncpg.Connection, dev_eui: str) -> int:
    device_id: int = await conn.fetchval(
        "INSERT INTO devices (dev_eui) VALUES ($1) RETURNING id", dev_eui
    )
    return device_id


async def _call(
    conn: asyncpg.Connection, function: str, device_id: int, points: Sequence[Point]
) -> int:
    """store_measurements or queue_measurements of one device's points; returns how many new."""
    ids = {r["key"]: r["id"] for r in await conn.fetch("SELECT key, id FROM quantities")}
    stored = await conn.fetchval(
        f"SELECT {function}({_ARRAYS})",
        [device_id] * len(points),
        [ids[p[0]] for p in points],
        [p[1] for p in points],
        [p[2] for p in points],
        [p[3] for p in points],
    )
    return int(stored)


async def _derived(conn: asyncpg.Connection, device_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """A device's latest values and rollup rows, without the device id."""
    queries = {
        "latest": "SELECT quantity_id, sensor, time, value FROM latest",
        "hourly": "SELECT quantity_id, sensor, hour, count, sum, min, max, last_time, last_value, "
        "sum_sin, sum_cos, first_time, first_value FROM rollup_hourly",
        "daily": "SELECT quantity_id, sensor, day, count, sum, min, max, last_time, last_value, "
        "sum_sin, sum_cos, first_time, first_value FROM rollup_daily",
    }
    return {
        name: [
            tuple(r)
            for r in await conn.fetch(f"{sql} WHERE device_id = $1 ORDER BY 1, 2, 3", device_id)
        ]
        for name, sql in queries.items()
    }


async def _fold(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return int(await conn.fetchval("SELECT fold_rollups()"))


async def test_folding_queued_batches_gives_the_rows_storing_them_gives(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        stored_at_once = await _device(conn, "0000000000000A01")
        queued = await _device(conn, "0000000000000A02")
        batches = _batches(seed=3, count=60)
        stored = [await _call(conn, "store_measurements", stored_at_once, b) for b in batches]
        # The hot path inserts and queues only: nothing derived until a fold.
        assert await _call(conn, "queue_measurements", queued, batches[0]) == stored[0]
        count = "SELECT count(*) FROM measurements WHERE device_id = $1"
        assert await conn.fetchval(count, queued) == stored[0]
        assert await _derived(conn, queued) == {"latest": [], "hourly": [], "daily": []}
        folded = 0
        for i, batch in enumerate(batches[1:], 1):
            assert await _call(conn, "queue_measurements", queued, batch) == stored[i]
            if i % 7 == 0:  # several batches per fold, folded onto rows folded before
                folded += await _fold(conn)
        folded += await _fold(conn)
        assert folded == sum(stored) == await conn.fetchval(count, queued)
        assert await conn.fetchval("SELECT count(*) FROM rollup_queue") == 0
        expected = await _derived(conn, stored_at_once)
        assert await _derived(conn, queued) == expected
        # Local days of the city, DST days included, counted here from the raw rows.
        amsterdam = ZoneInfo("Europe/Amsterdam")
        days: Counter[tuple[int, int, date]] = Counter()
        for r in await conn.fetch(
            "SELECT quantity_id, sensor, time FROM measurements WHERE device_id = $1", queued
        ):
            days[(r["quantity_id"], r["sensor"], r["time"].astimezone(amsterdam).date())] += 1
        assert {r[:3]: r[3] for r in expected["daily"]} == days
        assert {date(2025, 3, 30), date(2025, 10, 26)} <= {day for _, _, day in days}
        # And the rollups recomputed from the raw rows are the same again.
        await conn.execute(
            "SELECT rebuild_rollups($1, $2)", WINDOWS[0], datetime(2026, 1, 1, tzinfo=UTC)
        )
        assert await _derived(conn, queued) == expected
    finally:
        await conn.close()


async def test_concurrent_folds_take_each_queued_batch_exactly_once(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        devices = [await _device(conn, f"00000000000B{n:04X}") for n in range(20)]
    rng = random.Random(11)
    batches = [(rng.choice(devices), batch) for batch in _batches(seed=5, count=400)]
    stored = 0

    async def produce(part: Sequence[tuple[int, list[Point]]]) -> None:
        nonlocal stored
        for device_id, batch in part:
            async with pool.acquire() as conn:
                stored += await _call(conn, "queue_measurements", device_id, batch)

    # Two folds starting together over many queued batches.
    await produce(batches[:200])
    folded = await asyncio.gather(_fold(pool), _fold(pool))
    assert sum(folded) == stored

    async def fold_until(index: int, done: Callable[[], bool]) -> None:
        while True:
            finished = done()
            folded[index] += await _fold(pool)
            if finished:
                return

    # Two folds looping while batches keep being committed.
    producing = asyncio.create_task(produce(batches[200:]))
    await asyncio.gather(fold_until(0, producing.done), fold_until(1, producing.done), producing)
    assert sum(folded) == stored
    assert await pool.fetchval("SELECT count(*) FROM rollup_queue") == 0
    # Every rollup row equal to the same aggregate computed from the raw rows.
    for table, column, bucket in (
        ("rollup_hourly", "hour", "date_trunc('hour', m.time, 'UTC')"),
        ("rollup_daily", "day", "(m.time AT TIME ZONE 'Europe/Amsterdam')::date"),
    ):
        differing = await pool.fetchval(
            f"""
            WITH raw AS (
                SELECT m.device_id, m.quantity_id, m.sensor, {bucket} AS bucket,
                       count(*) AS count, sum(rollup_addend(q.aggregation, m.value)) AS sum,
                       min(m.value) AS min, max(m.value) AS max, max(m.time) AS last_time,
                       (array_agg(m.value ORDER BY m.time DESC))[1] AS last_value,
                       sum(sind(m.value)) FILTER (WHERE q.aggregation = 'circular_mean'),
                       sum(cosd(m.value)) FILTER (WHERE q.aggregation = 'circular_mean'),
                       min(m.time), (array_agg(m.value ORDER BY m.time))[1]
                FROM measurements m JOIN quantities q ON q.id = m.quantity_id
                GROUP BY 1, 2, 3, 4
            ),
            rolled AS (
                SELECT device_id, quantity_id, sensor, {column} AS bucket,
                       count, sum, min, max, last_time, last_value,
                       sum_sin, sum_cos, first_time, first_value FROM {table}
            )
            SELECT count(*) FROM (
                (SELECT * FROM raw EXCEPT ALL SELECT * FROM rolled)
                UNION ALL (SELECT * FROM rolled EXCEPT ALL SELECT * FROM raw)
            ) AS d
            """
        )
        assert differing == 0, table
    assert await pool.fetchval("SELECT sum(count) FROM rollup_hourly") == stored
    assert await pool.fetchval("SELECT sum(count) FROM rollup_daily") == stored


# Kolkata is UTC+05:30: its days begin at 18:30 UTC, in the middle of a UTC hour.
KOLKATA_MIDNIGHT_HOURS = (17, 18, 19)
# One quantity of each aggregation kind that the rollups treat apart (energy_mean) or not.
KINDS = (
    "air_temperature",
    "noise_laeq",
    "people_count",
    "parking_occupied",
    "relative_humidity",
    "wind_direction",
    "water_volume",
)


def _scattered(seed: int) -> list[tuple[int, str, int, datetime, float]]:
    """Points of 3 devices (0-2) in arrival order: unrounded values, times to the microsecond
    around and across three Kolkata midnights, pairs a microsecond apart, and re-deliveries."""
    rng = random.Random(seed)
    start = datetime(2025, 3, 29, tzinfo=UTC)
    points: list[tuple[int, str, int, datetime, float]] = []
    for _ in range(900):
        roll = rng.random()
        if points and roll < 0.1:  # re-delivered with another value: not stored again
            device, quantity, sensor, at, _ = rng.choice(points)
        elif points and roll < 0.2:  # a microsecond after an earlier one: newer
            device, quantity, sensor, at, _ = rng.choice(points)
            at += timedelta(microseconds=1)
        else:
            device, quantity, sensor = rng.randrange(3), rng.choice(KINDS), rng.randrange(2)
            hour = rng.choice((*KOLKATA_MIDNIGHT_HOURS, 0, 23))
            at = start + timedelta(
                days=rng.randrange(3), hours=hour, microseconds=rng.randrange(3_600_000_000)
            )
        # Positive values, so that no sum is a difference of large terms (see the comparison).
        value = rng.uniform(30, 110) if quantity == "noise_laeq" else rng.uniform(0, 1000)
        points.append((device, quantity, sensor, at, value))
    return points


async def _all_derived(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "latest": [tuple(r) for r in await conn.fetch("SELECT * FROM latest ORDER BY 1, 2, 3")],
        "hourly": [
            tuple(r) for r in await conn.fetch("SELECT * FROM rollup_hourly ORDER BY 1, 2, 3, 4")
        ],
        "daily": [
            tuple(r) for r in await conn.fetch("SELECT * FROM rollup_daily ORDER BY 1, 2, 3, 4")
        ],
    }


@pytest.mark.parametrize("seed", [1, 2])
async def test_folding_in_uneven_batches_gives_the_rows_rebuilt_from_measurements(
    db_url: str, seed: int
) -> None:
    """Grouped once per (series, UTC hour, city day) and regrouped into hours, days and latest
    values, over batches and folds of any size, the fold agrees with the rollups computed from
    the raw rows, in a zone whose days begin within a UTC hour."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("SELECT set_city_timezone('Asia/Kolkata')")
        devices = [await _device(conn, f"0000000000000D{n:02X}") for n in range(3)]
        ids = {r["key"]: r["id"] for r in await conn.fetch("SELECT key, id FROM quantities")}
        points = _scattered(seed)
        rng = random.Random(seed)
        folds = folded = queued = stored = 0
        while queued < len(points):
            batch = points[queued : queued + rng.choice((1, 3, 8, 40, 90))]
            queued += len(batch)
            stored += await conn.fetchval(
                f"SELECT queue_measurements({_ARRAYS})",
                [devices[p[0]] for p in batch],
                [ids[p[1]] for p in batch],
                [p[2] for p in batch],
                [p[3] for p in batch],
                [p[4] for p in batch],
            )
            if rng.random() < 0.5 or queued == len(points):  # after one batch or several
                folded += await _fold(conn)
                folds += 1
        assert folds >= 5
        assert folded == stored == await conn.fetchval("SELECT count(*) FROM measurements")

        # The data covers what a wrong regrouping would get wrong: series with several values
        # in an hour and a day, and hours split between two Kolkata days.
        split = await conn.fetchval(
            """
            SELECT count(*) FROM (
                SELECT 1 FROM measurements
                GROUP BY device_id, quantity_id, sensor, date_trunc('hour', time, 'UTC')
                HAVING count(DISTINCT (time AT TIME ZONE 'Asia/Kolkata')::date) = 2
            ) AS s
            """
        )
        assert split > 10
        derived = await _all_derived(conn)
        assert max(r[4] for r in derived["hourly"]) >= 3
        assert len({r[3] for r in derived["daily"]}) == 4

        await conn.execute(
            "SELECT rebuild_rollups($1, $2)",
            datetime(2025, 3, 29, tzinfo=UTC),
            datetime(2025, 4, 2, tzinfo=UTC),
        )
        rebuilt = await _all_derived(conn)
        rebuilt["latest"] = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT DISTINCT ON (device_id, quantity_id, sensor) * FROM measurements "
                "ORDER BY device_id, quantity_id, sensor, time DESC"
            )
        ]
        assert derived["latest"] == rebuilt["latest"]
        for table in ("hourly", "daily"):
            assert len(derived[table]) == len(rebuilt[table])
            for got, want in zip(derived[table], rebuilt[table], strict=True):
                # Everything exact but the sum (column 5): the fold adds each group's values,
                # then the groups, then onto what earlier folds added; the rebuild adds the raw
                # values in one go. Float addition is not associative, so the last bits may
                # differ; with positive terms only by a few units in the last place.
                # So are the sums of sines and cosines (columns 10 and 11) of directions, which
                # may also cancel to near zero: compared with an absolute tolerance too.
                assert got[:5] + got[6:10] + got[12:] == want[:5] + want[6:10] + want[12:], table
                assert math.isclose(got[5], want[5], rel_tol=1e-12), (table, got, want)
                for i in (10, 11):
                    assert (got[i] is None) == (want[i] is None), (table, got, want)
                    if got[i] is not None:
                        assert math.isclose(got[i], want[i], rel_tol=1e-12, abs_tol=1e-9), table
    finally:
        await conn.close()


async def test_values_queued_for_the_same_time_fold_to_the_greatest(db_url: str) -> None:
    """A measurement deleted and stored again while still queued is folded twice, at the same
    time: latest and both rollups take the same one of its values as the newest."""
    t = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    conn = await asyncpg.connect(db_url)
    try:
        device = await _device(conn, "0000000000000C04")
        for value in (5.0, 9.0, 7.0):
            await _call(conn, "queue_measurements", device, [("air_temperature", 0, t, value)])
            await conn.execute("DELETE FROM measurements WHERE device_id = $1", device)
        assert await _fold(conn) == 3
        derived = await _derived(conn, device)
        assert derived["latest"][0][2:] == (t, 9.0)
        assert [_hour(r) for r in derived["hourly"]] == [(3, 21.0, 5.0, 9.0, t, 9.0)]
        assert [_hour(r) for r in derived["daily"]] == [(3, 21.0, 5.0, 9.0, t, 9.0)]
    finally:
        await conn.close()


async def test_an_infinite_time_is_folded(db_url: str) -> None:
    """An infinite time, which has no offset into its hour to order the newest values by,
    folds too."""
    t = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    conn = await asyncpg.connect(db_url)
    try:
        device = await _device(conn, "0000000000000C05")
        await conn.execute(
            "SELECT queue_measurements(ARRAY[$1::int, $1::int], ARRAY[id, id], "
            "ARRAY[0, 0]::smallint[], ARRAY['infinity', $2::timestamptz], "
            "ARRAY[2.0, 1.0]::float8[]) FROM quantities WHERE key = 'air_temperature'",
            device,
            t,
        )
        assert await _fold(conn) == 2
        assert await conn.fetchval("SELECT value FROM latest WHERE device_id = $1", device) == 2.0
        assert await conn.fetchval("SELECT sum(count) FROM rollup_hourly") == 2
        assert await conn.fetchval("SELECT sum(count) FROM rollup_daily") == 2
    finally:
        await conn.close()


def _hour(row: Sequence[Any]) -> tuple[Any, ...]:
    """count, sum, min, max, last_time, last_value of a rollup row."""
    return tuple(row[3:9])


async def test_rebuild_folds_the_queue_and_does_not_count_it_twice(db_url: str) -> None:
    t = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    m = timedelta(minutes=1)
    conn = await asyncpg.connect(db_url)
    try:
        device = await _device(conn, "0000000000000C01")
        await _call(conn, "store_measurements", device, [("air_temperature", 0, t, 30.0)])
        later = [("air_temperature", 0, t + 10 * m, 10.0), ("air_temperature", 0, t + 40 * m, 20.0)]
        await _call(conn, "queue_measurements", device, later)
        await conn.execute("SELECT rebuild_rollups($1, $2)", t, t + 60 * m)
        expected = (3, 60.0, 10.0, 30.0, t + 40 * m, 20.0)
        derived = await _derived(conn, device)
        assert [_hour(r) for r in derived["hourly"]] == [expected]
        assert [_hour(r) for r in derived["daily"]] == [expected]
        assert derived["latest"][0][2:] == (t + 40 * m, 20.0)
        assert await _fold(conn) == 0
        assert await _derived(conn, device) == derived
    finally:
        await conn.close()


async def _eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s")
        await asyncio.sleep(0.02)


async def test_rebuild_leaves_out_what_is_queued_after_its_fold(db_url: str) -> None:
    """A batch committed while a rebuild runs is added by the next fold, not by the rebuild too."""
    t = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    m = timedelta(minutes=1)
    conns = [await asyncpg.connect(db_url) for _ in range(3)]
    writing, locking, rebuilding = conns
    try:
        device = await _device(writing, "0000000000000C02")
        await _call(writing, "store_measurements", device, [("air_temperature", 0, t, 1.0)])
        await _call(writing, "queue_measurements", device, [("air_temperature", 0, t + m, 2.0)])
        # Hold the queued row so that the rebuild's fold waits on it...
        lock = locking.transaction()
        await lock.start()
        await locking.execute("SELECT FROM rollup_queue FOR UPDATE")
        rebuild = asyncio.create_task(
            rebuilding.execute("SELECT rebuild_rollups($1, $2)", t, t + 60 * m)
        )
        pid = rebuilding.get_server_pid()
        waits = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
        await _eventually(lambda: writing.fetchval(waits, pid))
        # ...while another batch commits after that fold began.
        await _call(writing, "queue_measurements", device, [("air_temperature", 0, t + 2 * m, 4.0)])
        await lock.rollback()
        await rebuild
        assert await writing.fetchval("SELECT count(*) FROM rollup_queue") == 1
        rebuilt = await _derived(writing, device)
        assert [_hour(r) for r in rebuilt["hourly"]] == [(2, 3.0, 1.0, 2.0, t + m, 2.0)]
        assert await _fold(writing) == 1
        folded = await _derived(writing, device)
        assert [_hour(r) for r in folded["hourly"]] == [(3, 7.0, 1.0, 4.0, t + 2 * m, 4.0)]
        assert [_hour(r) for r in folded["daily"]] == [(3, 7.0, 1.0, 4.0, t + 2 * m, 4.0)]
    finally:
        for conn in conns:
            await conn.close()


async def test_city_time_zone_change_with_queued_measurements(db_url: str) -> None:
    late = datetime(2025, 6, 2, 23, 30, tzinfo=UTC)  # 3 June 01:30 in Amsterdam
    conn = await asyncpg.connect(db_url)
    try:
        device = await _device(conn, "0000000000000C03")
        noon = late - timedelta(hours=12)
        await _call(conn, "store_measurements", device, [("people_count", 0, noon, 3.0)])
        await _call(conn, "queue_measurements", device, [("people_count", 0, late, 4.0)])
        await conn.execute("SELECT set_city_timezone('UTC')")
        assert await _fold(conn) == 0
        daily = (await _derived(conn, device))["daily"]
        assert [(r[2], r[3], r[4]) for r in daily] == [(late.date(), 2, 7.0)]
    finally:
        await conn.close()


T = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)


def _uplink(key: str, at: datetime, temperature: float) -> DecodedUplink:
    uplink = Uplink(key, "70B3D57ED0061A2B", at, 2, 1, b"\x01", radio=Radio())
    return DecodedUplink(
        uplink, "t", "cayenne_lpp", "1.0.0", (Measurement("air_temperature", temperature),)
    )


def _sample(metrics: Metrics, name: str) -> float | None:
    value: float | None = metrics.registry.get_sample_value(name)
    return value


async def test_the_fold_loop_folds_after_each_commit_and_at_stop(pool: asyncpg.Pool) -> None:
    writer = await Writer.connect(pool)
    await writer.write([_uplink("left", T, 18.0)], [])  # queued by a process that stopped
    metrics = Metrics()
    folding = Folding(writer, metrics)
    folding.start()
    await _eventually(lambda: pool.fetchval("SELECT count(*) = 1 FROM latest"))
    folding.committed(await writer.write([_uplink("new", T + timedelta(minutes=10), 20.5)], []))

    async def newest() -> bool:
        return await pool.fetchval("SELECT value FROM latest") == 20.5  # type: ignore[no-any-return]

    await _eventually(newest)  # right after the commit, not only at stop
    folding.committed(await writer.write([_uplink("last", T + timedelta(minutes=5), 19.0)], []))
    await folding.close()  # folds what the last batch queued
    row = await pool.fetchrow("SELECT count, sum, min, max FROM rollup_hourly")
    assert tuple(row) == (3, 57.5, 18.0, 20.5)
    assert await pool.fetchval("SELECT count(*) FROM rollup_queue") == 0
    assert _sample(metrics, "meetnet_ingest_measurements_folded_total") == 3
    assert _sample(metrics, "meetnet_ingest_fold_pending_batches") == 0
    assert _sample(metrics, "meetnet_ingest_fold_seconds_count") >= 2  # type: ignore[operator]
    assert _sample(metrics, "meetnet_ingest_fold_retries_total") == 0


async def test_under_load_one_fold_covers_many_commits(pool: asyncpg.Pool) -> None:
    writer = await Writer.connect(pool)
    metrics = Metrics()
    folding = Folding(writer, metrics, interval_s=3600)
    folding.start()  # folds at once (nothing queued), then not before an hour has passed...

    async def startup_fold_done() -> bool:
        return _sample(metrics, "meetnet_ingest_fold_seconds_count") == 1

    await _eventually(startup_fold_done)
    for minute in range(5):
        at = T + timedelta(minutes=minute)
        folding.committed(await writer.write([_uplink(f"k{minute}", at, 20.0 + minute)], []))
    assert _sample(metrics, "meetnet_ingest_fold_pending_batches") == 5
    started = time.monotonic()
    await folding.close()  # ...except at stop, which does not wait
    assert time.monotonic() - started < 10
    assert _sample(metrics, "meetnet_ingest_fold_seconds_count") == 2
    assert _sample(metrics, "meetnet_ingest_measurements_folded_total") == 5
    assert _sample(metrics, "meetnet_ingest_fold_pending_batches") == 0
    row = await pool.fetchrow("SELECT count, sum, last_value FROM rollup_hourly")
    assert tuple(row) == (5, 110.0, 24.0)


async def test_the_fold_loop_retries_after_losing_its_connection(
    pool: asyncpg.Pool, db_url: str
) -> None:
    writer = await Writer.connect(pool)
    result = await writer.write([_uplink("k", T, 21.0)], [])
    admin = await asyncpg.connect(db_url)
    locker = await asyncpg.connect(db_url)
    metrics = Metrics()
    folding = Folding(writer, metrics)
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE rollup_queue")
        folding.start()
        folding.committed(result)
        waiting = (
            "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT fold_rollups()' "
            "AND wait_event_type = 'Lock'"
        )
        await _eventually(lambda: admin.fetchval(f"SELECT EXISTS ({waiting})"))
        await admin.execute(f"SELECT pg_terminate_backend(pid) FROM ({waiting}) AS w")

        async def retried() -> bool:
            return _sample(metrics, "meetnet_ingest_fold_retries_total") == 1

        await _eventually(retried)
        assert await admin.fetchval("SELECT count(*) FROM latest") == 0
        await lock.rollback()
        await _eventually(lambda: admin.fetchval("SELECT count(*) = 1 FROM latest"))
        await folding.close()
        assert tuple(await admin.fetchrow("SELECT time, value FROM latest")) == (T, 21.0)
        assert _sample(metrics, "meetnet_ingest_measurements_folded_total") == 1
        assert _sample(metrics, "meetnet_ingest_fold_pending_batches") == 0
    finally:
        await folding.close()
        await admin.close()
        await locker.close()


async def test_migrate_rebuilds_the_rollups_of_a_quantity_whose_kind_changes(db_url: str) -> None:
    """A database from before circular means: directions rolled up as plain means, without
    sines and cosines. `meetnet migrate` sets the catalogue's kind and recomputes their rollups."""
    t = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "UPDATE quantities SET aggregation = 'mean' WHERE key = 'wind_direction'"
        )
        device = await _device(conn, "0000000000000C06")
        points = [
            ("wind_direction", 0, t, 90.0),
            ("wind_direction", 0, t + timedelta(minutes=5), 0.0),
        ]
        await _call(conn, "store_measurements", device, points)
        await _call(conn, "store_measurements", device, [("air_temperature", 0, t, 20.0)])
        before = await _derived(conn, device)
        assert sorted(r[9:] for r in before["hourly"]) == [
            (None, None, t, 20.0),
            (None, None, t, 90.0),
        ]
        await prepare(db_url)
        kind = "SELECT aggregation FROM quantities WHERE key = 'wind_direction'"
        assert await conn.fetchval(kind) == "circular_mean"
        after = await _derived(conn, device)
        wind = await conn.fetchval("SELECT id FROM quantities WHERE key = 'wind_direction'")
        for table in ("hourly", "daily"):
            rows = {r[0]: r for r in after[table]}
            assert rows[wind][3:] == (2, 90.0, 0.0, 90.0, t + timedelta(minutes=5), 0.0,
                                      1.0, 1.0, t, 90.0), table  # fmt: skip
            other = [r for r in after[table] if r[0] != wind]
            assert other == [r for r in before[table] if r[0] != wind]  # left alone
    finally:
        await conn.close()
