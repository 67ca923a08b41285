"""Ingest throughput, drain mode: K uplinks wait in the broker for ingest's persistent session,
then `meetnet ingest` starts; uplinks/s and rows/s from start to the last commit.

    .venv/bin/python bench/ingest.py --uplinks 50000

Needs PostgreSQL (MEETNET_TEST_DATABASE_URL, default the local server) and `mosquitto` on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from meetnet.database import prepare
from simulator import Fleet, publish

REPO = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get(
    "MEETNET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_broker(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    shipped = (REPO / "deploy" / "mosquitto.conf").read_text().splitlines()
    lines = [ln for ln in shipped if not ln.startswith(("listener", "persistence_location"))]
    # `user`: as root, mosquitto would switch to its own user and could not write the folder.
    lines += [
        f"listener {port} 127.0.0.1",
        f"persistence_location {workdir}/",
        f"user {getpass.getuser()}",
    ]
    (workdir / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(workdir / "mosquitto.conf")])
    time.sleep(0.5)
    return process


async def _count(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        uplinks = await conn.fetchval("SELECT count(*) FROM uplinks")
        rows = await conn.fetchval("SELECT count(*) FROM measurements")
        return int(uplinks), int(rows)
    finally:
        await conn.close()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uplinks", type=int, default=20_000)
    args = parser.parse_args()

    name = f"meetnet_bench_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    workdir = Path(tempfile.mkdtemp(prefix="meetnet-bench-"))
    port = _free_port()
    broker = _start_broker(workdir, port)
    env = {
        **os.environ,
        "MEETNET_DATABASE_URL": url,
        "MEETNET_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "MEETNET_MQTT_CLIENT_ID": "bench-ingest",
    }
    log = (workdir / "ingest.log").open("ab")
    try:
        asyncio.run(prepare(url))
        # Create the persistent session, then stop so the broker queues for it.
        ingest = subprocess.Popen(
            [sys.executable, "-m", "meetnet", "ingest"], env=env, stdout=log, stderr=log
        )
        time.sleep(2)
        ingest.send_signal(signal.SIGTERM)
        ingest.wait()

        fleet = Fleet(1000, seed=3)
        stream = fleet.stream(interval_s=0)
        uplinks = [next(stream) for _ in range(args.uplinks)]
        size = sum(len(u.body) for u in uplinks) / len(uplinks)
        started = time.perf_counter()
        publish(uplinks, "127.0.0.1", port)
        publish_s = time.perf_counter() - started

        started = time.perf_counter()
        ingest = subprocess.Popen(
            [sys.executable, "-m", "meetnet", "ingest"], env=env, stdout=log, stderr=log
        )
        if os.environ.get("BENCH_PROFILE"):
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-r",
                    "250",
                    "-f",
                    "raw",
                    "-o",
                    os.environ["BENCH_PROFILE"],
                    "-d",
                    "8",
                    "--pid",
                    str(ingest.pid),
                ]
            )
        stored, rows = 0, 0
        while stored < args.uplinks:
            time.sleep(0.1)
            stored, rows = asyncio.run(_count(url))
            if time.perf_counter() - started > 600:
                break
        elapsed = time.perf_counter() - started
        ingest.send_signal(signal.SIGTERM)
        ingest.wait()

        machine = f"{platform.machine()} {os.cpu_count()} cores"
        print(f"machine: {machine}, Python {platform.python_version()}")
        print(f"uplinks: {args.uplinks} of {size:.0f} B, 3 measurements each")
        print(f"publish (QoS 1, into the offline session): {args.uplinks / publish_s:,.0f} msg/s")
        print(f"drain (process start to last commit): {elapsed:.2f} s")
        print(f"  stored {stored} uplinks, {rows} measurement rows")
        print(f"  {stored / elapsed:,.0f} uplinks/s, {rows / elapsed:,.0f} rows/s")
    finally:
        log.close()
        broker.terminate()
        broker.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
