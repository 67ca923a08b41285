"""The Things Stack v3 `ApplicationUp` JSON → `Uplink`.

TTS omits every field that is empty, 0 or false (formats.md §1.4), so each field has a default
here; a field of the wrong type is a parse error, never an exception of another kind.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from ingest.model import ParseError, Radio, Uplink

# Topic suffixes of `v3/{app}@{tenant}/devices/{device_id}/...` that are not uplinks: recognised
# and skipped on purpose rather than dead-lettered as garbage.
NON_UPLINK_SUFFIXES = (
    "join",
    "down/queued",
    "down/sent",
    "down/ack",
    "down/nack",
    "down/failed",
    "down/push",
    "down/replace",
    "service/data",
    "location/solved",
)
_TOPIC = re.compile(r"^v3/(?P<app>[^/]+)/devices/(?P<device>[^/]+)/(?P<event>.+)$")
_DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")


def is_uplink_topic(topic: str) -> bool:
    """True for `.../up`; False for a recognised other TTS event; ParseError for anything else."""
    match = _TOPIC.match(topic)
    if match is None:
        raise ParseError(f"topic {topic!r} is not a The Things Stack v3 device topic")
    event = match["event"]
    if event == "up":
        return True
    if event in NON_UPLINK_SUFFIXES:
        return False
    raise ParseError(f"unknown The Things Stack event {event!r} in topic {topic!r}")


def parse_uplink(payload: bytes, topic: str = "") -> Uplink:
    """Parse the JSON body of a TTS `.../up` message."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object, got {type(doc).__name__}")
    ids = _obj(doc, "end_device_ids")
    up = _obj(doc, "uplink_message")
    if "uplink_message" not in doc:
        raise ParseError("no uplink_message: not an uplink")

    dev_eui = _str(ids, "dev_eui")
    if dev_eui is None:
        raise ParseError("end_device_ids.dev_eui is missing")
    if not _DEV_EUI.match(dev_eui):
        raise ParseError(f"end_device_ids.dev_eui {dev_eui!r} is not 16 hex digits")
    dev_eui = dev_eui.upper()

    received_text = _str(up, "received_at") or _str(doc, "received_at")
    if received_text is None:
        raise ParseError("neither uplink_message.received_at nor received_at is present")
    received_at = _timestamp(received_text, "uplink_message.received_at")

    f_port = _int(up, "f_port")
    f_cnt = _int(up, "f_cnt")
    frm_payload = _str(up, "frm_payload") or ""
    try:
        raw = base64.b64decode(frm_payload, validate=True)
    except (binascii.Error, ValueError):
        raise ParseError("uplink_message.frm_payload is not valid base64") from None

    correlation_ids = doc.get("correlation_ids", [])
    if not isinstance(correlation_ids, list):
        raise ParseError("correlation_ids is not a list")
    as_up = next(
        (c for c in correlation_ids if isinstance(c, str) and c.startswith("as:up:")), None
    )
    key = f"tts:{as_up}" if as_up else f"{dev_eui}:{f_cnt}:{received_at.isoformat()}"

    version_ids = _obj(up, "version_ids")
    brand, model = _str(version_ids, "brand_id"), _str(version_ids, "model_id")
    latitude, longitude = _user_location(up)

    return Uplink(
        idempotency_key=key,
        dev_eui=dev_eui,
        received_at=received_at,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=raw,
        device_name=_str(ids, "device_id"),
        application_id=_str(_obj(ids, "application_ids"), "application_id"),
        model=f"{brand}/{model}" if brand and model else None,
        latitude=latitude,
        longitude=longitude,
        radio=_radio(up),
    )


def _radio(up: dict[str, Any]) -> Radio:
    rx = up.get("rx_metadata", [])
    if not isinstance(rx, list):
        raise ParseError("uplink_message.rx_metadata is not a list")
    rssis: list[float] = []
    snrs: list[float] = []
    for i, gateway in enumerate(rx):
        if not isinstance(gateway, dict):
            raise ParseError(f"uplink_message.rx_metadata[{i}] is not an object")
        rssi = _float(gateway, "rssi")
        if rssi is None:
            rssi = _float(gateway, "channel_rssi")
        if rssi is not None:
            rssis.append(rssi)
        snr = _float(gateway, "snr")
        if snr is not None:
            snrs.append(snr)
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
        rssi=max(rssis) if rssis else None,
        snr=max(snrs) if snrs else None,
        spreading_factor=sf or None,
        frequency=hz,
        gateway_count=len(rx),
    )


def _user_location(up: dict[str, Any]) -> tuple[float | None, float | None]:
    """The device's registered location (`locations.user`), when the network sends one."""
    location = _obj(_obj(up, "locations"), "user")
    lat, lon = _float(location, "latitude"), _float(location, "longitude")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def _obj(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ParseError(f"{key} is not an object")
    return value


def _str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(f"{key} is not a string")
    return value


def _int(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ParseError(f"{key} is not an unsigned 32-bit integer: {value!r}")
    return value


def _float(doc: dict[str, Any], key: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParseError(f"{key} is not a number: {value!r}")
    return float(value)


def _timestamp(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(f"{name} {text!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise ParseError(f"{name} {text!r} has no UTC offset")
    return moment.astimezone(UTC)
