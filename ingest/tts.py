"""The Things Stack v3 `ApplicationUp` JSON → `Uplink`, `DeviceEvent` or `Ignored`.

TTS omits every field that is empty, 0 or false (formats.md §1.4), so each field has a default
here; a field of the wrong type is a parse error, never an exception of another kind.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

import msgspec
import orjson

from ingest.fields import UINT32_END
from ingest.fields import float_field as _float
from ingest.fields import int_field as _int
from ingest.fields import obj_field as _obj
from ingest.fields import str_field as _str
from ingest.fields import timestamp as _timestamp
from ingest.model import DeviceEvent, EventKind, Ignored, ParseError, Radio, Uplink

# Topic suffixes of `v3/{app}@{tenant}/devices/{device_id}/...` (formats.md §1.2), each mapped to
# the `ApplicationUp` key it carries. Only `up`, `join` and `location/solved` say something we
# keep; the others are recognised and skipped on purpose rather than dead-lettered as garbage.
EVENT_KEYS = {
    "up": "uplink_message",
    "join": "join_accept",
    "down/queued": "downlink_queued",
    "down/sent": "downlink_sent",
    "down/ack": "downlink_ack",
    "down/nack": "downlink_nack",
    "down/failed": "downlink_failed",
    "down/push": "downlinks",
    "down/replace": "downlinks",
    "service/data": "service_data",
    "location/solved": "location_solved",
}
_TOPIC = re.compile(r"^v3/(?P<app>[^/]+)/devices/(?P<device>[^/]+)/(?P<event>.+)$")
_DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")
# A signal level (dBm) or ratio (dB) outside this is no measurement.
_SIGNAL_BOUND = 1e6


_EVENTS_SEEN: dict[str, str] = {}  # topic -> event; topics are per device, so bounded
_EVENTS_SEEN_LIMIT = 200_000


def topic_event(topic: str) -> str:
    """The event suffix of a TTS device topic (`up`, `join`, `down/sent`...); ParseError if the
    topic is not one."""
    event = _EVENTS_SEEN.get(topic)
    if event is None:
        event = _topic_event(topic)
        if len(_EVENTS_SEEN) >= _EVENTS_SEEN_LIMIT:
            _EVENTS_SEEN.clear()
        _EVENTS_SEEN[topic] = event
    return event


def _topic_event(topic: str) -> str:
    match = _TOPIC.match(topic)
    if match is None:
        raise ParseError(f"topic {topic!r} is not a The Things Stack v3 device topic")
    event = match["event"]
    if event not in EVENT_KEYS:
        raise ParseError(f"unknown The Things Stack event {event!r} in topic {topic!r}")
    return event


def is_uplink_topic(topic: str) -> bool:
    """True for `.../up`; False for a recognised other TTS event; ParseError for anything else."""
    return topic_event(topic) == "up"


def load(payload: bytes) -> dict[str, Any]:
    """The JSON object of a message body."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def parse(topic: str, payload: bytes) -> Uplink | DeviceEvent | Ignored:
    """Any `ApplicationUp` message: an uplink, a device event, or something skipped on purpose.

    With an empty topic (Storage Integration, imported files) the body's key decides the event.
    """
    event = topic_event(topic) if topic else None
    if event == "up" and (uplink := parse_common_uplink(payload)) is not None:
        return uplink
    doc = load(payload)
    if event == "up" or (event is None and "uplink_message" in doc):
        return parse_uplink_doc(doc)
    if event == "join" or (event is None and "join_accept" in doc):
        return _event(doc, EventKind.JOIN, topic)
    if event == "location/solved" or (event is None and "location_solved" in doc):
        solved = _obj(doc, "location_solved")
        lat, lon = _position(_obj(solved, "location"))
        if lat is None:
            raise ParseError("location_solved.location has no valid latitude/longitude")
        source = _str(_obj(solved, "location"), "source") or _str(solved, "service")
        return _event(doc, EventKind.LOCATION, topic, lat, lon, source)
    if event is not None:
        return Ignored(f"The Things Stack {event} event")
    for key in ("uplink_normalized", "downlink_queued", "downlink_sent", "downlink_ack"):
        if key in doc:
            return Ignored(f"The Things Stack {key}")
    for key in ("downlink_nack", "downlink_failed", "service_data", "downlink_queue_invalidated"):
        if key in doc:
            return Ignored(f"The Things Stack {key}")
    raise ParseError("not an ApplicationUp: no known message key")


def parse_uplink(payload: bytes, topic: str = "") -> Uplink:
    """Parse the JSON body of a TTS `.../up` message."""
    return parse_common_uplink(payload) or parse_uplink_doc(load(payload))


