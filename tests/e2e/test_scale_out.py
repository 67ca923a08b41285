"""Two ingest processes share one MQTT 5 shared subscription: every uplink stored exactly once."""

from __future__ import annotations

import re
import signal
import uuid
from pathlib import Path

import pytest

from simulator import publish
from tests.conftest import Broker
from tests.e2e.test_spine import IngestProcess, _count, _fleet_uplinks, _wait

pytestmark = pytest.mark.slow


def test_two_processes_share_the_load(db_url: str, broker: Broker, tmp_path: Path) -> None:
    app = f"share-{uuid.uuid4().hex[:8]}"
    workers = []
    for n in (1, 2):
        worker = IngestProcess(db_url, broker, app, tmp_path / f"ingest-{n}.log")
        worker.env["MEETNET_MQTT_CLIENT_ID"] = f"ingest-{app}-{n}"
        worker.env["MEETNET_MQTT_TOPICS"] = f"$share/meetnet/v3/{app}@ttn/devices/+/up"
        worker.env["MEETNET_METRICS_PORT"] = "0"
        worker.start()
        workers.append(worker)
    total = 2000
    uplinks = _fleet_uplinks(app, devices=25, count=total)
    publish(uplinks, "127.0.0.1", broker.port)
    _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") == total, 60, workers[0].log)
    received = []
    for worker in workers:
        assert worker.signal(signal.SIGTERM) == 0
        stopped = re.findall(rb"ingest stopped: .*'received': (\d+)", worker.log.read_bytes())
        received.append(int(stopped[-1]))
    assert sum(received) == total, received  # each message went to exactly one of them
    assert all(r > 0 for r in received), received
    assert _count(db_url, "SELECT count(DISTINCT idempotency_key) FROM uplinks") == total
    assert _count(db_url, "SELECT count(*) FROM measurements") == 3 * total
    # Both folded (concurrently, into the same rows) and stopped with nothing left queued.
    assert _count(db_url, "SELECT count(*) FROM rollup_queue") == 0
    assert _count(db_url, "SELECT sum(count) FROM rollup_hourly") == 3 * total
    assert _count(db_url, "SELECT sum(count) FROM rollup_daily") == 3 * total
    assert _count(db_url, "SELECT count(*) FROM latest") == _count(
        db_url, "SELECT count(DISTINCT (device_id, quantity_id, sensor)) FROM measurements"
    )
    stale = (
        "SELECT count(*) FROM latest l WHERE l.time <> (SELECT max(time) FROM measurements m "
        "WHERE (m.device_id, m.quantity_id, m.sensor) = (l.device_id, l.quantity_id, l.sensor))"
    )
    assert _count(db_url, stale) == 0
