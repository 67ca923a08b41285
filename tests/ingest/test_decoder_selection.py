"""Which decoder an uplink gets inside the pipeline: model, profile, network object, default."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from decoders import Measurement
from ingest.model import DecodedUplink
from ingest.pipeline import Pipeline

TOPIC = "v3/city@ttn/devices/lht-1/up"
CS_TOPIC = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/a84041000181c61a/event/up"
# Dragino LHT65 vendor example "Temperature" (tests/decoders/vectors/dragino-lht65.json).
LHT65_FRAME = bytes.fromhex("cbf60b0d0376010add7fff")
LHT65_VALUES = (
    Measurement("battery_voltage", 3.062),
    Measurement("air_temperature", 28.29),
    Measurement("relative_humidity", 88.6),
    Measurement("air_temperature", 27.81, sensor=1),
)


def _tts(frame: bytes, **uplink: Any) -> bytes:
    return orjson.dumps(
        {
            "end_device_ids": {"device_id": "lht-1", "dev_eui": "A84041000181C61A"},
            "correlation_ids": ["as:up:01J9Z0B7Q3T4K8WQ1N5H2C6D7F"],
            "uplink_message": {
                "f_port": 2,
                "f_cnt": 12,
                "frm_payload": base64.b64encode(frame).decode(),
                "received_at": "2025-03-14T08:15:02Z",
                **uplink,
            },
        }
    )


def _decoded(topic: str, body: bytes, pipeline: Pipeline) -> DecodedUplink:
    (outcome,) = pipeline.process(topic, body)
    assert isinstance(outcome, DecodedUplink)
    return outcome


def test_tts_version_ids_pick_the_native_decoder() -> None:
    body = _tts(LHT65_FRAME, version_ids={"brand_id": "dragino", "model_id": "lht65"})
    outcome = _decoded(TOPIC, body, Pipeline())
    assert (outcome.decoder, outcome.decoder_version) == ("dragino_lht65", "1.0.0")
    assert outcome.measurements == LHT65_VALUES


def test_chirpstack_device_profile_picks_the_native_decoder() -> None:
    body = orjson.dumps(
        {
            "deduplicationId": "5f2c1a7e-3b44-4e0f-9a61-2d8e7c0b9f14",
            "time": "2025-03-14T08:15:02.318442+00:00",
            "deviceInfo": {"devEui": "a84041000181c61a", "deviceProfileName": "Dragino LHT65"},
            "fCnt": 12,
            "fPort": 2,
            "data": base64.b64encode(LHT65_FRAME).decode(),
        }
    )
    outcome = _decoded(CS_TOPIC, body, Pipeline())
    assert outcome.decoder == "dragino_lht65"
    assert outcome.measurements == LHT65_VALUES


def test_network_object_is_mapped_when_nothing_names_the_device() -> None:
    normalized = {"air": {"temperature": 20.5, "relativeHumidity": 31.0}, "battery": 3.1}
    body = _tts(b"\x00\x01", decoded_payload=normalized)
    outcome = _decoded(TOPIC, body, Pipeline(default_decoder=None))
    assert (outcome.decoder, outcome.decoder_version) == ("fieldmap:tts_normalized", "2")
    assert set(outcome.measurements) == {
        Measurement("air_temperature", 20.5),
        Measurement("relative_humidity", 31.0),
        Measurement("battery_voltage", 3.1),
    }


def test_tts_cayenne_object_is_decoded_from_the_frame_without_float32_artefacts() -> None:
    lpp = base64.b64decode("AWcA4QJoTwNzJ+U=")
    tts_object = {
        "temperature_1": 22.5,
        "relative_humidity_2": 39.5,
        "barometric_pressure_3": 1021.2999877929688,
    }
    outcome = _decoded(TOPIC, _tts(lpp, decoded_payload=tts_object), Pipeline(default_decoder=None))
    assert outcome.decoder == "cayenne_lpp"
    assert [m.value for m in outcome.measurements] == [22.5, 39.5, 1021.3]


def test_default_decoder_comes_last_and_none_means_no_decoder() -> None:
    lpp = bytes.fromhex("03670110")
    assert _decoded(TOPIC, _tts(lpp), Pipeline()).measurements == (
        Measurement("air_temperature", 27.2, sensor=3),
    )
    raw = _decoded(TOPIC, _tts(lpp), Pipeline(default_decoder=None))
    assert (raw.decoder, raw.measurements, raw.decode_error) == (None, (), None)
    assert raw.uplink.payload == lpp


def test_what_is_not_a_measurement_is_kept_as_state() -> None:
    body = _tts(LHT65_FRAME, version_ids={"brand_id": "dragino", "model_id": "lht65"})
    outcome = _decoded(TOPIC, body, Pipeline())
    assert orjson.loads(outcome.state_json or "null") == {
        "battery_status": 3,
        "ext_sensor": "Temperature Sensor",
    }
    plain = _decoded(TOPIC, _tts(bytes.fromhex("03670110")), Pipeline())
    assert plain.state_json is None