def parse_uplink_doc(doc: dict[str, Any]) -> Uplink:
    ids = _obj(doc, "end_device_ids")
    up = _obj(doc, "uplink_message")
    if "uplink_message" not in doc:
        raise ParseError("no uplink_message: not an uplink")
    dev_eui = _dev_eui(ids)

    simulated = doc.get("simulated", False)
    if type(simulated) is not bool:
        raise ParseError(f"simulated is not a boolean: {simulated!r}")
    received_text = received_at_text(_str(up, "received_at"), _str(doc, "received_at"), simulated)
    if received_text is None:
        raise ParseError("neither uplink_message.received_at nor received_at is present")
    received_at = _timestamp(received_text, "uplink_message.received_at")

    f_port = _int(up, "f_port")
    f_cnt = _int(up, "f_cnt")
    raw = frame(_str(up, "frm_payload"))

    correlation_ids = doc.get("correlation_ids", [])
    if not isinstance(correlation_ids, list):
        raise ParseError("correlation_ids is not a list")
    key = idempotency_key(correlation_ids, dev_eui, f_cnt, received_at)

    version_ids = _obj(up, "version_ids")
    brand, model = _str(version_ids, "brand_id"), _str(version_ids, "model_id")
    latitude, longitude = device_location(_obj(up, "locations"))
    decoded = up.get("decoded_payload")

    return Uplink(
        idempotency_key=key,
        dev_eui=dev_eui,
        received_at=received_at,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=raw,
        device_name=_str(ids, "device_id"),
        application_id=_str(_obj(ids, "application_ids"), "application_id"),
        model=model_key(brand, model),
        latitude=latitude,
        longitude=longitude,
        radio=_radio(up),
        network_decoded=decoded if isinstance(decoded, dict) else None,
        simulated=simulated,
    )


def received_at_text(uplink: str | None, envelope: str | None, simulated: bool) -> str | None:
    """The time of an uplink: the Network Server's `uplink_message.received_at`, else the
    Application Server's `received_at`. A simulated uplink (`SimulateUplink`) never passed a
    Network Server: its `uplink_message` is what the caller sent, times included, so only the
    Application Server's own time is a time of this world."""
    if simulated:
        return envelope or uplink
    return uplink or envelope


def _event(
    doc: dict[str, Any],
    kind: EventKind,
    topic: str,
    latitude: float | None = None,
    longitude: float | None = None,
    source: str | None = None,
) -> DeviceEvent:
    ids = _obj(doc, "end_device_ids")
    received_text = _str(doc, "received_at")
    if received_text is None:
        raise ParseError("received_at is missing")
    return DeviceEvent(
        kind=kind,
        dev_eui=_dev_eui(ids),
        at=_timestamp(received_text, "received_at"),
        topic=topic,
        device_name=_str(ids, "device_id"),
        application_id=_str(_obj(ids, "application_ids"), "application_id"),
        latitude=latitude,
        longitude=longitude,
        location_source=source,
    )


def _dev_eui(ids: dict[str, Any]) -> str:
    return checked_dev_eui(_str(ids, "dev_eui"))


def checked_dev_eui(dev_eui: str | None) -> str:
    """`end_device_ids.dev_eui`, upper case; ParseError if missing or not 16 hex digits."""
    if dev_eui is None:
        raise ParseError("end_device_ids.dev_eui is missing")
    if not _DEV_EUI.match(dev_eui):
        raise ParseError(f"end_device_ids.dev_eui {dev_eui!r} is not 16 hex digits")
    return dev_eui.upper()


def frame(frm_payload: str | None) -> bytes:
    """The frame's bytes from `uplink_message.frm_payload` (base64; absent means empty)."""
    try:
        return base64.b64decode(frm_payload or "", validate=True)
    except (binascii.Error, ValueError):
        raise ParseError("uplink_message.frm_payload is not valid base64") from None


def idempotency_key(
    correlation_ids: list[Any], dev_eui: str, f_cnt: int, received_at: datetime
) -> str:
    """DESIGN §3: the Application Server's `as:up:` correlation id, which every delivery of
    the same uplink shares; without one, device, frame counter and reception time."""
    for correlation_id in correlation_ids:
        if type(correlation_id) is str and correlation_id.startswith("as:up:"):
            return "tts:" + correlation_id
    return f"{dev_eui}:{f_cnt}:{received_at.isoformat()}"


def model_key(brand_id: str | None, model_id: str | None) -> str | None:
    """The Device Repository model as "brand_id/model_id", when both are given."""
    return f"{brand_id}/{model_id}" if brand_id and model_id else None


