"""Query latency on seeded history: the API's rollup answers against plain GROUP BY over raw data.

    .venv/bin/python bench/query.py                         # 1000 devices x 120 days: 51.8 M rows
    .venv/bin/python bench/query.py --devices 200 --days 30  # a quick run

Seeds a fresh database (`meetnet_bench`, on MEETNET_TEST_DATABASE_URL's server), uploads 8
district zones, starts `meetnet api` as its own process and times requests over HTTP keep-alive
(warm: after warm-up requests). Each rollup answer is compared with the same answer computed from
raw measurements (`source=raw`, or SQL for latest values). Peak memory of the API process is read
from /proc before and after the CSV export.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg

from meetnet.database import prepare
from meetnet.seed import seed

SERVER_URL = os.environ.get(
    "MEETNET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REPO = Path(__file__).resolve().parent.parent


def _url(name: str) -> str:
    return urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))


async def _fresh(name: str) -> None:
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _districts() -> dict[str, Any]:
    """2 x 4 rectangles over the seeded area (lon 5.04-5.20, lat 52.04-52.12)."""
    features = []
    for row in range(2):
        for col in range(4):
            lon0, lat0 = 5.04 + col * 0.04, 52.04 + row * 0.04
            ring = [[lon0, lat0], [lon0 + 0.04, lat0], [lon0 + 0.04, lat0 + 0.04],
                    [lon0, lat0 + 0.04], [lon0, lat0]]  # fmt: skip
            features.append(
                {
                    "type": "Feature",
                    "properties": {"name": f"district {row}{col}"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            )
    return {"type": "FeatureCollection", "features": features}


class Client:
    def __init__(self, port: int) -> None:
        self._port = port
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes, float]:
        try:
            return self._request(method, path, body)
        except (http.client.RemoteDisconnected, ConnectionError):
            # uvicorn closes keep-alive connections idle for 5 s (while raw SQL ran): reconnect.
            self._conn.close()
            self._conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=120)
            return self._request(method, path, body)

    def _request(self, method: str, path: str, body: Any) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        self._conn.request(method, path, body=payload, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started

    def get(self, path: str, **params: Any) -> tuple[Any, float]:
        status, data, seconds = self.request("GET", f"{path}?{urlencode(params)}")
        if status != 200:
            raise RuntimeError(f"{path} {params}: {status} {data[:300]!r}")
        if params.get("format") == "csv":
            return data, seconds
        return json.loads(data), seconds


def _times(client: Client, runs: int, path: str, **params: Any) -> tuple[Any, list[float]]:
    body, _ = client.get(path, **params)  # warm-up
    seconds = []
    for _ in range(runs):
        body, took = client.get(path, **params)
        seconds.append(took)
    return body, seconds


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    if len(a) != len(b):
        return False
    for p, q in zip(a, b, strict=True):
        for key, value in p.items():
            other = q[key]
            if isinstance(value, float) and isinstance(other, float):
                if not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif value != other:
                return False
    return True


async def _raw_latest(url: str, quantity: str) -> tuple[dict[str, float], float]:
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        rows = await conn.fetch(
            "SELECT DISTINCT ON (d.dev_eui, m.sensor) d.dev_eui, m.value "
            "FROM measurements m JOIN devices d ON d.id = m.device_id "
            "JOIN quantities q ON q.id = m.quantity_id WHERE q.key = $1 "
            "ORDER BY d.dev_eui, m.sensor, m.time DESC",
            quantity,
        )
        return {r["dev_eui"]: r["value"] for r in rows}, time.perf_counter() - started
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--interval", type=int, default=10, help="minutes between values")
    parser.add_argument("--runs", type=int, default=50, help="timed requests per rollup query")
    parser.add_argument("--raw-runs", type=int, default=5, help="timed requests per raw query")
    parser.add_argument("--database", default="meetnet_bench")
    parser.add_argument("--reuse", action="store_true", help="skip seeding, use the database")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    url = _url(args.database)
    if not args.reuse:
        asyncio.run(_fresh(args.database))
        asyncio.run(prepare(url))
        result = asyncio.run(seed(url, args.devices, args.days, args.interval))
        print(
            f"seeded {result.measurements:,} measurements ({args.devices} devices x 3 quantities "
            f"x {args.days} days every {args.interval} min) in {result.seconds:.0f} s "
            f"({result.measurements / result.seconds:,.0f} rows/s, COPY + rollups)"
        )
    env = {**os.environ, "MEETNET_DATABASE_URL": url, "MEETNET_API_POOL_SIZE": "4"}
    api = subprocess.Popen(
        [sys.executable, "-m", "meetnet", "api", "--port", str(args.port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return _measure(args, url, api)
    finally:
        api.terminate()
        api.wait(timeout=10)


def _measure(args: argparse.Namespace, url: str, api: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            client = Client(args.port)
            if client.request("GET", "/readyz")[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not become ready")
        time.sleep(0.2)
    existing, _ = client.get("/v1/zones", limit=1000)
    if not existing["items"]:
        status, data, _ = client.request("POST", "/v1/zones", _districts())
        assert status == 201, data
        existing, _ = client.get("/v1/zones", limit=1000)
    zone = max(existing["items"], key=lambda z: z["devices"])
    devices, _ = client.get("/v1/devices", limit=1)
    eui = devices["items"][0]["dev_eui"]
    latest, _ = client.get("/v1/latest", quantity="air_temperature", limit=1)
    end = datetime.fromisoformat(latest["items"][0]["time"].replace("Z", "+00:00"))
    end = end.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    month = {"from": (end - timedelta(days=30)).isoformat(), "to": end.isoformat()}
    year = {"from": (end - timedelta(days=365)).isoformat(), "to": end.isoformat()}
    q = "air_temperature"
    rows: list[tuple[str, list[float], str]] = []

    device_path = f"/v1/devices/{eui}/series"
    hourly, t1 = _times(client, args.runs, device_path, quantity=q, bucket="1h", **month)
    hourly_raw, t1r = _times(
        client, args.raw_runs, device_path, quantity=q, bucket="1h", source="raw", **month
    )
    rows += [
        (f"device 30 d hourly ({hourly['source']})", t1, f"{len(hourly['points'])} buckets"),
        (
            "  same from raw GROUP BY",
            t1r,
            f"equal: {_same(hourly['points'], hourly_raw['points'])}",
        ),
    ]

    zone_path = f"/v1/zones/{zone['id']}/series"
    daily, t2 = _times(client, args.runs, zone_path, quantity=q, bucket="1d", **year)
    daily_raw, t2r = _times(
        client, args.raw_runs, zone_path, quantity=q, bucket="1d", source="raw", **year
    )
    speedup = statistics.median(t2r) / statistics.median(t2)
    rows += [
        (
            f"zone ({zone['devices']} devices) 1 year daily ({daily['source']})",
            t2,
            f"{len(daily['points'])} buckets",
        ),
        (
            "  same from raw GROUP BY",
            t2r,
            f"equal: {_same(daily['points'], daily_raw['points'])}; rollup {speedup:.0f}x faster",
        ),
    ]

    everything, t3 = _times(client, args.runs, "/v1/latest", quantity=q, limit=10000)
    raw_latest, _ = asyncio.run(_raw_latest(url, q))
    t3r = [asyncio.run(_raw_latest(url, q))[1] for _ in range(args.raw_runs)]
    api_latest = {i["dev_eui"]: i["value"] for i in everything["items"]}
    rows += [
        (f"latest, all {len(everything['items'])} devices", t3, ""),
        ("  same from raw DISTINCT ON (SQL)", t3r, f"equal: {api_latest == raw_latest}"),
    ]

    before = _peak_kib(api.pid)
    exported, t4 = _times(client, 3, device_path, quantity=q, format="csv", **year)
    after = _peak_kib(api.pid)
    lines = exported.count(b"\n") - 1
    rows.append(
        (
            "CSV export, one device-year raw",
            t4,
            f"{lines:,} rows, {len(exported) / 1e6:.1f} MB; API peak RSS {before / 1024:.0f} "
            f"-> {after / 1024:.0f} MiB",
        )
    )

    print(f"\n{'query':<44} {'runs':>5} {'p50 ms':>9} {'p95 ms':>9}  notes")
    for name, seconds, note in rows:
        p50, p95 = _p(seconds, 0.5), _p(seconds, 0.95)
        print(f"{name:<44} {len(seconds):>5} {p50:>9.1f} {p95:>9.1f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
