"""End to end with real processes: simulator → Mosquitto → `meetnet ingest` → PostgreSQL → API."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import paho.mqtt.publish as mqtt_publish
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from simulator import MODELS, Fleet, FleetSpec, Group, SimulatedUplink, publish
from tests.conftest import Broker

pytestmark = pytest.mark.slow

START = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)


class IngestProcess:
    """`meetnet ingest` as its own OS process, so it can be killed for real."""

    def __init__(self, db_url: str, broker: Broker, app: str, log: Path) -> None:
        self.env = {
            **os.environ,
            "MEETNET_DATABASE_URL": db_url,
            "MEETNET_MQTT_URL": broker.url,
            "MEETNET_MQTT_CLIENT_ID": f"ingest-{app}",
            "MEETNET_MQTT_TOPICS": f"v3/{app}@ttn/devices/+/up",
            "MEETNET_BATCH_INTERVAL_MS": "50",
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "meetnet", "ingest"], env=self.env, stdout=out, stderr=out
            )
        _wait(lambda: b"connected to MQTT broker" in self.log.read_bytes()[offset:], 30, self.log)

    def signal(self, signum: int) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        code = self.process.wait(timeout=30)
        self.process = None
        return code


def _wait(condition: Callable[[], bool], timeout_s: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    detail = log.read_text() if log and log.exists() else ""
    raise AssertionError(f"condition not met within {timeout_s}s\n{detail}")


def _count(url: str, sql: str) -> int:
    async def run() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture
def ingest(db_url: str, broker: Broker, tmp_path: Path) -> Iterator[IngestProcess]:
    app = f"e2e-{uuid.uuid4().hex[:8]}"
    process = IngestProcess(db_url, broker, app, tmp_path / "ingest.log")
    process.start()
    yield process
    if process.process is not None:
        process.signal(signal.SIGTERM)


def _fleet_uplinks(app: str, devices: int, count: int, seed: int = 7) -> list[SimulatedUplink]:
    fleet = Fleet(devices, seed=seed, application_id=app)
    stream = fleet.stream(start=START, interval_s=60)
    return [next(stream) for _ in range(count)]


def _app_of(process: IngestProcess) -> str:
    return process.env["MEETNET_MQTT_TOPICS"].split("/")[1].split("@")[0]


def test_published_values_come_out_of_the_api_exactly(
    ingest: IngestProcess, broker: Broker, db_url: str
) -> None:
    uplinks = _fleet_uplinks(_app_of(ingest), devices=3, count=30)
    assert publish(uplinks, "127.0.0.1", broker.port) == 30
    _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") == 30, 20, ingest.log)

    app = create_app(ApiSettings(database_url=SecretStr(db_url)))
    with TestClient(app) as client:
        for device in {u.device.dev_eui for u in uplinks}:
            sent = [u for u in uplinks if u.device.dev_eui == device]
            for quantity in ("air_temperature", "relative_humidity", "barometric_pressure"):
                body = client.get(
                    f"/v1/devices/{device.lower()}/series",
                    params={
                        "quantity": quantity,
                        "from": "2025-03-14T07:00:00Z",
                        "to": "2025-03-14T09:00:00Z",
                    },
                ).json()
                expected = [
                    {
                        "time": u.received_at.isoformat().replace("+00:00", "Z"),
                        "sensor": m.sensor,
                        "value": m.value,
                    }
                    for u in sent
                    for m in u.measurements
                    if m.quantity == quantity
                ]
                assert body["points"] == expected
        newest = {u.device.dev_eui: u for u in uplinks}  # the stream is in time order
        expected_latest = {eui: u.measurements[0].value for eui, u in newest.items()}

        def latest() -> dict[str, float]:
            body = client.get("/v1/latest", params={"quantity": "air_temperature"}).json()
            return {i["dev_eui"]: i["value"] for i in body["items"]}

        # latest is folded in right after each commit: it follows within moments.
        _wait(lambda: latest() == expected_latest, 10, ingest.log)
        assert latest() == expected_latest


def test_duplicate_stored_once_and_garbage_dead_lettered(
    ingest: IngestProcess, broker: Broker, db_url: str
) -> None:
    app = _app_of(ingest)
    uplinks = _fleet_uplinks(app, devices=2, count=11)
    publish(uplinks[:10], "127.0.0.1", broker.port)
    _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") == 10, 20, ingest.log)

    topic = f"v3/{app}@ttn/devices/broken/up"
    publish(uplinks[:3], "127.0.0.1", broker.port)  # re-delivery of the same messages
    mqtt_publish.single(topic, b"{not json", qos=1, hostname="127.0.0.1", port=broker.port)
    publish(uplinks[10:], "127.0.0.1", broker.port)  # a sentinel published after both
    _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") == 11, 20, ingest.log)
    _wait(lambda: _count(db_url, "SELECT count(*) FROM dead_letters") == 1, 10, ingest.log)

    assert _count(db_url, "SELECT count(*) FROM measurements") == 33
    assert _count(db_url, "SELECT count(*) FROM devices") == 2
    assert (
        _count(
            db_url,
            f"SELECT count(*) FROM dead_letters WHERE stage = 'parse' AND topic = '{topic}' "
            "AND reason LIKE 'not JSON%' AND payload = '{not json'::bytea",
        )
        == 1
    )


def test_sigkill_mid_stream_loses_nothing(
    ingest: IngestProcess, broker: Broker, db_url: str
) -> None:
    total = 3000
    uplinks = _fleet_uplinks(_app_of(ingest), devices=50, count=total)
    published = threading.Thread(target=publish, args=(uplinks, "127.0.0.1", broker.port))
    published.start()
    _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") >= 300, 30, ingest.log)
    assert ingest.signal(signal.SIGKILL) == -signal.SIGKILL
    stored_at_kill = _count(db_url, "SELECT count(*) FROM uplinks")
    published.join(timeout=60)
    ingest.start()  # same client id: the broker kept the session and its queue
    _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") == total, 60, ingest.log)

    assert stored_at_kill < total, "the kill must land mid-stream for this test to mean anything"
    assert _count(db_url, "SELECT count(DISTINCT idempotency_key) FROM uplinks") == total
    assert _count(db_url, "SELECT count(*) FROM measurements") == 3 * total
    assert _count(db_url, "SELECT count(*) FROM dead_letters") == 0
    # Every measurement in the rollups exactly once, what the killed process left queued too.
    _wait(lambda: _count(db_url, "SELECT count(*) FROM rollup_queue") == 0, 10, ingest.log)
    assert _count(db_url, "SELECT sum(count) FROM rollup_hourly") == 3 * total
    assert _count(db_url, "SELECT sum(count) FROM rollup_daily") == 3 * total


def test_sigterm_commits_and_exits_cleanly(
    ingest: IngestProcess, broker: Broker, db_url: str
) -> None:
    uplinks = _fleet_uplinks(_app_of(ingest), devices=5, count=200)
    publish(uplinks, "127.0.0.1", broker.port)
    _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") == 200, 20, ingest.log)
    assert ingest.signal(signal.SIGTERM) == 0
    assert b"ingest stopped" in ingest.log.read_bytes()
    # Stopped with every committed batch folded.
    assert _count(db_url, "SELECT count(*) FROM rollup_queue") == 0
    assert _count(db_url, "SELECT sum(count) FROM rollup_hourly") == 600


def test_vendor_devices_are_stored_as_their_native_decoders_decode_them(
    ingest: IngestProcess, broker: Broker, db_url: str
) -> None:
    """TTS uplinks whose version_ids name a Device Repository model get that model's decoder."""
    native = sorted(name for name, model in MODELS.items() if model.version_ids is not None)
    assert native, "the simulator has vendor models with Device Repository ids"
    spec = FleetSpec(
        tuple(Group(name, 2) for name in native), seed=11, application_id=_app_of(ingest)
    )
    stream = Fleet(spec=spec).stream(start=START, interval_s=60)
    uplinks = [next(stream) for _ in range(4 * len(native))]
    publish(uplinks, "127.0.0.1", broker.port)
    _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") == len(uplinks), 30, ingest.log)

    async def stored() -> dict[tuple[str, datetime], set[tuple[str, int, float]]]:
        conn = await asyncpg.connect(db_url)
        try:
            rows = await conn.fetch(
                "SELECT d.dev_eui, m.time, q.key, m.sensor, m.value FROM measurements m "
                "JOIN devices d ON d.id = m.device_id JOIN quantities q ON q.id = m.quantity_id"
            )
        finally:
            await conn.close()
        out: dict[tuple[str, datetime], set[tuple[str, int, float]]] = {}
        for r in rows:
            out.setdefault((r["dev_eui"], r["time"]), set()).add(
                (r["key"], r["sensor"], r["value"])
            )
        return out

    got = asyncio.run(stored())
    for u in uplinks:
        expected = {(m.quantity, m.sensor, m.value) for m in u.measurements}
        assert got[(u.device.dev_eui, u.received_at)] == expected, u.model

    async def decoders() -> set[str]:
        conn = await asyncpg.connect(db_url)
        try:
            return {r["decoder"] for r in await conn.fetch("SELECT DISTINCT decoder FROM uplinks")}
        finally:
            await conn.close()

    # Each uplink went through its own model's native decoder, and no other.
    assert asyncio.run(decoders()) == {MODELS[n].codec for n in native}
    assert _count(db_url, "SELECT count(*) FROM dead_letters") == 0