def _radio(up: dict[str, Any]) -> Radio:
    rx = up.get("rx_metadata", [])
    if not isinstance(rx, list):
        raise ParseError("uplink_message.rx_metadata is not a list")
    best_rssi: float | None = None
    best_snr: float | None = None
    for i, gateway in enumerate(rx):
        if type(gateway) is not dict:
            raise ParseError(f"uplink_message.rx_metadata[{i}] is not an object")
        rssi = gateway.get("rssi")
        if type(rssi) is not int and type(rssi) is not float:  # the common case, checked cheaply
            rssi = _float(gateway, "rssi")
            if rssi is None:
                rssi = _float(gateway, "channel_rssi")
        elif not -_SIGNAL_BOUND < rssi < _SIGNAL_BOUND:
            raise ParseError(f"rssi is not a number: {rssi!r}")
        if rssi is not None and (best_rssi is None or rssi > best_rssi):
            best_rssi = float(rssi)
        snr = gateway.get("snr")
        if type(snr) is not int and type(snr) is not float:
            snr = _float(gateway, "snr")
        elif not -_SIGNAL_BOUND < snr < _SIGNAL_BOUND:
            raise ParseError(f"snr is not a number: {snr!r}")
        if snr is not None and (best_snr is None or snr > best_snr):
            best_snr = float(snr)
    settings = _obj(up, "settings")
    lora = _obj(_obj(settings, "data_rate"), "lora")
    sf = _int(lora, "spreading_factor")
    frequency = settings.get("frequency")  # uint64, serialised as a JSON string
    try:
        hz = int(frequency) if frequency is not None else None
    except (TypeError, ValueError):
        raise ParseError(
            f"uplink_message.settings.frequency {frequency!r} is not a number"
        ) from None
    return Radio(
        rssi=best_rssi,
        snr=best_snr,
        spreading_factor=sf or None,
        frequency=hz,
        gateway_count=len(rx),
    )


# Which of `uplink_message.locations` describes where the device is, best first: the position
# registered by an operator, then one the device reported in its payload, then any other.
_LOCATION_PREFERENCE = ("user", "frm-payload")


def device_location(locations: dict[str, Any]) -> tuple[float | None, float | None]:
    """The device's position from `uplink_message.locations`, when the network sends one."""
    for name in _location_order(locations):
        location = locations[name]
        if not isinstance(location, dict):
            raise ParseError(f"uplink_message.locations.{name} is not an object")
        lat, lon = _position(location)
        if lat is not None:
            return lat, lon
    return None, None


def _position(location: dict[str, Any]) -> tuple[float | None, float | None]:
    lat, lon = _float(location, "latitude"), _float(location, "longitude")
    return (lat, lon) if _on_earth(lat, lon) else (None, None)


def _location_order(locations: Collection[str]) -> list[str]:
    if len(locations) < 2:  # the common case: the registered position or none
        return list(locations)
    names = [n for n in _LOCATION_PREFERENCE if n in locations]
    if len(names) < len(locations):
        names += sorted(n for n in locations if n not in _LOCATION_PREFERENCE)
    return names


def _on_earth(lat: float | None, lon: float | None) -> bool:
    return lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180


# --- The common uplink, read by a typed decoder --------------------------------------------------
#
# An `ApplicationUp` uplink is ~1.2-1.7 kB of JSON of which ingest reads a few dozen bytes.
# `parse_uplink_doc` walks a dict of the whole body; here msgspec decodes straight into the few
# fields we read and skips the rest without building it, which takes a third off the parse. It
# answers only when it is sure: anything unusual (a wrong type, a missing field, a value out of
# range) makes it return None, and `parse_uplink_doc` decides, with its own reasons. Where it does
# answer, the result equals `parse_uplink_doc`'s: tests/ingest/test_tts.py checks that on
# generated envelopes.
#
# One difference is deliberate: a number beyond the range of a double (`1e400`) in a field ingest
# does not read is skipped here, where orjson refuses the whole body. Such a body is valid JSON
# (RFC 8259 §6 leaves the range of numbers to the reader).


class _ApplicationIds(msgspec.Struct):
    application_id: str | None = None


class _DeviceIds(msgspec.Struct):
    dev_eui: str | None = None
    device_id: str | None = None
    application_ids: _ApplicationIds = msgspec.field(default_factory=_ApplicationIds)


class _Gateway(msgspec.Struct):
    rssi: float | None = None
    channel_rssi: float | None = None
    snr: float | None = None


class _Lora(msgspec.Struct):
    spreading_factor: int = 0


