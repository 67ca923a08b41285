"""Every envelope topic handled on purpose: TTS events, ChirpStack v4 JSON and protobuf, v3."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from chirpstack_api import integration
from google.protobuf import json_format

from decoders import Measurement
from ingest.envelopes import PARSERS, Format, Router, Subscription, parse_untitled
from ingest.model import DeadLetter, DecodedUplink, DeviceEvent, EventKind, Radio, Stage, Uplink
from ingest.pipeline import Pipeline, Skipped

CS_TOPIC = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/70b3d57ed0061a2b/event/{}"

# formats.md §2.2, verbatim.
CS_UP: dict[str, Any] = {
    "deduplicationId": "5f2c1a7e-3b44-4e0f-9a61-2d8e7c0b9f13",
    "time": "2025-03-14T08:15:02.318442+00:00",
    "deviceInfo": {
        "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
        "tenantName": "Gemeente",
        "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
        "applicationName": "city-air",
        "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
        "deviceProfileName": "acme-air-q1",
        "deviceName": "air-07",
        "devEui": "70b3d57ed0061a2b",
        "deviceClassEnabled": "CLASS_A",
        "tags": {"district": "centrum"},
    },
    "devAddr": "00189440",
    "adr": True,
    "dr": 3,
    "fCnt": 4711,
    "fPort": 2,
    "confirmed": False,
    "data": "AWcA4QJoTwNzJ+U=",
    "object": {
        "temperatureSensor": {"1": 22.5},
        "humiditySensor": {"2": 39.5},
        "barometer": {"3": 1021.3},
    },
    "rxInfo": [
        {
            "gatewayId": "b827ebfffe6a1c2d",
            "uplinkId": 4217106255,
            "nsTime": "2025-03-14T08:15:02.101Z",
            "rssi": -97,
            "snr": 6.25,
            "channel": 4,
            "location": {"latitude": 52.0907, "longitude": 5.1214},
            "context": "E3OWOQ==",
            "metadata": {"region_config_id": "eu868", "region_common_name": "EU868"},
            "crcStatus": "CRC_OK",
        }
    ],
    "txInfo": {
        "frequency": 867300000,
        "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 9, "codeRate": "CR_4_5"}},
    },
}
AT = datetime(2025, 3, 14, 8, 15, 2, 318442, tzinfo=UTC)
EXPECTED = (
    Measurement("air_temperature", 22.5, sensor=1),
    Measurement("relative_humidity", 39.5, sensor=2),
    Measurement("barometric_pressure", 1021.1, sensor=3),
)


def _decoded(topic: str, body: bytes, pipeline: Pipeline | None = None) -> DecodedUplink:
    (outcome,) = (pipeline or Pipeline()).process(topic, body)
    assert isinstance(outcome, DecodedUplink), outcome
    return outcome


def _check_cs_uplink(uplink: Uplink) -> None:
    assert uplink.idempotency_key == "cs:5f2c1a7e-3b44-4e0f-9a61-2d8e7c0b9f13"
    assert uplink.dev_eui == "70B3D57ED0061A2B"
    assert uplink.received_at == AT
    assert (uplink.f_port, uplink.f_cnt) == (2, 4711)
    assert uplink.payload == base64.b64decode("AWcA4QJoTwNzJ+U=")
    assert uplink.device_profile == "acme-air-q1"
    assert uplink.device_name == "air-07"
    assert uplink.radio == Radio(
        rssi=-97, snr=6.25, spreading_factor=9, frequency=867300000, gateway_count=1
    )
    assert uplink.network_decoded == CS_UP["object"]


def test_chirpstack_v4_json_uplink() -> None:
    outcome = _decoded(CS_TOPIC.format("up"), orjson.dumps(CS_UP))
    _check_cs_uplink(outcome.uplink)
    assert [m.quantity for m in outcome.measurements] == [m.quantity for m in EXPECTED]


def test_chirpstack_v4_protobuf_uplink() -> None:
    event = json_format.ParseDict(CS_UP, integration.UplinkEvent(), ignore_unknown_fields=True)
    body = event.SerializeToString()
    assert body[:1] != b"{"
    outcome = _decoded(CS_TOPIC.format("up"), body)
    _check_cs_uplink(outcome.uplink)


def test_chirpstack_defaults_omitted() -> None:
    """Older ChirpStack and nested gw messages drop default values (formats.md §2.2)."""
    doc = {"time": "2025-03-14T08:15:02Z", "deviceInfo": {"devEui": "70b3d57ed0061a2b"}}
    outcome = _decoded(CS_TOPIC.format("up"), orjson.dumps(doc))
    assert outcome.uplink.idempotency_key == "70B3D57ED0061A2B:0:2025-03-14T08:15:02+00:00"
    assert (outcome.uplink.f_port, outcome.uplink.payload, outcome.decoder) == (0, b"", None)


def test_chirpstack_status_is_a_battery_event() -> None:
    doc = {
        "deduplicationId": "d1",
        "time": "2025-03-14T08:15:02Z",
        "deviceInfo": {"devEui": "70b3d57ed0061a2b", "deviceName": "air-07"},
        "margin": 7,
        "externalPowerSource": False,
        "batteryLevel": 87.5,
    }
    for body in (
        orjson.dumps(doc),
        json_format.ParseDict(doc, integration.StatusEvent()).SerializeToString(),
    ):
        (event,) = Pipeline().process(CS_TOPIC.format("status"), body)
        assert isinstance(event, DeviceEvent)
        assert (event.kind, event.dev_eui, event.battery_level) == (
            EventKind.STATUS,
            "70B3D57ED0061A2B",
            87.5,
        )
        assert event.at == datetime(2025, 3, 14, 8, 15, 2, tzinfo=UTC)


def test_chirpstack_join_location_and_log() -> None:
    info = {"devEui": "70b3d57ed0061a2b"}
    join = {"deduplicationId": "j", "time": "2025-03-14T08:00:00Z", "deviceInfo": info}
    (event,) = Pipeline().process(CS_TOPIC.format("join"), orjson.dumps(join))
    assert isinstance(event, DeviceEvent) and event.kind is EventKind.JOIN
    where = {
        **join,
        "location": {"latitude": 52.1, "longitude": 5.1, "source": "GEO_RESOLVER_TDOA"},
    }
    (event,) = Pipeline().process(CS_TOPIC.format("location"), orjson.dumps(where))
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.latitude, event.longitude) == (EventKind.LOCATION, 52.1, 5.1)
    log = {"time": "2025-03-14T08:00:00Z", "deviceInfo": info, "level": "ERROR",
           "code": "UPLINK_CODEC", "description": "JS error"}  # fmt: skip
    assert Pipeline().process(CS_TOPIC.format("log"), orjson.dumps(log)) == (
        Skipped(CS_TOPIC.format("log"), "ChirpStack log event"),
    )
    for event_name in ("ack", "txack", "integration"):
        topic = CS_TOPIC.format(event_name)
        (skipped,) = Pipeline().process(topic, b"{}")
        assert isinstance(skipped, Skipped)


def test_chirpstack_v3_json_v3_uplink() -> None:
    doc = {
        "applicationID": "12",
        "applicationName": "city-air",
        "deviceName": "air-07",
        "deviceProfileName": "acme-air-q1",
        "deviceProfileID": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
        "devEUI": "70b3d57ed0061a2b",
        "rxInfo": [
            {
                "gatewayID": "b827ebfffe6a1c2d",
                "time": "2025-03-14T08:15:02.318442Z",
                "rssi": -101,
                "loRaSNR": 4.5,
                "name": "gw",
            }
        ],
        "txInfo": {"frequency": 868100000, "dr": 5},
        "adr": True,
        "fCnt": 10,
        "fPort": 2,
        "data": "AWcA4QJoTwNzJ+U=",
        "object": {"temperatureSensor": {"1": 22.5}},
        "tags": {},
    }
    topic = "application/12/device/70b3d57ed0061a2b/event/up"
    body = orjson.dumps(doc)
    outcome = _decoded(topic, body)
    assert outcome.uplink.dev_eui == "70B3D57ED0061A2B"
    assert outcome.uplink.received_at == AT
    assert outcome.uplink.radio.snr == 4.5 and outcome.uplink.radio.rssi == -101
    assert outcome.uplink.device_profile == "acme-air-q1"
    assert outcome.uplink.idempotency_key.startswith("cs3:")
    assert _decoded(topic, body).uplink.idempotency_key == outcome.uplink.idempotency_key
    # Configured explicitly as v3 too.
    router = Router((Subscription.parse("application/+/device/+/event/+=chirpstack_v3"),))
    assert Pipeline(router=router).process(topic, body)[0] == outcome


def test_tts_join_and_location_solved() -> None:
    ids = {"device_id": "air-07", "dev_eui": "70B3D57ED0061A2B"}
    join = {"end_device_ids": ids, "received_at": "2025-03-14T08:00:00Z", "join_accept": {}}
    topic = "v3/city-air@ttn/devices/air-07/join"
    (event,) = Pipeline().process(topic, orjson.dumps(join))
    assert isinstance(event, DeviceEvent) and event.kind is EventKind.JOIN
    solved = {
        "end_device_ids": ids,
        "received_at": "2025-03-14T08:00:00Z",
        "location_solved": {
            "service": "lora-cloud",
            "location": {"latitude": 52.09, "longitude": 5.12, "source": "SOURCE_GPS"},
        },
    }
    topic = "v3/city-air@ttn/devices/air-07/location/solved"
    (event,) = Pipeline().process(topic, orjson.dumps(solved))
    assert isinstance(event, DeviceEvent)
    assert (event.latitude, event.longitude, event.location_source) == (52.09, 5.12, "SOURCE_GPS")


@pytest.mark.parametrize(
    "suffix",
    ["down/queued", "down/sent", "down/ack", "down/nack", "down/failed", "service/data"],
)
def test_tts_other_topics_are_skipped(suffix: str) -> None:
    topic = f"v3/city-air@ttn/devices/air-07/{suffix}"
    (outcome,) = Pipeline().process(topic, b'{"end_device_ids": {}}')
    assert outcome == Skipped(topic, f"The Things Stack {suffix} event")


def test_tts_payload_location_used_when_no_registered_one() -> None:
    doc = {
        "end_device_ids": {"dev_eui": "70B3D57ED0061A2B"},
        "uplink_message": {
            "received_at": "2025-03-14T08:15:02Z",
            "locations": {"frm-payload": {"latitude": 52.0, "longitude": 5.0}},
        },
    }
    uplink = _decoded("v3/a@ttn/devices/x/up", orjson.dumps(doc)).uplink
    assert (uplink.latitude, uplink.longitude) == (52.0, 5.0)


def test_topic_formats_are_configuration() -> None:
    router = Router(
        (
            Subscription.parse("$share/meetnet/custom/+/uplink=tts"),
            Subscription.parse("cs/#=chirpstack_json"),
        )
    )
    assert router.format_of("custom/a/uplink") is Format.TTS
    assert router.format_of("cs/x") is Format.CHIRPSTACK_JSON
    with pytest.raises(ValueError, match="unknown envelope format"):
        Subscription.parse("x/#=lorawan")
    (letter,) = Pipeline(router=router).process("elsewhere/x", b"{}")
    assert isinstance(letter, DeadLetter) and letter.stage is Stage.PARSE
    assert letter.reason == "topic 'elsewhere/x' matches no envelope format"


def test_every_format_has_a_parser_and_the_defaults_follow_the_topic() -> None:
    assert set(PARSERS) == set(Format) - {Format.AUTO}
    router = Router((Subscription.parse("v3/special/#=chirpstack_json"),))
    assert router.format_of("v3/city@ttn/devices/x/up") is Format.TTS
    assert router.format_of("application/1/device/70b3d57ed0061a2b/event/up") is Format.CHIRPSTACK
    assert router.format_of("v3/special/devices/x/up") is Format.CHIRPSTACK_JSON
    assert router.format_of("v3") is Format.AUTO
    assert router.format_of("v3x/a") is Format.AUTO


def test_garbage_on_chirpstack_topics_is_dead_lettered() -> None:
    topic = CS_TOPIC.format("up")
    for body, reason in [
        (b"\x0a\xff\xff", "not a ChirpStack up protobuf"),
        (b"{", "not JSON"),
        (orjson.dumps({**CS_UP, "deviceInfo": {"devEui": "nope"}}), "deviceInfo.devEui 'nope'"),
        (orjson.dumps({**CS_UP, "data": "!!"}), "data is not valid base64"),
    ]:
        (letter,) = Pipeline().process(topic, body)
        assert isinstance(letter, DeadLetter), body
        assert letter.reason.startswith(reason)
    (letter,) = Pipeline().process(CS_TOPIC.format("bogus"), b"{}")
    assert isinstance(letter, DeadLetter)


def test_untitled_bodies_tell_their_format() -> None:
    cs = parse_untitled(orjson.dumps(copy.deepcopy(CS_UP)))
    assert isinstance(cs, Uplink) and cs.idempotency_key.startswith("cs:")
