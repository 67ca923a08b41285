"""Record to JSON Lines and replay in order with the recorded relative timing (fake clock)."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from simulator import FaultInjector, Fleet, FleetSpec, Group, Recorder, paced, read
from simulator.recording import RecordingError, parse_line

START = datetime(2025, 3, 14, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_record_then_replay_gives_the_same_bytes_in_order(tmp_path: Path) -> None:
    fleet = Fleet(
        spec=FleetSpec((Group("climate", 3), Group("noise", 3)), envelope="chirpstack-protobuf")
    )
    faulty = FaultInjector(fleet, {"late": 0.05, "duplicate": 0.05})
    path = tmp_path / "run.jsonl"
    with path.open("wb") as out:
        recorder = Recorder(out)
        sent = list(recorder.tee(faulty.apply(itertools.islice(fleet.timeline(START), 400))))
    back = list(read(path))
    assert len(sent) == 400 + faulty.injected["duplicate"] and faulty.injected["late"] > 0
    assert [(r.topic, r.body) for r in back] == [(u.topic, u.body) for u in sent]
    assert [r.at for r in back] == [u.published_at for u in sent]
    assert [r.fault for r in back] == [u.fault for u in sent]


def test_replay_keeps_relative_timing_at_any_speed() -> None:
    fleet = Fleet(spec=FleetSpec((Group("climate", 4),), seed=1))
    uplinks = list(fleet.timeline(START, START + timedelta(hours=1)))
    buffer = io.BytesIO()
    recorder = Recorder(buffer)
    for u in uplinks:
        recorder.write(u)
    lines = [parse_line(line) for line in buffer.getvalue().splitlines()]
    for speed in (1.0, 60.0):
        clock = FakeClock()
        released = []
        for r in paced(lines, speed, lambda r: r.at, clock=clock, sleep=clock.sleep):
            released.append((r, clock.now))
        assert [r for r, _ in released] == lines
        origin = released[0][1]
        for r, wall in released:
            assert r.at is not None
            expected = (r.at - lines[0].at).total_seconds() / speed  # type: ignore[operator]
            assert abs((wall - origin) - expected) < 1e-6
    clock = FakeClock()
    assert len(list(paced(lines, 0, lambda r: r.at, clock=clock, sleep=clock.sleep))) == len(lines)
    assert clock.sleeps == []


def test_captures_from_network_servers_are_read(tmp_path: Path) -> None:
    tts = Fleet(spec=FleetSpec((Group("climate", 2),), seed=1))
    cs = Fleet(spec=FleetSpec((Group("climate", 2),), seed=1, envelope="chirpstack-json"))
    a, b = itertools.islice(tts.timeline(START), 2)
    c = next(cs.timeline(START))
    storage = b'{"result": ' + a.body + b"}"
    capture = tmp_path / "capture.jsonl"
    capture.write_bytes(
        storage + b"\n" + b.body + b"\n" + c.body + b"\n" + c.topic.encode() + b" " + c.body + b"\n"
    )
    got = list(read(capture))
    assert [r.topic for r in got] == [a.topic, b.topic, c.topic, c.topic]
    assert orjson.loads(got[0].body) == orjson.loads(a.body)
    assert got[1].body == b.body and got[2].body == c.body and got[3].body == c.body
    assert [r.at for r in got][2:] == [c.received_at, c.received_at]
    assert got[0].at is not None and got[0].at > a.received_at  # the AS time, a little later


def test_mqtt_message_lines_and_lines_of_the_wrong_shape() -> None:
    body = {
        "end_device_ids": {"dev_eui": "0004A30B001C0530"},
        "received_at": "2025-03-14T00:00:00Z",
    }
    as_object = parse_line(orjson.dumps({"topic": "v3/a@ttn/devices/d/up", "payload": body}))
    as_text = parse_line(orjson.dumps({"topic": "t", "payload": '{"x": 1}'}))
    assert (as_object.topic, orjson.loads(as_object.body)) == ("v3/a@ttn/devices/d/up", body)
    assert as_object.at == datetime(2025, 3, 14, tzinfo=UTC)
    assert (as_text.topic, as_text.body, as_text.at) == ("t", b'{"x": 1}', None)
    bad = {
        b'{"topic": "t", "body_b64": "not base64!"}': "Error",
        b'{"end_device_ids": "not an object", "uplink_message": {}}': "AttributeError",
        b'{"deviceInfo": {}, "fCnt": 1}': "KeyError",
        b'{"neither": 1}': "neither a recording line",
        b"\xff\xfe {}": "UnicodeDecodeError",  # mosquitto_sub -v with a topic of no UTF-8
    }
    for line, reason in bad.items():
        with pytest.raises(RecordingError, match=reason):
            parse_line(line)
