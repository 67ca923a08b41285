"""Time sanity: a measurement more than the allowed clock skew after the network's received_at,
or before 2000, is not stored but dead-lettered with its value; the uplink keeps its frame."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta

import orjson

from decoders import DECODERS, Decoded, Measurement
from ingest.model import DeadLetter, DecodedUplink, Stage
from ingest.pipeline import Pipeline
from ingest.tts import parse_common_uplink, parse_uplink_doc

TOPIC = "v3/city-air@ttn/devices/logger-01/up"
DEV_EUI = "70B3D57ED0061A2B"
RECEIVED = datetime(2025, 3, 14, 8, 15, 2, 309955, tzinfo=UTC)

# A data logger's frame: readings with the device's own timestamps, as a datalog or a
# normalized payload carries them.
LOGGED = (
    Measurement("air_temperature", 21.5, time=RECEIVED + timedelta(minutes=10)),  # at the limit
    Measurement("air_temperature", 21.6, time=RECEIVED + timedelta(minutes=10, microseconds=1)),
    Measurement("air_temperature", 19.25, time=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    Measurement("air_temperature", 19.5, time=datetime(2000, 1, 1, tzinfo=UTC)),
    Measurement("relative_humidity", 40.0),  # no time of its own: received_at
)


def _logger_pipeline(**options: object) -> Pipeline:
    codec = dataclasses.replace(
        DECODERS["cayenne_lpp"], key="logger", version="1", decode=lambda _p, _f: Decoded(LOGGED)
    )
    return Pipeline(codecs={"logger": codec}, registered={DEV_EUI: "logger"}, **options)  # type: ignore[arg-type]


def _message(uplink_at: str = "2025-03-14T08:15:02.309955Z", **envelope: object) -> bytes:
    return orjson.dumps(
        {
            "end_device_ids": {"device_id": "logger-01", "dev_eui": DEV_EUI},
            "correlation_ids": ["as:up:01J9Z0B7Q3T4K8WQ1N5H2C6D7E"],
            "uplink_message": {
                "f_port": 2,
                "f_cnt": 7,
                "frm_payload": base64.b64encode(b"\x01").decode(),
                "received_at": uplink_at,
            },
            **envelope,
        }
    )


def test_measurements_after_received_at_plus_skew_or_before_2000_are_dead_lettered() -> None:
    body = _message()
    uplink, letter = _logger_pipeline().process(TOPIC, body)
    assert isinstance(uplink, DecodedUplink)
    assert uplink.measurements == (LOGGED[0], LOGGED[3], LOGGED[4])
    assert uplink.uplink.payload == b"\x01" and uplink.decode_error is None
    reason = (
        "2 measurement(s) not stored, their time being more than 600 s after the network's "
        "received_at 2025-03-14T08:15:02.309955+00:00 or before 2000: "
        "air_temperature[0] = 21.6 at 2025-03-14T08:25:02.309956+00:00; "
        "air_temperature[0] = 19.25 at 1999-12-31T23:59:59+00:00"
    )
    assert letter == DeadLetter(TOPIC, body, Stage.DECODE, f"logger 1: {reason}", DEV_EUI)
    assert orjson.loads(uplink.state_json or "") == {"warnings": [reason]}


def test_the_skew_is_configurable() -> None:
    uplink, letter = _logger_pipeline(max_clock_skew=timedelta(0)).process(TOPIC, _message())
    assert isinstance(uplink, DecodedUplink) and isinstance(letter, DeadLetter)
    assert uplink.measurements == (LOGGED[3], LOGGED[4])
    assert letter.reason.startswith("logger 1: 3 measurement(s) not stored")
    lenient, before_2000 = _logger_pipeline(max_clock_skew=timedelta(days=1)).process(
        TOPIC, _message()
    )
    assert isinstance(lenient, DecodedUplink) and isinstance(before_2000, DeadLetter)
    assert lenient.measurements == (LOGGED[0], LOGGED[1], LOGGED[3], LOGGED[4])
    assert before_2000.reason.startswith("logger 1: 1 measurement(s) not stored")


def test_a_network_time_before_2000_refuses_measurements_without_their_own_time() -> None:
    uplink, letter = Pipeline().process(TOPIC, _cayenne("1970-01-01T00:00:00Z"))
    assert isinstance(uplink, DecodedUplink) and uplink.measurements == ()
    assert isinstance(letter, DeadLetter) and letter.reason == (
        "cayenne_lpp 1.0.0: 1 measurement(s) not stored, their time being more than 600 s after "
        "the network's received_at 1970-01-01T00:00:00+00:00 or before 2000: "
        "air_temperature[1] = 22.5 at 1970-01-01T00:00:00+00:00"
    )


def _cayenne(uplink_at: str, **envelope: object) -> bytes:
    doc = orjson.loads(_message(uplink_at, **envelope))
    doc["uplink_message"]["frm_payload"] = base64.b64encode(bytes.fromhex("016700e1")).decode()
    return orjson.dumps(doc)


def test_a_simulated_uplink_takes_the_application_servers_time() -> None:
    """`SimulateUplink` messages carry the caller's `uplink_message`; only the Application
    Server's `received_at` is a real time (formats.md §1.3)."""
    body = _cayenne("2031-01-01T00:00:00Z", simulated=True, received_at="2025-03-14T08:15:03.5Z")
    (outcome,) = Pipeline().process(TOPIC, body)
    assert isinstance(outcome, DecodedUplink)
    assert outcome.uplink.received_at == datetime(2025, 3, 14, 8, 15, 3, 500000, tzinfo=UTC)
    assert outcome.uplink.simulated is True
    assert outcome.measurements == (Measurement("air_temperature", 22.5, sensor=1),)
    assert orjson.loads(outcome.state_json or "") == {"simulated": True}
    # Both TTS readers agree; a real uplink keeps the Network Server's time.
    assert parse_common_uplink(body) == parse_uplink_doc(orjson.loads(body))
    real = _cayenne("2025-03-14T08:15:02Z", received_at="2025-03-14T08:15:03.5Z")
    (kept,) = Pipeline().process(TOPIC, real)
    assert isinstance(kept, DecodedUplink) and kept.uplink.simulated is False
    assert kept.uplink.received_at == datetime(2025, 3, 14, 8, 15, 2, tzinfo=UTC)
