"""From message to outcome: decoded uplinks, decode dead letters, parse dead letters, skips."""

from __future__ import annotations

import base64
import dataclasses

import orjson

from decoders import DECODERS, Decoded, Measurement
from ingest.envelopes import Router
from ingest.model import DeadLetter, DecodedUplink, DeviceEvent, Ignored, Stage, Uplink
from ingest.pipeline import Pipeline, Skipped

TOPIC = "v3/city-air@ttn/devices/air-07/up"


def _message(frm_payload: bytes, f_port: int = 2, **uplink: object) -> bytes:
    return orjson.dumps(
        {
            "end_device_ids": {"device_id": "air-07", "dev_eui": "70B3D57ED0061A2B"},
            "correlation_ids": ["as:up:01J9Z0B7Q3T4K8WQ1N5H2C6D7E"],
            "uplink_message": {
                "f_port": f_port,
                "f_cnt": 7,
                "frm_payload": base64.b64encode(frm_payload).decode(),
                "received_at": "2025-03-14T08:15:02.309955614Z",
                **uplink,
            },
        }
    )


def test_cayenne_uplink_is_decoded() -> None:
    (outcome,) = Pipeline().process(TOPIC, _message(bytes.fromhex("016700e102684f")))
    assert isinstance(outcome, DecodedUplink)
    assert outcome.decoder == "cayenne_lpp"
    assert outcome.decoder_version == "1.0.0"
    assert outcome.measurements == (
        Measurement("air_temperature", 22.5, sensor=1),
        Measurement("relative_humidity", 39.5, sensor=2),
    )
    assert outcome.decode_error is None


def test_undecodable_payload_keeps_the_uplink_and_dead_letters_it() -> None:
    body = _message(bytes.fromhex("036701"))
    uplink, letter = Pipeline().process(TOPIC, body)
    assert isinstance(uplink, DecodedUplink) and uplink.measurements == ()
    reason = "cayenne_lpp 1.0.0: truncated CayenneLPP type 103 on channel 3: needs 2 bytes, 1 left"
    assert uplink.decode_error == reason
    assert letter == DeadLetter(TOPIC, body, Stage.DECODE, reason, "70B3D57ED0061A2B")


def test_malformed_json_is_a_parse_dead_letter() -> None:
    (outcome,) = Pipeline().process(TOPIC, b"{not json")
    assert isinstance(outcome, DeadLetter)
    assert outcome.stage is Stage.PARSE
    assert outcome.reason.startswith("not JSON")
    assert outcome.payload == b"{not json"


def test_downlink_event_is_skipped_on_purpose() -> None:
    topic = "v3/city-air@ttn/devices/air-07/down/sent"
    assert Pipeline().process(topic, b"{}") == (Skipped(topic, "The Things Stack down/sent event"),)


def test_mac_only_uplink_is_stored_without_decoding() -> None:
    body = orjson.dumps(
        {
            "end_device_ids": {"dev_eui": "70B3D57ED0061A2B"},
            "uplink_message": {"f_cnt": 8, "received_at": "2025-03-14T08:15:02Z"},
        }
    )
    (outcome,) = Pipeline().process(TOPIC, body)
    assert isinstance(outcome, DecodedUplink)
    assert (outcome.decoder, outcome.measurements, outcome.decode_error) == (None, (), None)


def test_no_decoder_keeps_the_raw_uplink() -> None:
    (outcome,) = Pipeline(default_decoder=None).process(TOPIC, _message(b"\x01\x02"))
    assert isinstance(outcome, DecodedUplink)
    assert (outcome.decoder, outcome.measurements) == (None, ())
    assert outcome.uplink.payload == b"\x01\x02"


def test_registered_decoder_wins_over_default() -> None:
    pipeline = Pipeline(default_decoder=None, registered={"70B3D57ED0061A2B": "cayenne_lpp"})
    (outcome,) = pipeline.process(TOPIC, _message(bytes.fromhex("03670110")))
    assert isinstance(outcome, DecodedUplink)
    assert outcome.measurements == (Measurement("air_temperature", 27.2, sensor=3),)


def _failing(payload: bytes, f_port: int) -> Decoded:
    """A decoder with a bug: frames shorter than 10 bytes divide by zero."""
    return Decoded((Measurement("air_temperature", 1 / len(payload[9:]), sensor=1),))


def test_a_decoder_bug_dead_letters_the_message_and_the_next_one_decodes() -> None:
    failing = dataclasses.replace(DECODERS["cayenne_lpp"], key="failing", decode=_failing)
    codecs = {**DECODERS, "failing": failing}
    pipeline = Pipeline(default_decoder="failing", codecs=codecs)
    body = _message(bytes.fromhex("016700e1"))
    kept, letter = pipeline.process(TOPIC, body)
    assert isinstance(kept, DecodedUplink) and kept.measurements == ()
    assert isinstance(letter, DeadLetter)
    assert letter.stage is Stage.DECODE
    assert letter.reason == "failing 1.0.0: unexpected error: ZeroDivisionError: division by zero"
    assert kept.decode_error == letter.reason
    (good,) = Pipeline().process(TOPIC, body)
    assert isinstance(good, DecodedUplink) and len(good.measurements) == 1


class _BrokenRouter(Router):
    def parse(self, topic: str, payload: bytes) -> Uplink | DeviceEvent | Ignored:
        raise KeyError("uplink_message")


def test_a_parser_bug_dead_letters_the_message() -> None:
    body = _message(bytes.fromhex("016700e1"))
    (letter,) = Pipeline(router=_BrokenRouter()).process(TOPIC, body)
    assert letter == DeadLetter(
        TOPIC, body, Stage.PARSE, "unexpected error in the parser: KeyError: 'uplink_message'"
    )
