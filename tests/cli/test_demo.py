"""`meetnet demo` as a user meets it: it says where everything is, the broker it started takes an
uplink published by hand, a second demo on the same data is refused, and after `kill -9` the next
demo cleans up what the killed one left and, at its own end, stops everything it ran."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.cli.conftest import assert_fails_with, meetnet
from tests.conftest import free_port

pytestmark = pytest.mark.slow

EXAMPLE_DEV_EUI = "0004A30B001C0530"  # the device of the uplink the demo shows how to publish


class Demo:
    """One `meetnet demo` process with embedded services, its output in a log file."""

    def __init__(self, data_dir: Path, port: int, log: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEETNET_")}
        self.env["MEETNET_DEMO_DATA_DIR"] = str(data_dir)
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start it and return its announcement, once the API serves."""
        command = [sys.executable, "-m", "meetnet", "demo", "--port", str(self.port)]
        command += ["--devices", "4", "--rate", "4"]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait(lambda: "Press Ctrl-C to stop." in self.output(), 90, self.output)
        return self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


def _wait(condition: Callable[[], bool], timeout_s: float, say: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s:\n{say()}")
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _pid(path: Path) -> int:
    return int(path.read_text().split()[0])


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(response.status), bytes(response.read())


def _address(announcement: str, label: str) -> str:
    match = re.search(rf"^  {label}:\s+(\S+)", announcement, re.MULTILINE)
    assert match, announcement
    return match[1]


def _latest(api: str) -> list[dict[str, object]]:
    try:
        status, body = _get(f"{api}/v1/devices/{EXAMPLE_DEV_EUI}")
    except urllib.error.HTTPError:
        return []
    latest: list[dict[str, object]] = json.loads(body)["latest"]
    return latest if status == 200 else []


@pytest.fixture
def demos(server_dir: Path) -> Iterator[list[Demo]]:
    """Demos a test starts (with their data in `server_dir`); whatever of theirs still runs at
    the end is stopped."""
    started: list[Demo] = []
    yield started
    data = server_dir / "data"
    for demo in started:
        if demo.process is not None and demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait()
    broker_pid = data / "mosquitto" / "mosquitto.pid"
    if broker_pid.exists() and _alive(_pid(broker_pid)):
        os.kill(_pid(broker_pid), signal.SIGTERM)
    postmaster = data / "pgdata" / "postmaster.pid"
    if postmaster.exists() and _alive(_pid(postmaster)):
        os.kill(_pid(postmaster), signal.SIGQUIT)  # PostgreSQL's immediate shutdown


def test_demo_serves_what_it_prints_and_restarts_cleanly_after_kill_9(
    tmp_path: Path, server_dir: Path, demos: list[Demo]
) -> None:
    data, port = server_dir / "data", free_port()
    api = f"http://127.0.0.1:{port}"
    first = Demo(data, port, tmp_path / "first.log")
    demos.append(first)
    shown = first.start()

    # Every address it prints answers.
    assert _address(shown, "API docs") == f"{api}/docs"
    assert _get(f"{api}/v1/devices")[0] == 200
    metrics = _get(_address(shown, "Metrics"))[1].decode()
    assert "meetnet_" in metrics
    broker = _address(shown, "MQTT broker")
    assert re.fullmatch(r"mqtt://127\.0\.0\.1:\d+", broker), broker
    assert _address(shown, "Database").startswith("postgresql://")
    # ... and the command it gives for publishing an uplink by hand works as printed.
    command = next(line.strip() for line in shown.splitlines() if "mosquitto_pub" in line)
    assert f"-p {broker.rsplit(':', 1)[1]} " in command
    subprocess.run(["sh", "-c", command], check=True, timeout=30)
    _wait(lambda: bool(_latest(api)), 30, first.output)
    assert [(v["quantity"], v["value"]) for v in _latest(api)] == [("air_temperature", 22.5)]
    # Its CayenneLPP air-quality device (one of 4) reports NO2 as such, through its profile.
    no2 = _address(shown, "Air quality")
    assert no2 == f"{api}/v1/latest?quantity=no2"

    def no2_items() -> list[dict[str, object]]:
        items: list[dict[str, object]] = json.loads(_get(no2)[1])["items"]
        return items

    _wait(lambda: len(no2_items()) == 1, 30, first.output)

    # A second demo on the same data is refused while the first runs.
    second = meetnet(
        "demo", "--port", str(free_port()), env={"MEETNET_DEMO_DATA_DIR": str(data)}, timeout=60
    )
    assert_fails_with(second, 1, f"another meetnet demo (pid {first.pid}) is running", str(data))

    # kill -9: nothing of the demo's own clean-up runs; its broker and database outlive it.
    assert first.process is not None
    first.process.kill()
    first.process.wait(timeout=10)
    stale_broker = _pid(data / "mosquitto" / "mosquitto.pid")
    postgres = _pid(data / "pgdata" / "postmaster.pid")
    assert _alive(stale_broker) and _alive(postgres)

    # The next demo starts on the same port, stops the stale broker, keeps the data.
    third = Demo(data, port, tmp_path / "third.log")
    demos.append(third)
    shown = third.start()
    assert not _alive(stale_broker)
    new_broker = _pid(data / "mosquitto" / "mosquitto.pid")
    assert new_broker != stale_broker and _alive(new_broker)
    assert _get(f"{api}/v1/devices")[0] == 200
    assert [(v["quantity"], v["value"]) for v in _latest(api)] == [("air_temperature", 22.5)]
    assert "Traceback" not in third.output()

    # Ctrl-C: it stops everything, the database the killed demo had started included.
    assert third.process is not None
    third.process.send_signal(signal.SIGINT)
    assert third.process.wait(timeout=60) == 0, third.output()
    _wait(lambda: not _alive(postgres), 10, third.output)
    assert not _alive(new_broker)
    assert not (data / "demo.pid").exists()
    assert "Traceback" not in third.output()
