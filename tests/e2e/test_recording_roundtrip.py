"""A recording round-trips: `meetnet simulate --record` with faults, through a real Mosquitto into
`meetnet ingest` and PostgreSQL; then `meetnet import` of that recording into a fresh database.
Both databases must hold the same measurements, exactly, and the same uplinks and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from simulator import MODELS, read
from tests.conftest import Broker, free_port, fresh_database

pytestmark = pytest.mark.slow

# Every fault the simulator knows, each often enough to occur in a few hundred uplinks.
FAULTS = {
    "duplicate": 0.05,
    "malformed_json": 0.03,
    "truncated_payload": 0.03,
    "garbled_payload": 0.03,
    "unknown_device": 0.03,
    "wrong_f_port": 0.03,
    "f_cnt_reset": 0.02,
    "late": 0.03,
    "out_of_order": 0.03,
    "burst": 0.01,
}


@pytest.fixture
def fresh_db_url(template_database: str) -> Iterator[str]:
    """A second fresh database, for the import."""
    with fresh_database(template_database) as url:
        yield url


def _fleet_file(path: Path, app: str) -> Path:
    groups = "".join(
        f'[[devices]]\nmodel = "{name}"\ncount = 2\ninterval = "15m"\n\n' for name in sorted(MODELS)
    )
    path.write_text(
        f'seed = 11\napplication_id = "{app}"\nenvelope = "tts"\n'
        f"area = [5.0914, 52.0607, 5.1514, 52.1207]\n\n{groups}"
    )
    return path


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "_total "):
                return float(line.split()[-1])
    return 0.0


def _wait_until_ingested(port: int, messages: int, log: Path) -> None:
    """Every published message counted, which ingest does once its batch committed."""
    deadline = time.monotonic() + 90
    received = -1.0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            received = _metric(port, "meetnet_ingest_messages_received")
        if received == messages:
            return
        time.sleep(0.2)
    raise AssertionError(f"ingest took {received} of {messages} messages\n{log.read_text()}")


async def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(url)
    try:
        queries = {
            "measurements": """
                SELECT d.dev_eui, q.key, m.sensor, m.time, m.value FROM measurements m
                JOIN devices d ON d.id = m.device_id JOIN quantities q ON q.id = m.quantity_id
                ORDER BY 1, 2, 3, 4""",
            "latest": """
                SELECT d.dev_eui, q.key, l.sensor, l.time, l.value FROM latest l
                JOIN devices d ON d.id = l.device_id JOIN quantities q ON q.id = l.quantity_id
                ORDER BY 1, 2, 3""",
            "uplinks": """
                SELECT d.dev_eui, u.idempotency_key, u.received_at, u.f_port, u.f_cnt, u.payload,
                       u.rssi, u.snr, u.spreading_factor, u.frequency, u.gateway_count, u.topic,
                       u.decoder, u.decoder_version, u.decode_error, u.state::text
                FROM uplinks u JOIN devices d ON d.id = u.device_id ORDER BY 2""",
            "dead_letters": """
                SELECT fingerprint, topic, payload, stage, reason, dev_eui, count
                FROM dead_letters ORDER BY 1""",
            "devices": """
                SELECT dev_eui, name, application_id, model, device_profile, latitude, longitude,
                       first_seen_at, last_seen_at FROM devices ORDER BY 1""",
            "hourly": """
                SELECT d.dev_eui, q.key, r.sensor, r.hour, r.count, r.min, r.max, r.last_time,
                       r.last_value
                FROM rollup_hourly r JOIN devices d ON d.id = r.device_id
                JOIN quantities q ON q.id = r.quantity_id ORDER BY 1, 2, 3, 4""",
        }
        return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in queries.items()}
    finally:
        await conn.close()


def test_a_recording_imports_to_exactly_what_the_live_run_stored(
    db_url: str, fresh_db_url: str, broker: Broker, tmp_path: Path
) -> None:
    app = f"rt-{uuid.uuid4().hex[:8]}"
    fleet = _fleet_file(tmp_path / "fleet.toml", app)
    recording = tmp_path / "run.jsonl"
    metrics_port = free_port()
    log = tmp_path / "ingest.log"
    env = {
        **os.environ,
        "MEETNET_DATABASE_URL": db_url,
        "MEETNET_MQTT_URL": broker.url,
        "MEETNET_MQTT_CLIENT_ID": f"ingest-{app}",
        "MEETNET_MQTT_TOPICS": f"v3/{app}@ttn/devices/+/#",
        "MEETNET_BATCH_INTERVAL_MS": "50",
        "MEETNET_BATCH_SIZE": "100",
        "MEETNET_METRICS_PORT": str(metrics_port),
        "MEETNET_METRICS_HOST": "127.0.0.1",
    }
    with log.open("ab") as out:
        ingest = subprocess.Popen(
            [sys.executable, "-m", "meetnet", "ingest"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while b"connected to MQTT broker" not in log.read_bytes():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        fault_args = [a for name, rate in FAULTS.items() for a in ("--fault", f"{name}={rate}")]
        simulate = subprocess.run(
            [sys.executable, "-m", "meetnet", "simulate", "--fleet", str(fleet),
             "--mode", "backfill", "--start", "2025-03-14T06:00:00Z", "--duration", "8h",
             *fault_args, "--record", str(recording)],
            env={**env, "MEETNET_MQTT_URL": broker.url}, capture_output=True, timeout=120,
        )  # fmt: skip
        assert simulate.returncode == 0, simulate.stderr.decode()
        recorded = list(read(recording))
        _wait_until_ingested(metrics_port, len(recorded), log)
    finally:
        ingest.send_signal(signal.SIGTERM)
        assert ingest.wait(timeout=30) == 0, log.read_text()

    imported = subprocess.run(
        [sys.executable, "-m", "meetnet", "import", str(recording)],
        env={**env, "MEETNET_DATABASE_URL": fresh_db_url}, capture_output=True, timeout=120,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr.decode()

    live, again = asyncio.run(_rows(db_url)), asyncio.run(_rows(fresh_db_url))

    # The run is what it should be, counted from the recording's own fault labels.
    faults = Counter(r.fault for r in recorded)
    assert all(faults[name] > 0 for name in FAULTS if name != "burst"), faults  # burst: unlabelled
    assert len(live["uplinks"]) == len(recorded) - faults["duplicate"] - faults["malformed_json"]
    stages = Counter[str]()
    for row in live["dead_letters"]:
        stages[row[3]] += row[6]
    assert stages["parse"] == faults["malformed_json"]
    assert stages["decode"] >= faults["truncated_payload"]
    assert len(live["measurements"]) > 3 * len(live["uplinks"])

    # ... and the import gives the same, exactly.
    for name in ("measurements", "latest", "uplinks", "dead_letters", "hourly"):
        assert again[name] == live[name], name
    # The writer moves last_seen_at forward only once a device is a minute behind (network
    # time), so where it stops depends on batch boundaries; everything else agrees.
    assert [d[:8] for d in again["devices"]] == [d[:8] for d in live["devices"]]
    for a, b in zip(again["devices"], live["devices"], strict=True):
        assert abs(a[8] - b[8]) <= timedelta(seconds=60)
