"""`meetnet simulate`: publishes to a real Mosquitto, records, replays, and sums up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from meetnet.cli import app
from simulator import read
from tests.conftest import Broker

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "fleet.example.toml"


class Subscriber:
    def __init__(self, broker: Broker, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        ready = threading.Event()
        self.client.on_connect = lambda c, *_: (c.subscribe(topic, qos=1), ready.set())
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert ready.wait(5)
        time.sleep(0.2)  # let the SUBACK land

    def wait_for(self, n: int) -> None:
        deadline = time.monotonic() + 20
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_backfill_publishes_records_and_summarises(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEETNET_MQTT_URL", broker.url)
    sub = Subscriber(broker, "v3/city-sensors@ttn/devices/+/up")
    record = tmp_path / "run.jsonl"
    try:
        result = CliRunner().invoke(
            app,
            [
                "simulate",
                "--fleet",
                str(EXAMPLE),
                "--mode",
                "backfill",
                "--duration",
                "1h",
                "--fault",
                "duplicate=0.05",
                "--record",
                str(record),
            ],
        )
        assert result.exit_code == 0, result.output
        recorded = list(read(record))
        sub.wait_for(len(recorded))
        assert sub.messages == [(r.topic, r.body) for r in recorded]
    finally:
        sub.close()
    assert "faults injected" in result.output and "duplicate" in result.output
    assert "messages/s" in result.output and "parking" in result.output

    # replay the recording as fast as possible, same bytes in the same order
    sub = Subscriber(broker, "v3/city-sensors@ttn/devices/+/up")
    try:
        result = CliRunner().invoke(app, ["simulate", "--replay", str(record), "--mode", "fast"])
        assert result.exit_code == 0, result.output
        sub.wait_for(len(recorded))
        assert sub.messages == [(r.topic, r.body) for r in recorded]
    finally:
        sub.close()


def test_dry_run_chirpstack_and_bad_options(tmp_path: Path) -> None:
    record = tmp_path / "cs.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--devices",
            "3",
            "--model",
            "bin",
            "--model",
            "noise",
            "--format",
            "chirpstack-protobuf",
            "--mode",
            "fast",
            "--count",
            "50",
            "--dry-run",
            "--record",
            str(record),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = list(read(record))
    assert len(lines) == 50 and all(r.topic.startswith("application/") for r in lines)
    result = CliRunner().invoke(app, ["simulate", "--fault", "dup=0.1", "--dry-run"])
    assert result.exit_code == 2 and "unknown fault 'dup'" in result.output
