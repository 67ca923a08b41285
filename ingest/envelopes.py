"""Which envelope format a topic carries: configuration, with the network servers' defaults.

A subscription is a topic filter, optionally followed by `=format`
(`application/+/device/+/event/+=chirpstack_protobuf`). Without a format the topic decides:
`v3/...` is The Things Stack, `application/...` ChirpStack (v4 JSON or protobuf by the first byte,
v3 `json_v3` by its field names).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
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


Parser = Callable[[str, bytes], Uplink | DeviceEvent | Ignored]

# How each format is parsed: the registry, as `decoders.DECODERS` is for payloads.
PARSERS: dict[Format, Parser] = {
    Format.TTS: tts.parse,
    Format.CHIRPSTACK: functools.partial(chirpstack.parse, encoding="auto"),
    Format.CHIRPSTACK_JSON: functools.partial(chirpstack.parse, encoding="json"),
    Format.CHIRPSTACK_PROTOBUF: functools.partial(chirpstack.parse, encoding="protobuf"),
    Format.CHIRPSTACK_V3: functools.partial(chirpstack.parse, encoding="json", version=3),
}

# Without a configured format, the first level of the topic tells the network server's default
# (The Things Stack `v3/...`, ChirpStack `application/...`).
DEFAULT_FORMATS: dict[str, Format] = {
    "v3": Format.TTS,
    "application": Format.CHIRPSTACK,
}

# Topics seen are per device; the cache is dropped when it grows beyond this many.
_CACHE_LIMIT = 200_000


@dataclass
class Router:
    """Parses a message with the format its topic is configured for."""

    subscriptions: tuple[Subscription, ...] = ()
    _parsers: dict[str, Parser] = field(default_factory=dict)  # by topic

    def format_of(self, topic: str) -> Format:
        """The configured format of a topic, else the network server's default; AUTO if none."""
        configured = next(
            (
                s.format
                for s in self.subscriptions
                if s.format is not Format.AUTO and topic_matches_sub(s.match_filter, topic)
            ),
            Format.AUTO,
        )
        if configured is Format.AUTO:
            first, slash, _ = topic.partition("/")
            return DEFAULT_FORMATS.get(first, Format.AUTO) if slash else Format.AUTO
        return configured

    def parse(self, topic: str, payload: bytes) -> Uplink | DeviceEvent | Ignored:
        parser = self._parsers.get(topic)
        if parser is None:
            if not topic:
                return parse_untitled(payload)
            parser = PARSERS.get(self.format_of(topic), _unmatched)
            if len(self._parsers) >= _CACHE_LIMIT:
                self._parsers.clear()
            self._parsers[topic] = parser
        return parser(topic, payload)


def _unmatched(topic: str, payload: bytes) -> Uplink | DeviceEvent | Ignored:
    raise ParseError(f"topic {topic!r} matches no envelope format")


def parse_untitled(payload: bytes) -> Uplink | DeviceEvent | Ignored:
    """A JSON envelope without a topic (Storage Integration, imported files): the body decides."""
    doc = tts.load(payload)
    if "end_device_ids" in doc:
        return tts.parse("", payload)
    if "deviceInfo" in doc or "devEUI" in doc:
        return chirpstack.parse("", payload, "json")
    raise ParseError("neither a The Things Stack nor a ChirpStack envelope")
