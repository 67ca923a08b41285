"""The Things Stack v3 envelope parser: the documented example, omitted fields, bad input."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingest.model import ParseError, Radio, Uplink
from ingest.tts import (
    is_uplink_topic,
    load,
    parse_common_uplink,
    parse_uplink,
    parse_uplink_doc,
)
from simulator import Fleet

EXAMPLE_EUI = "70B3D57ED0061A2B"

# formats.md §1.5, verbatim.
EXAMPLE = {
    "end_device_ids": {
        "device_id": "air-07",
        "application_ids": {"application_id": "city-air"},
        "dev_eui": "70B3D57ED0061A2B",
        "join_eui": "0000000000000000",
        "dev_addr": "260B4C1D",
    },
    "correlation_ids": ["as:up:01J9Z0B7Q3T4K8WQ1N5H2C6D7E", "gs:uplink:01J9Z0B7N9M2P4R6S8T0V2W4X6"],
    "received_at": "2025-03-14T08:15:02.514387211Z",
    "uplink_message": {
        "session_key_id": "AY9u6q4mD1yJ4tq1YcZ6kA==",
        "f_port": 2,
        "f_cnt": 4711,
        "frm_payload": "AWcA4QJoTwNzJ+U=",
        "decoded_payload": {
            "temperature_1": 22.5,
            "relative_humidity_2": 39.5,
            "barometric_pressure_3": 1021.2999877929688,
        },
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": "gw-townhall", "eui": "B827EBFFFE6A1C2D"},
                "time": "2025-03-14T08:15:02.281Z",
                "timestamp": 1832204411,
                "rssi": -97,
                "channel_rssi": -97,
                "snr": 6.25,
                "channel_index": 4,
                "received_at": "2025-03-14T08:15:02.301Z",
            },
            {
                "gateway_ids": {"gateway_id": "gw-station", "eui": "AA555A0000000101"},
                "timestamp": 2202113009,
                "rssi": -114,
                "channel_rssi": -114,
                "snr": -3.5,
                "channel_index": 4,
            },
        ],
        "settings": {
            "data_rate": {
                "lora": {"bandwidth": 125000, "spreading_factor": 9, "coding_rate": "4/5"}
            },
            "frequency": "867300000",
            "timestamp": 1832204411,
            "time": "2025-03-14T08:15:02.281Z",
        },
        "received_at": "2025-03-14T08:15:02.309955614Z",
        "consumed_airtime": "0.205824s",
        "version_ids": {
            "brand_id": "acme",
            "model_id": "air-q1",
            "hardware_version": "1.0",
            "firmware_version": "1.2",
            "band_id": "EU_863_870",
        },
    },
}


def _body(doc: object) -> bytes:
    return orjson.dumps(doc)


def test_documented_example() -> None:
    uplink = parse_uplink(_body(EXAMPLE))
    assert uplink.idempotency_key == "tts:as:up:01J9Z0B7Q3T4K8WQ1N5H2C6D7E"
    assert uplink.dev_eui == "70B3D57ED0061A2B"
    # The network server's reception time, not the AS time and not the gateway time.
    assert uplink.received_at == datetime(2025, 3, 14, 8, 15, 2, 309955, tzinfo=UTC)
    assert (uplink.f_port, uplink.f_cnt) == (2, 4711)
    assert uplink.payload == base64.b64decode("AWcA4QJoTwNzJ+U=")
    assert uplink.device_name == "air-07"
    assert uplink.application_id == "city-air"
    assert uplink.model == "acme/air-q1"
    assert uplink.radio == Radio(
        rssi=-97.0, snr=6.25, spreading_factor=9, frequency=867300000, gateway_count=2
    )


def test_every_optional_field_omitted() -> None:
    """TTS drops fields that are empty, 0 or false: f_port 0, f_cnt 0, no payload, no radio."""
    minimal = {
        "end_device_ids": {"dev_eui": "70b3d57ed0061a2b"},
        "uplink_message": {"received_at": "2025-03-14T08:15:02Z"},
    }
    uplink = parse_uplink(_body(minimal))
    assert uplink.dev_eui == "70B3D57ED0061A2B"
    assert (uplink.f_port, uplink.f_cnt, uplink.payload) == (0, 0, b"")
    assert uplink.radio == Radio()
    assert uplink.model is None and uplink.device_name is None
    assert uplink.idempotency_key == "70B3D57ED0061A2B:0:2025-03-14T08:15:02+00:00"


def test_top_level_received_at_is_the_fallback() -> None:
    doc = {
        "end_device_ids": {"dev_eui": "70B3D57ED0061A2B"},
        "received_at": "2025-03-14T08:15:03Z",
        "uplink_message": {"f_port": 1},
    }
    assert parse_uplink(_body(doc)).received_at == datetime(2025, 3, 14, 8, 15, 3, tzinfo=UTC)


def test_registered_location_is_taken() -> None:
    doc = orjson.loads(_body(EXAMPLE))
    doc["uplink_message"]["locations"] = {
        "user": {"latitude": 52.09, "longitude": 5.12, "source": "SOURCE_REGISTRY"}
    }
    uplink = parse_uplink(_body(doc))
    assert (uplink.latitude, uplink.longitude) == (52.09, 5.12)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ("{not json", None),
        ([], "expected a JSON object, got list"),
        ({"end_device_ids": {"dev_eui": "70B3D57ED0061A2B"}}, "no uplink_message: not an uplink"),
        (
            {"uplink_message": {"received_at": "2025-03-14T08:15:02Z"}},
            "end_device_ids.dev_eui is missing",
        ),
        (
            {"end_device_ids": {"dev_eui": "XYZ"}, "uplink_message": {}},
            "end_device_ids.dev_eui 'XYZ' is not 16 hex digits",
        ),
        (
            {"end_device_ids": {"dev_eui": "70B3D57ED0061A2B"}, "uplink_message": {}},
            "neither uplink_message.received_at nor received_at is present",
        ),
        (
            {
                "end_device_ids": {"dev_eui": "70B3D57ED0061A2B"},
                "uplink_message": {"received_at": "yesterday"},
            },
            "uplink_message.received_at 'yesterday' is not an RFC 3339 timestamp",
        ),
        (
            {
                "end_device_ids": {"dev_eui": "70B3D57ED0061A2B"},
                "uplink_message": {"received_at": "9999-12-31T23:59:59-01:00"},
            },
            "uplink_message.received_at '9999-12-31T23:59:59-01:00' is outside the years 1 to "
            "9999 in UTC",
        ),
        (
            {
                "end_device_ids": {"dev_eui": "70B3D57ED0061A2B"},
                "uplink_message": {"received_at": "2025-03-14T08:15:02Z", "frm_payload": "!!"},
            },
            "uplink_message.frm_payload is not valid base64",
        ),
        (
            {
                "end_device_ids": {"dev_eui": "70B3D57ED0061A2B"},
                "uplink_message": {"received_at": "2025-03-14T08:15:02Z", "f_cnt": -1},
            },
            "f_cnt is not an unsigned 32-bit integer: -1",
        ),
        (
            {
                "end_device_ids": {"dev_eui": "70B3D57ED0061A2B"},
                "uplink_message": {"received_at": "2025-03-14T08:15:02Z", "rx_metadata": {}},
            },
            "uplink_message.rx_metadata is not a list",
        ),
    ],
    ids=[
        "not json",
        "array",
        "no uplink",
        "no dev_eui",
        "bad dev_eui",
        "no time",
        "bad time",
        "time beyond the calendar",
        "bad base64",
        "negative f_cnt",
        "rx_metadata object",
    ],
)
def test_bad_envelopes(doc: object, reason: str | None) -> None:
    body = doc.encode() if isinstance(doc, str) else _body(doc)
    with pytest.raises(ParseError) as caught:
        parse_uplink(body)
    if reason is not None:
        assert caught.value.reason == reason
    else:
        assert caught.value.reason.startswith("not JSON")


@pytest.mark.parametrize(
    ("topic", "uplink"),
    [
        ("v3/city-air@ttn/devices/air-07/up", True),
        ("v3/city-air@ttn/devices/air-07/join", False),
        ("v3/city-air@ttn/devices/air-07/down/sent", False),
        ("v3/city-air@ttn/devices/air-07/service/data", False),
        ("v3/city-air@ttn/devices/air-07/location/solved", False),
    ],
)
def test_topics(topic: str, uplink: bool) -> None:
    assert is_uplink_topic(topic) is uplink


@pytest.mark.parametrize("topic", ["application/1/device/x/event/up", "v3/a/devices/x/bogus"])
def test_foreign_topics_are_parse_errors(topic: str) -> None:
    with pytest.raises(ParseError):
        is_uplink_topic(topic)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_json)
def test_arbitrary_json_raises_only_parse_error(doc: object) -> None:
    with contextlib.suppress(ParseError):
        parse_uplink(json.dumps(doc).encode())


@given(st.datetimes(), st.integers(-23 * 60 - 59, 23 * 60 + 59))
@example(datetime(9999, 12, 31, 23, 59, 59), -60)
@example(datetime(1, 1, 1, 0, 0), 60)
def test_any_calendar_time_with_any_offset_parses_or_is_refused(
    moment: datetime, offset_minutes: int
) -> None:
    """Also at the ends of the calendar, where the offset carries the time beyond them."""
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = f"{moment.isoformat()}{sign}{hours:02d}:{minutes:02d}"
    doc = {
        "end_device_ids": {"dev_eui": "70B3D57ED0061A2B"},
        "uplink_message": {"received_at": text},
    }
    try:
        uplink = parse_uplink(_body(doc))
    except ParseError as exc:
        assert exc.reason.endswith("is outside the years 1 to 9999 in UTC")
    else:
        assert uplink.received_at == datetime.fromisoformat(text)


@given(
    st.fixed_dictionaries(
        {
            "end_device_ids": st.fixed_dictionaries(
                {"dev_eui": st.sampled_from(["70B3D57ED0061A2B"])}
            ),
            "uplink_message": st.dictionaries(
                st.sampled_from(
                    [
                        "f_port",
                        "f_cnt",
                        "frm_payload",
                        "rx_metadata",
                        "settings",
                        "received_at",
                        "locations",
                    ]
                ),
                _json,
            ),
        }
    )
)
def test_arbitrary_uplink_fields_raise_only_parse_error(doc: dict[str, object]) -> None:
    with contextlib.suppress(ParseError):
        parse_uplink(json.dumps(doc).encode())


# --- the typed reader of the common uplink against the general parser --------------------------

_ABSENT = object()


def _field(valid: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """A value the general parser takes, or the field left out (TTS omits empty fields)."""
    return st.one_of(valid, valid, valid, st.just(_ABSENT))


def _object(**fields: st.SearchStrategy[object]) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries({k: _field(v) for k, v in fields.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not _ABSENT}
    )


_number = st.one_of(st.integers(-150, 20), st.floats(-150, 20))
_envelopes = st.fixed_dictionaries(
    {
        "end_device_ids": _object(
            device_id=st.text(max_size=8),
            application_ids=_object(application_id=st.text(max_size=8)),
        ).map(lambda ids: {**ids, "dev_eui": "70b3d57ed0061a2b"}),
        "uplink_message": _object(
            f_port=st.integers(0, 255),
            f_cnt=st.integers(0, 2**32 - 1),
            frm_payload=st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode()),
            rx_metadata=st.lists(_object(rssi=_number, channel_rssi=_number, snr=_number)),
            settings=_object(
                data_rate=_object(lora=_object(spreading_factor=st.integers(0, 12))),
                frequency=st.sampled_from(["867300000", " 868100000", "868_100_000", 868100000]),
            ),
            locations=st.dictionaries(
                st.sampled_from(["user", "frm-payload", "gps", "zz"]),
                _object(latitude=st.floats(-100, 100), longitude=st.floats(-200, 200)),
                max_size=3,
            ),
            version_ids=_object(brand_id=st.text(max_size=4), model_id=st.text(max_size=4)),
            decoded_payload=st.dictionaries(st.text(max_size=4), _json, max_size=3),
        ).map(lambda up: {**up, "received_at": "2025-03-14T08:15:02.309955614Z"}),
        "correlation_ids": st.lists(st.sampled_from(["as:up:01J9Z0B7Q3", "gs:uplink:01J9"])),
        "received_at": st.just("2025-03-14T09:15:03+01:00"),
    },
    optional={"simulated": st.booleans()},
)
# What a field may be replaced with: beyond a bound, of a wrong type, empty, absurd.
_DEFECTS = [
    None, -1, 2**32, 2**64, 1.5, 1e7, -1e7, 1e300, True, "", "x", "8.6e8",
    "2025-13-01T00:00:00Z", "2025-03-14T08:15:02", "9999-12-31T23:59:59-01:00", "70B3D57ED0061A2",
    "!!", "AWcA4QJoTwNzJ+U",
    [], {}, [1], {"a": 1},
]  # fmt: skip
_defects = st.one_of(st.sampled_from(_DEFECTS), _json)


def _general(body: bytes) -> Uplink | None:
    try:
        return parse_uplink_doc(load(body))
    except ParseError:
        return None


def _assert_same(body: bytes) -> Uplink | None:
    common, general = parse_common_uplink(body), _general(body)
    if common is not None:
        assert common == general
        assert general is not None and common.network_decoded == general.network_decoded
    if general is None:
        assert common is None
    return common


def _paths(doc: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path to a value inside a document's objects and arrays."""
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    found: list[tuple[str | int, ...]] = []
    for key, value in items:
        found.append((*path, key))
        found += _paths(value, (*path, key))
    return found


