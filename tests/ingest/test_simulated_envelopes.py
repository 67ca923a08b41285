"""The simulator's envelopes (TTS, ChirpStack JSON and protobuf) parse and decode without a
single dead letter: the two sides of the wire agree."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from ingest.model import DecodedUplink
from ingest.pipeline import Pipeline
from simulator import Fleet
from simulator.spec import FleetSpec, Group


@pytest.mark.parametrize("envelope", ["tts", "chirpstack-json", "chirpstack-protobuf"])
def test_simulated_envelopes_parse(envelope: str) -> None:
    spec = FleetSpec((Group("climate", 5),), seed=4, application_id="sim", envelope=envelope)
    fleet = Fleet(spec=spec)
    start = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)
    pipeline = Pipeline()
    for uplink in itertools.islice(fleet.stream(start=start, interval_s=60), 25):
        (outcome,) = pipeline.process(uplink.topic, uplink.body)
        assert isinstance(outcome, DecodedUplink), outcome
        assert outcome.decode_error is None
        assert outcome.uplink.dev_eui == uplink.device.dev_eui.upper()
        assert outcome.uplink.received_at == uplink.received_at
        assert {(m.quantity, m.sensor, m.value) for m in outcome.measurements} == {
            (m.quantity, m.sensor, m.value) for m in uplink.measurements
        }
