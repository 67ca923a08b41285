"""ChirpStack integration events → `Uplink`, `DeviceEvent` or `Ignored` (formats.md §2).

v4 publishes `application/{uuid}/device/{dev_eui}/event/{event}` as protobuf-JSON (lowerCamelCase,
`json=true`) or binary protobuf (`chirpstack_api.integration.*Event`); the binary form is turned
into the same JSON mapping and parsed by one code path. v3's default `json_v3` marshaler has its
own field names (`devEUI`, `applicationID`, `loRaSNR`, §2.5).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chirpstack_api import integration
from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from ingest.fields import float_field, int_field, obj_field, str_field, timestamp
from ingest.model import DeviceEvent, EventKind, Ignored, ParseError, Radio, Uplink
from ingest.tts import load

logger = logging.getLogger(__name__)

_TOPIC = re.compile(
    r"^application/(?P<app>[^/]+)/device/(?P<dev_eui>[^/]+)/event/(?P<event>[^/]+)$"
)
_DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")

# v4 events and their protobuf message; v3's `error` is v4's `log`.
_PROTOBUF: dict[str, Callable[[], Message]] = {
    "up": integration.UplinkEvent,
    "join": integration.JoinEvent,
    "status": integration.StatusEvent,
    "location": integration.LocationEvent,
    "log": integration.LogEvent,
    "ack": integration.AckEvent,
    "txack": integration.TxAckEvent,
}
_SKIPPED = {"ack", "txack", "integration", "error"}  # acknowledgements, third parties


def topic_event(topic: str) -> str:
    """The event of a ChirpStack device topic; ParseError if it is not one we know."""
    match = _TOPIC.match(topic)
    if match is None:
        raise ParseError(f"topic {topic!r} is not a ChirpStack device event topic")
    event = match["event"]
    if event not in _PROTOBUF and event not in _SKIPPED:
        raise ParseError(f"unknown ChirpStack event {event!r} in topic {topic!r}")
    return event


def parse(
    topic: str, payload: bytes, encoding: str = "auto", version: int = 4
) -> Uplink | DeviceEvent | Ignored:
    """One ChirpStack event. `encoding` is json, protobuf or auto (a JSON body starts with `{`,
    which a protobuf event never does: its first byte is the tag of field 1)."""
    event = topic_event(topic) if topic else "up"
    if event in _SKIPPED:
        return Ignored(f"ChirpStack {event} event")
    is_json = encoding == "json" or (encoding == "auto" and payload[:1] == b"{")
    if is_json:
        doc = load(payload)
        if version == 3 or ("devEUI" in doc and "deviceInfo" not in doc):
            return _parse_v3(event, doc, topic, payload)
    else:
        doc = _from_protobuf(event, payload)
    return _parse_v4(event, doc, topic)


def _from_protobuf(event: str, payload: bytes) -> dict[str, Any]:
    message = _PROTOBUF[event]()
    try:
        message.ParseFromString(payload)
    except ProtobufDecodeError as exc:
        raise ParseError(f"not a ChirpStack {event} protobuf: {exc}") from None
    doc: dict[str, Any] = json_format.MessageToDict(message)
    return doc


def _parse_v4(event: str, doc: dict[str, Any], topic: str) -> Uplink | DeviceEvent | Ignored:
    info = obj_field(doc, "deviceInfo")
    dev_eui = _dev_eui(str_field(info, "devEui"), "deviceInfo.devEui")
    if event == "log":
        # Codec failures, frame-counter resets... ChirpStack's own diagnostics, kept in our log.
        logger.info(
            "ChirpStack log %s %s: %s",
            str_field(doc, "level") or "INFO",
            str_field(doc, "code") or "",
            str_field(doc, "description") or "",
            extra={"dev_eui": dev_eui, "topic": topic},
        )
        return Ignored("ChirpStack log event")
    time_text = str_field(doc, "time")
    if time_text is None:
        raise ParseError("time is missing")
    at = timestamp(time_text, "time")
    name, app = str_field(info, "deviceName"), str_field(info, "applicationId")
    if event == "status":
        unavailable = doc.get("batteryLevelUnavailable")
        level = None if unavailable else float_field(doc, "batteryLevel")
        external = doc.get("externalPowerSource")
        return DeviceEvent(
            EventKind.STATUS,
            dev_eui,
            at,
            topic,
            name,
            app,
            battery_level=level,
            external_power=external if isinstance(external, bool) else None,
        )
    if event == "join":
        return DeviceEvent(EventKind.JOIN, dev_eui, at, topic, name, app)
    if event == "location":
        location = obj_field(doc, "location")
        lat, lon = float_field(location, "latitude"), float_field(location, "longitude")
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ParseError("location has no valid latitude/longitude")
        source = str_field(location, "source")
        return DeviceEvent(EventKind.LOCATION, dev_eui, at, topic, name, app, lat, lon, source)
    return _uplink_v4(doc, info, dev_eui, at)


def _uplink_v4(doc: dict[str, Any], info: dict[str, Any], dev_eui: str, at: datetime) -> Uplink:
    dedup = str_field(doc, "deduplicationId")
    f_cnt, f_port = int_field(doc, "fCnt"), int_field(doc, "fPort")
    rx = _list(doc, "rxInfo")
    rssis = [v for g in rx if (v := float_field(g, "rssi")) is not None]
    snrs = [v for g in rx if (v := float_field(g, "snr")) is not None]
    tx = obj_field(doc, "txInfo")
    lora = obj_field(obj_field(tx, "modulation"), "lora")
    frequency = int_field(tx, "frequency")
    decoded = doc.get("object")
    return Uplink(
        idempotency_key=f"cs:{dedup}" if dedup else f"{dev_eui}:{f_cnt}:{at.isoformat()}",
        dev_eui=dev_eui,
        received_at=at,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=_base64(doc, "data"),
        device_name=str_field(info, "deviceName"),
        application_id=str_field(info, "applicationId"),
        device_profile=str_field(info, "deviceProfileName"),
        radio=Radio(
            rssi=max(rssis) if rssis else None,
            snr=max(snrs) if snrs else None,
            spreading_factor=int_field(lora, "spreadingFactor") or None,
            frequency=frequency or None,
            gateway_count=len(rx),
        ),
        network_decoded=decoded if isinstance(decoded, dict) else None,
    )


def _parse_v3(
    event: str, doc: dict[str, Any], topic: str, payload: bytes
) -> Uplink | DeviceEvent | Ignored:
    dev_eui = _dev_eui(str_field(doc, "devEUI"), "devEUI")
    rx = _list(doc, "rxInfo")
    # json_v3 has no network-server time; a gateway's time when one has GPS, else `publishedAt`.
    times = [t for g in rx if (t := str_field(g, "time"))]
    time_text = str_field(doc, "publishedAt") or (times[0] if times else None)
    name, app = str_field(doc, "deviceName"), str_field(doc, "applicationID")
    if event != "up":
        if event == "status":
            level = float_field(doc, "batteryLevel")
            if time_text is None:
                return Ignored("ChirpStack v3 status event without a time")
            return DeviceEvent(
                EventKind.STATUS,
                dev_eui,
                timestamp(time_text, "time"),
                topic,
                name,
                app,
                battery_level=None if doc.get("batteryLevelUnavailable") else level,
            )
        return Ignored(f"ChirpStack v3 {event} event")
    if time_text is None:
        raise ParseError("ChirpStack v3 uplink has neither publishedAt nor a gateway time")
    at = timestamp(time_text, "time")
    f_cnt, f_port = int_field(doc, "fCnt"), int_field(doc, "fPort")
    rssis = [v for g in rx if (v := float_field(g, "rssi")) is not None]
    snrs = [v for g in rx if (v := float_field(g, "loRaSNR")) is not None]
    tx = obj_field(doc, "txInfo")
    decoded = doc.get("object")
    # v3 has no de-duplication id; a re-delivery is the same bytes.
    key = "cs3:" + hashlib.sha256(payload).hexdigest()[:32]
    return Uplink(
        idempotency_key=key,
        dev_eui=dev_eui,
        received_at=at,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=_base64(doc, "data"),
        device_name=name,
        application_id=app,
        device_profile=str_field(doc, "deviceProfileName"),
        radio=Radio(
            rssi=max(rssis) if rssis else None,
            snr=max(snrs) if snrs else None,
            frequency=int_field(tx, "frequency") or None,
            gateway_count=len(rx),
        ),
        network_decoded=decoded if isinstance(decoded, dict) else None,
    )


def _dev_eui(value: str | None, name: str) -> str:
    if value is None:
        raise ParseError(f"{name} is missing")
    if not _DEV_EUI.match(value):
        raise ParseError(f"{name} {value!r} is not 16 hex digits")
    return value.upper()


def _list(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ParseError(f"{key} is not a list of objects")
    return value


def _base64(doc: dict[str, Any], key: str) -> bytes:
    try:
        return base64.b64decode(str_field(doc, key) or "", validate=True)
    except (binascii.Error, ValueError):
        raise ParseError(f"{key} is not valid base64") from None