def _replace(doc: object, path: tuple[str | int, ...], value: object) -> None:
    *parents, key = path
    node: Any = doc
    for step in parents:
        node = node[step]
    node[key] = value


def test_every_field_with_every_defect() -> None:
    """Each value of a complete envelope, replaced by each defect in turn."""
    complete = orjson.loads(_body(EXAMPLE))
    complete["uplink_message"]["locations"] = {"user": {"latitude": 52.09, "longitude": 5.12}}
    assert _assert_same(_body(complete)) is not None
    for path in _paths(complete):
        for defect in _DEFECTS:
            doc = copy.deepcopy(complete)
            _replace(doc, path, defect)
            _assert_same(json.dumps(doc).encode())


@settings(max_examples=400)
@given(_envelopes, st.data())
def test_typed_reader_answers_only_as_the_general_parser_would(
    doc: dict[str, object], data: st.DataObject
) -> None:
    """Envelopes the general parser takes, with up to two fields then replaced by a defect: the
    typed reader answers as the general parser does, or leaves the decision to it."""
    for _ in range(data.draw(st.integers(0, 2))):
        if paths := _paths(doc):
            _replace(doc, data.draw(st.sampled_from(paths)), data.draw(_defects))
    _assert_same(json.dumps(doc).encode())


def test_typed_reader_takes_the_common_uplinks() -> None:
    """It must actually answer for what networks send, or it saves nothing."""
    with_location = orjson.loads(_body(EXAMPLE))
    with_location["uplink_message"]["locations"] = {
        "frm-payload": {"latitude": 91, "longitude": 5.0},
        "user": {"latitude": 52.09, "longitude": 5.12},
    }
    for doc in (EXAMPLE, with_location):
        uplink = _assert_same(_body(doc))
        assert uplink is not None
    assert uplink is not None and (uplink.latitude, uplink.longitude) == (52.09, 5.12)
    fleet = Fleet(20, seed=1)
    for _ in range(100):
        sent = next(fleet.stream(interval_s=0))
        assert _assert_same(sent.body) is not None


