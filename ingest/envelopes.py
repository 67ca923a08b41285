"""Which envelope format a topic carries: configuration, with the network servers' defaults.

A subscription is a topic filter, optionally followed by `=format`
(`application/+/device/+/event/+=chirpstack_protobuf`). Without a format the topic decides:
`v3/...` is The Things Stack, `application/...` ChirpStack (v4 JSON or protobuf by the first byte,
v3 `json_v3` by its field names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from paho.mqtt.client import topic_matches_sub

from ingest import chirpstack, tts
from ingest.model import DeviceEvent, Ignored, ParseError, Uplink


class Format(StrEnum):
    AUTO = "auto"
    TTS = "tts"
    CHIRPSTACK = "chirpstack"  # v4, JSON or protobuf told apart per message
    CHIRPSTACK_JSON = "chirpstack_json"
    CHIRPSTACK_PROTOBUF = "chirpstack_protobuf"
    CHIRPSTACK_V3 = "chirpstack_v3"  # the json_v3 marshaler


@dataclass(frozen=True, slots=True)
class Subscription:
    topic_filter: str
    format: Format = Format.AUTO

    @classmethod
    def parse(cls, text: str) -> Subscription:
        topic_filter, _, name = text.strip().rpartition("=")
        if not topic_filter:
            return cls(name)
        try:
            return cls(topic_filter, Format(name))
        except ValueError:
            known = ", ".join(f.value for f in Format)
            raise ValueError(
                f"unknown envelope format {name!r} in {text!r}; use one of {known}"
            ) from None

    @property
    def match_filter(self) -> str:
        """The filter that incoming topics match: without a `$share/<group>/` prefix."""
        if self.topic_filter.startswith("$share/"):
            return self.topic_filter.split("/", 2)[2]
        return self.topic_filter


# Topics seen are per device; the cache is dropped when it grows beyond this many.
_CACHE_LIMIT = 200_000


@dataclass
class Router:
    """Parses a message with the format its topic is configured for."""

    subscriptions: tuple[Subscription, ...] = ()
    _formats: dict[str, Format] = field(default_factory=dict)

    def format_of(self, topic: str) -> Format:
        found = self._formats.get(topic)
        if found is None:
            found = next(
                (
                    s.format
                    for s in self.subscriptions
                    if s.format is not Format.AUTO and topic_matches_sub(s.match_filter, topic)
                ),
                Format.AUTO,
            )
            if len(self._formats) >= _CACHE_LIMIT:
                self._formats.clear()
            self._formats[topic] = found
        return found

    def parse(self, topic: str, payload: bytes) -> Uplink | DeviceEvent | Ignored:
        fmt = self.format_of(topic) if topic else Format.AUTO
        if fmt is Format.AUTO:
            if topic.startswith("v3/"):
                fmt = Format.TTS
            elif topic.startswith("application/"):
                fmt = Format.CHIRPSTACK
            elif not topic:
                return parse_untitled(payload)
            else:
                raise ParseError(f"topic {topic!r} matches no envelope format")
        if fmt is Format.TTS:
            return tts.parse(topic, payload)
        if fmt is Format.CHIRPSTACK_V3:
            return chirpstack.parse(topic, payload, "json", version=3)
        encoding = {Format.CHIRPSTACK_JSON: "json", Format.CHIRPSTACK_PROTOBUF: "protobuf"}
        return chirpstack.parse(topic, payload, encoding.get(fmt, "auto"))


def parse_untitled(payload: bytes) -> Uplink | DeviceEvent | Ignored:
    """A JSON envelope without a topic (Storage Integration, imported files): the body decides."""
    doc = tts.load(payload)
    if "end_device_ids" in doc:
        return tts.parse("", payload)
    if "deviceInfo" in doc or "devEUI" in doc:
        return chirpstack.parse("", payload, "json")
    raise ParseError("neither a The Things Stack nor a ChirpStack envelope")
