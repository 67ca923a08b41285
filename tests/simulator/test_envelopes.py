"""Envelopes: TTS parses with the ingest parser, ChirpStack round-trips through chirpstack_api."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime

import orjson
from chirpstack_api import integration
from google.protobuf import json_format

from ingest.tts import parse_uplink
from simulator import MODELS, Fleet, FleetSpec, Group

START = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)


def fleet(envelope: str) -> Fleet:
    return Fleet(spec=FleetSpec(tuple(Group(m, 3) for m in MODELS), seed=11, envelope=envelope))


def test_tts_envelopes_parse_with_the_ingest_parser() -> None:
    uplinks = list(itertools.islice(fleet("tts").timeline(START), 500))
    assert len(uplinks) == 500
    for u in uplinks:
        assert u.frame is not None
        parsed = parse_uplink(u.body, u.topic)
        assert parsed.dev_eui == u.device.dev_eui
        assert parsed.received_at == u.received_at
        assert (parsed.f_port, parsed.f_cnt, parsed.payload) == (
            u.frame.f_port,
            u.f_cnt,
            u.frame.payload,
        )
        assert parsed.idempotency_key.startswith("tts:as:up:")
        assert parsed.radio.gateway_count == len(u.frame.reception.heard)
        assert parsed.radio.spreading_factor == u.frame.reception.spreading_factor
        assert parsed.radio.rssi == max(h.rssi for h in u.frame.reception.heard)
        assert (parsed.latitude, parsed.longitude) == (u.device.latitude, u.device.longitude)
        assert u.topic == f"v3/meetnet-demo@ttn/devices/{u.device.device_id}/up"


def test_tts_omits_defaults_as_tts_does() -> None:
    uplinks = list(itertools.islice(fleet("tts").timeline(START), 300))
    assert len(uplinks) == 300
    for u in uplinks:
        doc = orjson.loads(u.body)
        up = doc["uplink_message"]
        assert up["rx_metadata"]  # heard by at least one gateway, so the loop below checks
        assert "confirmed" not in up  # false is omitted
        assert len(doc["correlation_ids"]) == 7
        for rx in up["rx_metadata"]:
            assert rx.get("channel_index", None) != 0  # 0 is omitted, never written
            assert "snr" not in rx or rx["snr"] != 0
        assert isinstance(up["settings"]["frequency"], str)  # uint64 as a JSON string
        assert up["consumed_airtime"].endswith("s")
    # a frame counter of 0 (after a reset) is omitted too
    f = fleet("tts")
    u = next(f.timeline(START))
    assert u.frame is not None
    from dataclasses import replace

    reset = f.render(replace(u.frame, f_cnt=0))
    assert "f_cnt" not in orjson.loads(reset.body)["uplink_message"]
    assert parse_uplink(reset.body).f_cnt == 0


def test_chirpstack_json_is_a_valid_uplink_event_and_matches_protobuf() -> None:
    as_json = list(itertools.islice(fleet("chirpstack-json").timeline(START), 300))
    as_proto = list(itertools.islice(fleet("chirpstack-protobuf").timeline(START), 300))
    assert len(as_json) == 300
    for j, p in zip(as_json, as_proto, strict=True):
        assert j.frame is not None
        # strict: an unknown or misspelt field would raise
        event = json_format.Parse(j.body, integration.UplinkEvent())
        binary = integration.UplinkEvent()
        binary.ParseFromString(p.body)
        assert event == binary
        assert j.topic == p.topic
        app = event.device_info.application_id
        assert j.topic == f"application/{app}/device/{event.device_info.dev_eui}/event/up"
        assert event.device_info.dev_eui == j.device.dev_eui.lower()
        assert event.f_cnt == j.f_cnt and event.f_port == j.frame.f_port
        assert event.data == j.frame.payload
        assert event.time.ToDatetime(tzinfo=UTC) == j.received_at
        assert len(event.rx_info) == len(j.frame.reception.heard)
        assert event.tx_info.modulation.lora.spreading_factor == j.frame.reception.spreading_factor
        assert event.dr == 12 - j.frame.reception.spreading_factor
        doc = orjson.loads(j.body)
        assert base64.b64decode(doc["data"]) == j.frame.payload
        assert {"fCnt", "fPort", "adr", "confirmed", "deduplicationId"} <= set(doc)
        for rx in doc["rxInfo"]:
            assert rx.get("channel", None) != 0  # nested gw messages drop defaults
