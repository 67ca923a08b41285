"""Streams against the rest of the API: p95 of `GET /v1/devices` alone and with 200 SSE clients and
20 slow CSV downloads open, and the SSE fan-out latency (commit of a stored batch -> the event at
each of the 200 clients).

    .venv/bin/python bench/stream.py
    .venv/bin/python bench/stream.py --clients 200 --downloads 20 --requests 300

Seeds a fresh database (`meetnet_bench_stream`, on MEETNET_TEST_DATABASE_URL's server) with 100
devices and 50,000 raw points of one device, starts `meetnet api` (uvicorn) on 127.0.0.1 as its
own process with the default pool of 10 connections, and drives it with plain sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from meetnet.database import prepare

SERVER = os.environ.get(
    "MEETNET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
EUI = "0004A30B001C0000"
T0 = datetime(2025, 6, 1, tzinfo=UTC)


async def _seed(url: str, points: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO devices (dev_eui) SELECT upper(lpad(to_hex(x), 16, '0')) "
            "FROM generate_series(1, 99) x"
        )
        device = await conn.fetchval("INSERT INTO devices (dev_eui) VALUES ($1) RETURNING id", EUI)
        quantity = await conn.fetchval("SELECT id FROM quantities WHERE key = 'co2'")
        await conn.execute(
            "SELECT store_measurements($1::int[], $2::smallint[], $3::smallint[], "
            "$4::timestamptz[], $5::float8[])",
            [device] * points,
            [quantity] * points,
            [0] * points,
            [T0 + timedelta(seconds=10 * i) for i in range(points)],
            [400.0 + i % 100 for i in range(points)],
        )
    finally:
        await conn.close()


async def _get(port: int, path: str) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
    body = await reader.read()
    writer.close()
    if not body.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{path}: {body[:200]!r}")
    return time.perf_counter() - started


async def _p95_of_devices(port: int, requests: int) -> tuple[float, float]:
    times = sorted([await _get(port, "/v1/devices?limit=100") for _ in range(requests)])
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


async def _sse(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v1/stream?quantity=co2 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    while (await reader.readline()).strip() != b"event: ready":
        pass
    await reader.readline()  # data
    await reader.readline()  # blank
    return reader, writer


async def _next_measurement(reader: asyncio.StreamReader) -> float:
    while True:
        line = await reader.readline()
        if line.startswith(b"data:"):
            return time.perf_counter()


async def _store_one(url: str, i: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        device = await conn.fetchval("SELECT id FROM devices WHERE dev_eui = $1", EUI)
        quantity = await conn.fetchval("SELECT id FROM quantities WHERE key = 'co2'")
        async with conn.transaction():
            await conn.execute(
                "SELECT store_measurements($1::int[], $2::smallint[], $3::smallint[], "
                "$4::timestamptz[], $5::float8[])",
                [device], [quantity], [0], [T0 - timedelta(seconds=i + 1)], [float(i)],
            )  # fmt: skip
        return time.perf_counter()  # the commit has returned
    finally:
        await conn.close()


async def _measure(args: argparse.Namespace, url: str, port: int) -> None:
    await _p95_of_devices(port, 20)  # warm-up
    alone = await _p95_of_devices(port, args.requests)
    streams = [await _sse(port) for _ in range(args.clients)]
    downloads = []
    for _ in range(args.downloads):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /v1/devices/{EUI}/series?quantity=co2&from=2025-05-31T00:00:00Z"
            "&to=2025-06-30T00:00:00Z&format=csv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        await reader.readexactly(4096)  # started; then read 4 kB a second: a slow client
        downloads.append((reader, writer))

    async def trickle(reader: asyncio.StreamReader) -> None:
        while True:
            if not await reader.read(4096):
                return
            await asyncio.sleep(1)

    trickling = [asyncio.create_task(trickle(r)) for r, _ in downloads]
    busy = await _p95_of_devices(port, args.requests)
    latencies: list[float] = []
    for i in range(args.events):
        waiting = [asyncio.create_task(_next_measurement(r)) for r, _ in streams]
        committed = await _store_one(url, i)
        arrived = await asyncio.gather(*waiting)
        latencies += [max(0.0, t - committed) for t in arrived]
    latencies.sort()
    for task in trickling:
        task.cancel()
    for _, writer in streams + downloads:
        writer.close()
    print(f"GET /v1/devices alone: p50 {alone[0] * 1e3:.1f} ms  p95 {alone[1] * 1e3:.1f} ms")
    print(
        f"with {args.clients} SSE + {args.downloads} slow CSV open: p50 {busy[0] * 1e3:.1f} ms  "
        f"p95 {busy[1] * 1e3:.1f} ms  ({busy[1] / alone[1]:.2f}x; target <= 2x)"
    )
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"SSE fan-out, commit -> event at each of {args.clients} clients "
        f"({args.events} events): p50 {p50 * 1e3:.1f} ms  p95 {p95 * 1e3:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--downloads", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args()
    name = "meetnet_bench_stream"
    admin = SERVER

    async def recreate() -> None:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(recreate())
    url = urlunsplit(urlsplit(SERVER)._replace(path=f"/{name}"))
    asyncio.run(prepare(url))
    asyncio.run(_seed(url, args.points))
    env = {
        **os.environ,
        "MEETNET_DATABASE_URL": url,
        "MEETNET_API_STREAM_MAX_PER_CLIENT": str(args.clients + 10),
        "MEETNET_API_STREAM_MAX_CLIENTS": str(args.clients + 10),
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "meetnet", "api", "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                asyncio.run(_get(args.port, "/readyz"))
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        asyncio.run(_measure(args, url, args.port))
    finally:
        api.terminate()
        api.wait(timeout=10)
        asyncio.run(_drop(admin, name))


async def _drop(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


if __name__ == "__main__":
    main()