@pytest.mark.parametrize(
    ("body", "common_answers", "general_answers"),
    [
        # Later keys win in both, also for whole objects.
        (
            b'{"end_device_ids":{"dev_eui":"70B3D57ED0061A2B"},"uplink_message":{"f_port":1},'
            b'"uplink_message":{"received_at":"2025-03-14T08:15:02Z","f_port":3,"f_port":4}}',
            True,
            True,
        ),
        # Valid UTF-8 outside ASCII.
        (
            '{"end_device_ids":{"dev_eui":"70B3D57ED0061A2B","device_id":"straße"},'
            '"uplink_message":{"received_at":"2025-03-14T08:15:02Z"}}'.encode(),
            True,
            True,
        ),
        # Invalid UTF-8 in a field neither reads: orjson refuses the body, so the typed reader
        # leaves it to the general parser.
        (
            b'{"end_device_ids":{"dev_eui":"70B3D57ED0061A2B"},"x":"\xff",'
            b'"uplink_message":{"received_at":"2025-03-14T08:15:02Z"}}',
            False,
            False,
        ),
        # A number out of range in a field neither reads: valid JSON, which only the typed
        # reader takes (the documented difference).
        (
            b'{"end_device_ids":{"dev_eui":"70B3D57ED0061A2B"},"x":1e400,'
            b'"uplink_message":{"received_at":"2025-03-14T08:15:02Z"}}',
            True,
            False,
        ),
        # Out of range where it is read: refused by both.
        (
            b'{"end_device_ids":{"dev_eui":"70B3D57ED0061A2B"},"uplink_message":'
            b'{"received_at":"2025-03-14T08:15:02Z","rx_metadata":[{"rssi":1e400}]}}',
            False,
            False,
        ),
        (
            b'{"end_device_ids":{"dev_eui":"70B3D57ED0061A2B"},"uplink_message":'
            b'{"received_at":"2025-03-14T08:15:02Z","rx_metadata":[{"rssi":-1e7}]}}',
            False,
            False,
        ),
        # A frequency written as a float: only the general parser reads it.
        (
            b'{"end_device_ids":{"dev_eui":"70B3D57ED0061A2B"},"uplink_message":'
            b'{"received_at":"2025-03-14T08:15:02Z","settings":{"frequency":8.681e8}}}',
            False,
            True,
        ),
    ],
    ids=[
        "repeated keys",
        "utf-8 name",
        "invalid utf-8",
        "1e400 unread",
        "1e400 rssi",
        "rssi beyond bound",
        "float frequency",
    ],
)
def test_typed_reader_edges(body: bytes, common_answers: bool, general_answers: bool) -> None:
    common = parse_common_uplink(body)
    assert (common is not None) is common_answers
    assert (_general(body) is not None) is general_answers
    if common_answers and general_answers:
        _assert_same(body)
    if common_answers:  # what ingest does with it
        assert parse_uplink(body) == common
