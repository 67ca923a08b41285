"""The database's cost of ingest batches: latest and rollups kept in the batch (0010) against
queued and folded after the commit (0040), in one run.

    .venv/bin/python bench/fold.py --batches 200 --rounds 3

Batches of 500 uplinks from a fleet of 1000 devices sending fast (an uplink every 30 ms in
total, so each device-quantity-hour bucket gets many values), 3-6 measurements per uplink (4.5
on average), written through `Writer.write` by two concurrent writers (ingest's default) on a
fresh database per variant:

synchronous  store_measurements as migration 0010 defined it, in the batch transaction (the
             baseline: restored from the 0010 file in that database, where queue_measurements
             calls it)
fold each    queue_measurements in the batch transaction, then a fold after every batch by
             the writer that committed it
loop 0 s     queue_measurements, with ingest's fold loop (ingest/folding.py) beside the writers,
             folding again as soon as a batch committed after the previous fold
loop 1 s     the same, with the folds started at most once a second, as in `meetnet ingest`

Per variant: the batch transaction's time (what the subscriber waits for), the wall time per
batch including the folds, the CPU time of the database's backends per uplink, PostgreSQL's WAL
bytes per uplink (server-wide: keep the server otherwise idle) and the rows written to latest,
rollup_hourly and rollup_daily per uplink, and the CPU time of the folds themselves per
measurement folded (of the backend running `fold_rollups`; the baseline does not fold). Rounds
alternate the variants; medians are printed, with ratios against the synchronous baseline.

Needs PostgreSQL (MEETNET_TEST_DATABASE_URL, default the local server).
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].endswith("bench"):  # run as a script: don't import ourselves
    sys.path.pop(0)

import argparse
import asyncio
import os
import re
import statistics
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from decoders import Measurement
from ingest.folding import INTERVAL_S, Folding
from ingest.metrics import Metrics
from ingest.model import DecodedUplink, Radio, Uplink
from ingest.writer import Writer, open_pool
from meetnet.database import prepare

SERVER_URL = os.environ.get(
    "MEETNET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
DEVICES = 1000
START = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)
STEP = timedelta(milliseconds=30)
MEASUREMENTS = (
    Measurement("air_temperature", 21.5, sensor=1),
    Measurement("relative_humidity", 48.0, sensor=2),
    Measurement("barometric_pressure", 1013.2, sensor=3),
    Measurement("illuminance", 420, sensor=4),
    Measurement("air_temperature", 18.5, sensor=5),
    Measurement("relative_humidity", 55.0, sensor=6),
)
DERIVED = ("latest", "rollup_hourly", "rollup_daily")
# In the baseline's database: the batch transaction maintains latest and rollups as before 0040.
_SYNCHRONOUS = """
CREATE OR REPLACE FUNCTION queue_measurements(
    p_device_ids integer[], p_quantity_ids smallint[], p_sensors smallint[],
    p_times timestamptz[], p_values double precision[]
) RETURNS bigint
LANGUAGE sql AS $$
    SELECT store_measurements(p_device_ids, p_quantity_ids, p_sensors, p_times, p_values)
$$;
CREATE OR REPLACE FUNCTION queue_staged_measurements() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT queue_measurements(array_agg(device_id), array_agg(quantity_id),
                                      array_agg(sensor), array_agg(time), array_agg(value))
            FROM pg_temp.measurement_stage);
