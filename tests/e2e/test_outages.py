"""Outages with real processes: the database restarted, the broker restarted, garbage flooding in.

Every case publishes at QoS 1 and then counts: each good uplink stored exactly once, each bad
message dead-lettered with a reason, and the ingest process still running.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from simulator import publish
from tests.conftest import Broker, PrivatePostgres, free_port
from tests.e2e.test_spine import IngestProcess, _count, _fleet_uplinks, _wait

pytestmark = pytest.mark.slow


def _ingest(db_url: str, broker: Broker, tmp_path: Path) -> tuple[IngestProcess, str]:
    app = f"out-{uuid.uuid4().hex[:8]}"
    process = IngestProcess(db_url, broker, app, tmp_path / "ingest.log")
    process.env["MEETNET_METRICS_PORT"] = "0"
    return process, app


def _alive(process: IngestProcess) -> bool:
    return process.process is not None and process.process.poll() is None


def _publish_raw(broker: Broker, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    infos = [client.publish(topic, body, qos=1) for topic, body in messages]
    for info in infos:
        info.wait_for_publish(timeout=30)
    client.disconnect()
    client.loop_stop()


def test_postgres_restart_mid_stream(
    private_postgres: PrivatePostgres, broker: Broker, tmp_path: Path
) -> None:
    url = private_postgres.url
    ingest, app = _ingest(url, broker, tmp_path)
    ingest.start()
    total = 3000
    uplinks = _fleet_uplinks(app, devices=40, count=total)
    publisher = threading.Thread(target=publish, args=(uplinks, "127.0.0.1", broker.port))
    publisher.start()
    _wait(lambda: _count(url, "SELECT count(*) FROM uplinks") >= 200, 30, ingest.log)
    private_postgres.stop()
    time.sleep(2)  # an outage, not a blip: ingest must stop taking and back off
    assert _alive(ingest)
    private_postgres.start()
    publisher.join(timeout=60)
    _wait(lambda: _count(url, "SELECT count(*) FROM uplinks") == total, 90, ingest.log)

    assert _alive(ingest)
    assert _count(url, "SELECT count(DISTINCT idempotency_key) FROM uplinks") == total
    assert _count(url, "SELECT count(*) FROM measurements") == 3 * total
    assert _count(url, "SELECT count(*) FROM dead_letters") == 0
    assert b"database unavailable" in ingest.log.read_bytes()
    ingest.signal(15)


def test_broker_restart_with_persistence(db_url: str, tmp_path: Path) -> None:
    own = Broker(free_port(), tmp_path / "broker")
    own.workdir.mkdir()
    own.start()
    try:
        ingest, app = _ingest(db_url, own, tmp_path)
        ingest.start()
        uplinks = _fleet_uplinks(app, devices=30, count=3000)
        publish(uplinks[:2000], "127.0.0.1", own.port)  # all confirmed by the broker
        _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") >= 100, 30, ingest.log)
        own.stop()  # SIGTERM: mosquitto writes its persistence file (queued + in flight)
        own.start()
        publish(uplinks[2000:], "127.0.0.1", own.port)
        _wait(lambda: _count(db_url, "SELECT count(*) FROM uplinks") == 3000, 60, ingest.log)
        assert _alive(ingest)
        assert _count(db_url, "SELECT count(DISTINCT idempotency_key) FROM uplinks") == 3000
        assert _count(db_url, "SELECT count(*) FROM measurements") == 9000
        assert b"lost the MQTT broker" in ingest.log.read_bytes()
        ingest.signal(15)
    finally:
        own.stop()


def test_flood_of_bad_messages_among_good_ones(db_url: str, broker: Broker, tmp_path: Path) -> None:
    ingest, app = _ingest(db_url, broker, tmp_path)
    ingest.env["MEETNET_MQTT_TOPICS"] = (
        f"v3/{app}@ttn/devices/+/#,application/{app}/device/+/event/+"
    )
    ingest.start()
    good = _fleet_uplinks(app, devices=20, count=1000)
    bad: list[tuple[str, bytes]] = []
    for i in range(300):
        topic = f"v3/{app}@ttn/devices/bad-{i}/up"
        kind = i % 5
        if kind == 0:  # malformed JSON
            bad.append((topic, b'{"end_device_ids": ' + str(i).encode()))
        elif kind == 1:  # truncated CayenneLPP frame: parsed, not decodable
            doc = orjson.loads(good[i].body)
            doc["uplink_message"]["frm_payload"] = base64.b64encode(b"\x01\x67\x00").decode()
            doc["correlation_ids"] = [f"as:up:BAD{i:023d}"]
            bad.append((good[i].topic, orjson.dumps(doc)))
        elif kind == 2:  # not a device at all
            doc = {"end_device_ids": {"dev_eui": f"nope-{i}"}, "uplink_message": {}}
            bad.append((topic, orjson.dumps(doc)))
        elif kind == 3:  # binary garbage on a ChirpStack topic
            bad.append(
                (f"application/{app}/device/{i:016x}/event/up", bytes([0x0A, 0xFF, i % 256]))
            )
        else:  # an event type nobody defined
            bad.append((f"v3/{app}@ttn/devices/bad-{i}/bogus", b"{}"))
    # Well-formed, but holding what the database cannot: the uplink ends as a store-stage dead
    # letter, its batch neighbours are stored. And a time that its offset carries past 9999.
    unstorable = []
    for i in range(5):
        doc = orjson.loads(good[900 + i].body)
        doc["uplink_message"]["settings"]["frequency"] = str(2**70)
        doc["correlation_ids"] = [f"as:up:HUGE{i:022d}"]
        unstorable.append((good[900 + i].topic, orjson.dumps(doc)))
        doc["uplink_message"]["received_at"] = "9999-12-31T23:59:59-01:00"
        doc["correlation_ids"] = [f"as:up:LATE{i:022d}"]
        bad.append((good[900 + i].topic, orjson.dumps(doc)))
    bad += unstorable
    mixed: list[tuple[str, bytes]] = []
    for i, uplink in enumerate(good):
        mixed.append((uplink.topic, uplink.body))
        if i < len(bad):
            mixed.append(bad[i])
    _publish_raw(broker, mixed)
    expect_letters = len(bad)
    _wait(
        lambda: (
            _count(db_url, "SELECT coalesce(sum(count), 0) FROM dead_letters") == expect_letters
        ),
        60,
        ingest.log,
    )
    # The truncated frames are kept as raw uplinks too (with their decode error).
    undecodable = sum(1 for i in range(300) if i % 5 == 1)
    _wait(
        lambda: _count(db_url, "SELECT count(*) FROM uplinks") == len(good) + undecodable,
        30,
        ingest.log,
    )
    assert _alive(ingest)
    assert _count(db_url, "SELECT count(*) FROM uplinks WHERE decode_error IS NULL") == len(good)
    assert _count(db_url, "SELECT count(*) FROM measurements") == 3 * len(good)
    assert _count(db_url, "SELECT count(*) FROM dead_letters WHERE reason = ''") == 0
    assert _count(db_url, "SELECT count(*) FROM dead_letters WHERE stage = 'decode'") == undecodable
    reason = "could not store the uplink: OverflowError: value out of int64 range"
    unstored = f"SELECT count(*) FROM dead_letters WHERE stage = 'store' AND reason = '{reason}'"
    assert _count(db_url, unstored) == len(unstorable)
    ingest.signal(15)


def test_sigterm_while_the_database_is_down_leaves_messages_with_the_broker(
    private_postgres: PrivatePostgres, broker: Broker, tmp_path: Path
) -> None:
    url = private_postgres.url
    ingest, app = _ingest(url, broker, tmp_path)
    ingest.start()
    private_postgres.stop()
    uplinks = _fleet_uplinks(app, devices=5, count=200)
    publish(uplinks, "127.0.0.1", broker.port)
    _wait(lambda: b"database unavailable" in ingest.log.read_bytes(), 30, ingest.log)
    assert ingest.signal(15) == 0  # exits promptly without committing or acknowledging
    assert b"stopping while the database is unavailable" in ingest.log.read_bytes()
    private_postgres.start()
    ingest.start()  # the broker kept every unacknowledged message in the session
    _wait(lambda: _count(url, "SELECT count(*) FROM uplinks") == 200, 30, ingest.log)
    assert _count(url, "SELECT count(*) FROM measurements") == 600
    ingest.signal(15)
