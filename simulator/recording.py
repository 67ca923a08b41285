"""Recording published messages to JSON Lines and reading them back, ours or a network server's.

Our lines: `{"at": RFC 3339, "topic": ..., "body": UTF-8 text}` (or `"body_b64"` for binary bodies
such as ChirpStack protobuf), plus `model`, `fault` and `dev_eui` for people reading the file.
Replaying publishes the exact bytes in file order.

Captures from a real network server are read too, one message per line:
- `{"topic": ..., "payload": ...}` (an MQTT message as Node-RED and similar tools write it; the
  payload a JSON value or its text),
- The Things Stack Storage Integration NDJSON: `{"result": <ApplicationUp>}` (formats.md §1.7),
- a bare TTS `ApplicationUp` or ChirpStack v4 event JSON object,
- `mosquitto_sub -v` output: `<topic> <body>`.
Their topics are rebuilt from the ids inside, their times taken from `received_at` / `time`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import orjson


class RecordingError(ValueError):
    """A line of a recording cannot be replayed; the message names the line."""


class Message(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def body(self) -> bytes: ...


M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One message read back from a recording or capture."""

    topic: str
    body: bytes
    at: datetime | None = None  # when it was published, if known
    model: str | None = None
    fault: str | None = None

    @property
    def published_at(self) -> datetime | None:
        return self.at


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def line_of(message: Message) -> bytes:
    """The JSON Lines record of a message (SimulatedUplink or Recorded)."""
    doc: dict[str, Any] = {}
    at = getattr(message, "published_at", None)
    if at is not None:
        doc["at"] = _rfc3339(at)
    doc["topic"] = message.topic
    try:
        doc["body"] = message.body.decode()
    except UnicodeDecodeError:
        doc["body_b64"] = base64.b64encode(message.body).decode()
    device = getattr(message, "device", None)
    if device is not None:
        doc["dev_eui"] = device.dev_eui
    for key in ("model", "fault"):
        value = getattr(message, key, None)
        if value:
            doc[key] = value
    return orjson.dumps(doc) + b"\n"


class Recorder:
    """Writes messages to a JSON Lines file as they pass: `for m in recorder.tee(stream)`."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.written = 0

    def write(self, message: Message) -> None:
        self._out.write(line_of(message))
        self.written += 1

    def tee(self, messages: Iterable[M]) -> Iterator[M]:
        for message in messages:
            self.write(message)
            yield message


def read(path: str | Path) -> Iterator[Recorded]:
    """Messages of a recording or capture, in file order."""
    with Path(path).open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if line:
                try:
                    yield parse_line(line)
                except RecordingError as exc:
                    raise RecordingError(f"{path}:{number}: {exc}") from None


def parse_line(line: bytes) -> Recorded:
    """One line of a recording or capture; RecordingError says why a line is neither."""
    try:
        return _parse_line(line)
    except RecordingError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a field of the wrong shape
        raise RecordingError(f"{type(exc).__name__}: {exc}") from None


def _parse_line(line: bytes) -> Recorded:
    if not line.startswith(b"{"):  # mosquitto_sub -v: "<topic> <body>"
        topic, _, body = line.partition(b" ")
        return Recorded(topic.decode(), body, _time_inside(body))
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise RecordingError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RecordingError("expected a JSON object")
    if "topic" in doc and ("body" in doc or "body_b64" in doc):
        if "body_b64" in doc:
            body = base64.b64decode(doc["body_b64"], validate=True)
        else:
            body = str(doc["body"]).encode()
        at = _parse_time(doc["at"]) if doc.get("at") else None
        return Recorded(str(doc["topic"]), body, at, doc.get("model"), doc.get("fault"))
    if isinstance(doc.get("topic"), str) and "payload" in doc:
        payload = doc["payload"]
        body = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
        return Recorded(doc["topic"], body, _time_inside(body))
    if isinstance(doc.get("result"), dict):  # TTS Storage Integration
        doc = doc["result"]
        line = orjson.dumps(doc)
    if "end_device_ids" in doc:
        return Recorded(_tts_topic(doc), line, _time_of(doc))
    if "deviceInfo" in doc:
        return Recorded(_chirpstack_topic(doc), line, _time_of(doc))
    raise RecordingError("neither a recording line, a TTS message nor a ChirpStack event")


# ApplicationUp one-of field -> topic suffix (formats.md §1.2).
_TTS_EVENTS = {
    "uplink_message": "up",
    "join_accept": "join",
    "downlink_ack": "down/ack",
    "downlink_nack": "down/nack",
    "downlink_sent": "down/sent",
    "downlink_failed": "down/failed",
    "downlink_queued": "down/queued",
    "service_data": "service/data",
    "location_solved": "location/solved",
}


def _tts_topic(doc: dict[str, Any]) -> str:
    ids = doc["end_device_ids"]
    app = ids.get("application_ids", {}).get("application_id", "")
    network = doc.get("uplink_message", {}).get("network_ids", {})
    tenant = network.get("tenant_id", "ttn")
    event = next((suffix for key, suffix in _TTS_EVENTS.items() if key in doc), None)
    if event is None:
        raise RecordingError("TTS message of a kind that has no MQTT topic")
    return f"v3/{app}@{tenant}/devices/{ids.get('device_id', '')}/{event}"


def _chirpstack_topic(doc: dict[str, Any]) -> str:
    info = doc["deviceInfo"]
    event = "up" if "fCnt" in doc or "rxInfo" in doc or "data" in doc else "status"
    if "batteryLevel" in doc or "margin" in doc:
        event = "status"
    return f"application/{info['applicationId']}/device/{info['devEui']}/event/{event}"


def _time_of(doc: dict[str, Any]) -> datetime | None:
    text = doc.get("received_at") or doc.get("time")
    if text is None and isinstance(doc.get("uplink_message"), dict):
        text = doc["uplink_message"].get("received_at")
    return _parse_time(text) if isinstance(text, str) else None


def _time_inside(body: bytes) -> datetime | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return _time_of(doc) if isinstance(doc, dict) else None


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RecordingError(f"{text!r} is not an RFC 3339 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