class _DataRate(msgspec.Struct):
    lora: _Lora = msgspec.field(default_factory=_Lora)


class _Settings(msgspec.Struct):
    data_rate: _DataRate = msgspec.field(default_factory=_DataRate)
    frequency: str | int | None = None  # uint64, serialised as a JSON string


class _Location(msgspec.Struct):
    latitude: float | None = None
    longitude: float | None = None


class _VersionIds(msgspec.Struct):
    brand_id: str | None = None
    model_id: str | None = None


class _UplinkMessage(msgspec.Struct):
    received_at: str | None = None
    f_port: int = 0
    f_cnt: int = 0
    frm_payload: str | None = None
    rx_metadata: list[_Gateway] = []
    settings: _Settings = msgspec.field(default_factory=_Settings)
    version_ids: _VersionIds = msgspec.field(default_factory=_VersionIds)
    locations: dict[str, _Location] = {}
    # Kept as raw JSON (empty when absent) and read by orjson, as the general parser reads it.
    decoded_payload: msgspec.Raw = msgspec.Raw()


class _ApplicationUp(msgspec.Struct):
    end_device_ids: _DeviceIds = msgspec.field(default_factory=_DeviceIds)
    correlation_ids: list[str] = []
    received_at: str | None = None
    simulated: bool = False
    uplink_message: _UplinkMessage | None = None


_DECODER = msgspec.json.Decoder(_ApplicationUp)


def parse_common_uplink(payload: bytes) -> Uplink | None:
    """The uplink of a TTS `.../up` body, or None when the general parser must decide."""
    if not payload.isascii():
        try:  # orjson refuses invalid UTF-8 anywhere in the body; msgspec only where it reads
            payload.decode()
        except UnicodeDecodeError:
            return None
    try:
        doc = _DECODER.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    up = doc.uplink_message
    if up is None:
        return None
    f_port, f_cnt = up.f_port, up.f_cnt
    if not (0 <= f_port < UINT32_END and 0 <= f_cnt < UINT32_END):
        return None
    radio = _common_radio(up)
    if radio is None:
        return None
    ids = doc.end_device_ids
    try:
        dev_eui = checked_dev_eui(ids.dev_eui)
        received_text = received_at_text(up.received_at, doc.received_at, doc.simulated)
        if received_text is None:
            return None
        received_at = _timestamp(received_text, "uplink_message.received_at")
        raw = frame(up.frm_payload)
        network_decoded = None
        if up.decoded_payload:
            decoded = orjson.loads(memoryview(up.decoded_payload))
            network_decoded = decoded if type(decoded) is dict else None
    except (ParseError, orjson.JSONDecodeError):
        return None
    latitude = longitude = None
    for name in _location_order(up.locations):
        location = up.locations[name]
        if _on_earth(location.latitude, location.longitude):
            latitude, longitude = location.latitude, location.longitude
            break
    return Uplink(
        idempotency_key=idempotency_key(doc.correlation_ids, dev_eui, f_cnt, received_at),
        dev_eui=dev_eui,
        received_at=received_at,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=raw,
        device_name=ids.device_id,
        application_id=ids.application_ids.application_id,
        model=model_key(up.version_ids.brand_id, up.version_ids.model_id),
        latitude=latitude,
        longitude=longitude,
        radio=radio,
        network_decoded=network_decoded,
        simulated=doc.simulated,
    )


def _common_radio(up: _UplinkMessage) -> Radio | None:
    """Best signal over the gateways, or None where the general parser must judge a value."""
    best_rssi: float | None = None
    best_snr: float | None = None
    for gateway in up.rx_metadata:
        rssi = gateway.rssi
        if rssi is None:
            rssi = gateway.channel_rssi  # any double: msgspec refuses what is out of range
        elif not -_SIGNAL_BOUND < rssi < _SIGNAL_BOUND:
            return None
        if rssi is not None and (best_rssi is None or rssi > best_rssi):
            best_rssi = rssi
        snr = gateway.snr
        if snr is not None:
            if not -_SIGNAL_BOUND < snr < _SIGNAL_BOUND:
                return None
            if best_snr is None or snr > best_snr:
                best_snr = snr
    settings = up.settings
    sf = settings.data_rate.lora.spreading_factor
    if not 0 <= sf < UINT32_END:
        return None
    frequency = settings.frequency
    try:
        hz = int(frequency) if frequency is not None else None
    except ValueError:
        return None
    return Radio(
        rssi=best_rssi,
        snr=best_snr,
        spreading_factor=sf or None,
        frequency=hz,
        gateway_count=len(up.rx_metadata),
    )
