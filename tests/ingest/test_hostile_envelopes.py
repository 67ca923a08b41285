"""Every value of real envelopes replaced by each of a list of defects, through the pipeline and
into a real PostgreSQL: each message ends as at least one outcome, none of them a dead letter
for an unexpected error (a bug), and writing them either succeeds or fails with a data error
(which ingest answers by storing uplink by uplink and dead-lettering what cannot be stored)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import orjson

from ingest.model import DeadLetter, DecodedUplink, DeviceEvent
from ingest.pipeline import Pipeline
from ingest.writer import DATA_ERRORS, Writer
from simulator import Fleet
from simulator.spec import FleetSpec, Group

_DEFECTS: list[object] = [
    None, -1, 2**31, 2**32, 2**63, 2**64, 2**70, -(2**70), 1.5, 1e7, -1e7, 1e300, True, "", "x",
    "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "99999999999999999999999",
    "A" * 5000, [], {}, [1], {"a": 1},
]  # fmt: skip
_EUI = "70B3D57ED0061A2B"


def _envelopes() -> list[tuple[str, dict[str, Any]]]:
    """An uplink of each JSON family from the simulator, and the device events ingest keeps."""
    found = []
    for family in ("tts", "chirpstack-json"):
        spec = FleetSpec((Group("climate", 1),), seed=2, application_id="city", envelope=family)
        sent = next(Fleet(spec=spec).stream(interval_s=0))
        found.append((sent.topic, orjson.loads(sent.body)))
    ids = {"device_id": "air-07", "dev_eui": _EUI, "application_ids": {"application_id": "city"}}
    found += [
        ("v3/city@ttn/devices/air-07/location/solved",
         {"end_device_ids": ids, "received_at": "2025-03-14T08:15:02Z",
          "location_solved": {"service": "frm-payload",
                              "location": {"latitude": 52.1, "longitude": 5.1}}}),
        ("v3/city@ttn/devices/air-07/join",
         {"end_device_ids": ids, "received_at": "2025-03-14T08:15:02Z", "join_accept": {}}),
        (f"application/1/device/{_EUI.lower()}/event/status",
         {"deviceInfo": {"devEui": _EUI.lower(), "deviceName": "air-07"},
          "time": "2025-03-14T08:15:02Z", "margin": 7, "externalPowerSource": False,
          "batteryLevelUnavailable": False, "batteryLevel": 75.5}),
        (f"application/1/device/{_EUI.lower()}/event/join",
         {"deviceInfo": {"devEui": _EUI.lower(), "deviceName": "air-07"},
          "time": "2025-03-14T08:15:02Z", "devAddr": "00112233"}),
    ]  # fmt: skip
    return found


def _paths(doc: object, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    items: Any = ()
    if isinstance(doc, dict):
        items = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    for key, value in items:
        yield (*path, key)
        yield from _paths(value, (*path, key))


def _variants() -> Iterator[tuple[str, bytes]]:
    for topic, doc in _envelopes():
        for path in _paths(doc):
            for defect in _DEFECTS:
                variant = copy.deepcopy(doc)
                *parents, key = path
                node: Any = variant
                for step in parents:
                    node = node[step]
                node[key] = defect
                yield topic, json.dumps(variant).encode()


async def test_no_defect_in_any_field_stops_ingest(pool: asyncpg.Pool) -> None:
    writer = await Writer.connect(pool)
    pipeline = Pipeline()
    written = refused = 0
    for topic, body in _variants():
        outcomes = pipeline.process(topic, body)
        assert outcomes, body
        uplinks = [o for o in outcomes if isinstance(o, DecodedUplink)]
        letters = [o for o in outcomes if isinstance(o, DeadLetter)]
        for letter in letters:  # a reason that says what is wrong, not that the code broke
            assert letter.reason and "unexpected error" not in letter.reason, letter.reason
        try:
            await writer.write(
                uplinks, letters, [o for o in outcomes if isinstance(o, DeviceEvent)]
            )
            written += 1
        except DATA_ERRORS:
            refused += 1
    # Some variants are stored, some the database (or its types) refuse.
    assert written > 1000
    assert refused > 0