END
$$
"""


class MeteredWriter(Writer):
    """A Writer that adds up the database CPU time of its folds and the measurements they fold."""

    def __init__(self, pool: asyncpg.Pool, quantity_ids: Mapping[str, int]) -> None:
        super().__init__(pool, quantity_ids)
        self._folding_pool = pool
        self.fold_cpu_s = 0.0
        self.folded = 0

    async def fold(self) -> int:
        async with self._folding_pool.acquire() as conn:  # Writer.fold's statement, on a known pid
            pid = conn.get_server_pid()
            cpu = on_cpu_s(pid)
            folded = int(await conn.fetchval("SELECT fold_rollups()"))
            self.fold_cpu_s += on_cpu_s(pid) - cpu
        self.folded += folded
        return folded


def batches(count: int, size: int) -> list[list[DecodedUplink]]:
    out = []
    for b in range(count):
        batch = []
        for j in range(size):
            i = b * size + j
            eui = f"70B3D5000000{i % DEVICES:04X}"
            uplink = Uplink(f"as:up:{i:020d}", eui, START + i * STEP, 2, i, b"", radio=Radio())
            measurements = tuple(
                Measurement(m.quantity, m.value + i % 7, sensor=m.sensor)
                for m in MEASUREMENTS[: 3 + i % 4]
            )
            batch.append(DecodedUplink(uplink, "bench", "cayenne_lpp", "1.0.0", measurements))
        out.append(batch)
    return out


def restore_0010(migration: str) -> str:
    """The store_measurements definition of migration 0010, as main ingest ran it."""
    match = re.search(
        r"CREATE OR REPLACE FUNCTION store_measurements\(.*?\n\$\$;\n", migration, re.DOTALL
    )
    assert match is not None
    return match.group(0)


async def wal_lsn(conn: asyncpg.Connection) -> int:
    lsn = await conn.fetchval("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
    return int(lsn)


def on_cpu_s(pid: int) -> float:
    """Seconds this process has run on a CPU, to the nanosecond (Linux /proc schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def derived_writes(conn: asyncpg.Connection) -> int:
    """Rows inserted and updated in latest and the rollups, once the writers' connections
    closed (a backend reports its table statistics when it exits, if not before)."""
    await asyncio.sleep(0.5)
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    writes = await conn.fetchval(
        "SELECT sum(n_tup_ins + n_tup_upd) FROM pg_stat_user_tables WHERE relname = ANY($1)",
        list(DERIVED),
    )
    return int(writes)


async def run(variant: str, work: list[list[DecodedUplink]], writers: int) -> dict[str, float]:
    name = f"meetnet_bench_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))
    admin = await asyncpg.connect(SERVER_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await prepare(url)
        conn = await asyncpg.connect(url)
        try:
            if variant == "synchronous":
                sql = (MIGRATIONS / "0010_rollups.sql").read_text(encoding="utf-8")
                await conn.execute(restore_0010(sql))
                await conn.execute(_SYNCHRONOUS)
            size = writers + 1  # and the fold's
            pool = await open_pool(url, min_size=size, max_size=size)
            try:
                figures = await _measure(variant, pool, conn, work, writers)
            finally:
                await pool.close()
            uplinks = sum(len(b) for b in work)
            figures["derived_rows_per_uplink"] = await derived_writes(conn) / uplinks
            return figures
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _measure(
    variant: str,
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    work: list[list[DecodedUplink]],
    writers: int,
) -> dict[str, float]:
    writer = await MeteredWriter.connect(pool)
    assert isinstance(writer, MeteredWriter)
    folding = Folding(writer, Metrics(), interval_s=0 if variant == "loop 0 s" else INTERVAL_S)
    commits: list[float] = []
    backends = [
        r["pid"]
        for r in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        )
    ]
    lsn = await wal_lsn(conn)
    cpu = cpu_s(backends)
    started = time.perf_counter()
    if variant.startswith("loop"):
        folding.start()
    batches = iter(work)

    async def write() -> None:  # one of `writers` concurrent writers, as in ingest
        for batch in batches:
            t = time.perf_counter()
            result = await writer.write(batch, [])
            commits.append(time.perf_counter() - t)
            folding.committed(result)
            if variant == "fold each":
                await writer.fold()

    await asyncio.gather(*(write() for _ in range(writers)))
    await folding.close()
    wall = time.perf_counter() - started
    cpu = cpu_s(backends) - cpu
    wal = await wal_lsn(conn) - lsn
    uplinks = sum(len(b) for b in work)
    assert await conn.fetchval("SELECT count(*) FROM uplinks") == uplinks
    assert await conn.fetchval("SELECT count(*) FROM rollup_queue") == 0
    measured = await conn.fetchval("SELECT count(*) FROM measurements")
    assert await conn.fetchval("SELECT sum(count) FROM rollup_hourly") == measured
    return {
        "commit_ms": statistics.mean(commits) * 1000,
        "batch_ms": wall / len(work) * 1000,
        "us_per_uplink": wall / uplinks * 1e6,
        "pg_cpu_us_per_uplink": cpu / uplinks * 1e6,
        "wal_bytes_per_uplink": wal / uplinks,
        "fold_cpu_us_per_measurement": writer.fold_cpu_s / max(writer.folded, 1) * 1e6,
    }


VARIANTS = ("synchronous", "fold each", "loop 0 s", "loop 1 s")
COLUMNS = (
    ("commit_ms", "batch txn ms"),
    ("batch_ms", "wall ms/batch"),
    ("us_per_uplink", "wall µs/uplink"),
    ("pg_cpu_us_per_uplink", "PG CPU µs/uplink"),
    ("wal_bytes_per_uplink", "WAL B/uplink"),
    ("derived_rows_per_uplink", "derived rows/uplink"),
    ("fold_cpu_us_per_measurement", "fold CPU µs/meas."),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--size", type=int, default=500, help="uplinks per batch")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--writers", type=int, default=2, help="concurrent batch writers")
    args = parser.parse_args()
    work = batches(args.batches, args.size)
    rows = sum(len(u.measurements) for b in work for u in b)
    print(
        f"{args.batches} batches x {args.size} uplinks, {DEVICES} devices, "
        f"{rows / (args.batches * args.size):.1f} measurements per uplink, "
        f"{args.writers} writer(s), {args.rounds} round(s)"
    )
    results: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            results[variant].append(asyncio.run(run(variant, work, args.writers)))
    median = {
        v: {key: statistics.median(r[key] for r in runs) for key, _ in COLUMNS}
        for v, runs in results.items()
    }
    print(f"{'':12}" + "".join(f"{label:>21}" for _, label in COLUMNS))
    base = median["synchronous"]
    for variant in VARIANTS:
        cells = []
        for key, _ in COLUMNS:
            value = median[variant][key]
            if key == "fold_cpu_us_per_measurement":  # the baseline does not fold: no ratio
                cells.append(("-" if variant == "synchronous" else f"{value:.2f}").rjust(21))
                continue
            ratio = "" if variant == "synchronous" else f" ({value / base[key]:.2f}x)"
            cells.append(f"{value:.1f}{ratio}".rjust(21))
        print(f"{variant:12}" + "".join(cells))


if __name__ == "__main__":
    main()
