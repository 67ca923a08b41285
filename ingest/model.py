"""Domain values of ingestion: a parsed uplink, its radio summary, a dead letter."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from decoders import Measurement


class IngestError(Exception):
    """Base of ingest's own errors."""


class ParseError(IngestError):
    """The message is not a usable envelope; `reason` says what is wrong with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Stage(StrEnum):
    """Where in the pipeline a message failed."""

    PARSE = "parse"
    DECODE = "decode"
    STORE = "store"


@dataclass(frozen=True, slots=True)
class Radio:
    """Summary of how the uplink was heard: best signal over all gateways."""

    rssi: float | None = None
    snr: float | None = None
    spreading_factor: int | None = None
    frequency: int | None = None
    gateway_count: int = 0


@dataclass(frozen=True, slots=True)
class Uplink:
    """One uplink as the network server delivered it, independent of envelope format."""

    idempotency_key: str
    dev_eui: str  # 16 upper-case hex digits
    received_at: datetime  # network server reception time, UTC
    f_port: int
    f_cnt: int
    payload: bytes
    device_name: str | None = None
    application_id: str | None = None
    model: str | None = None  # Device Repository "brand_id/model_id"
    device_profile: str | None = None  # ChirpStack deviceProfileName
    latitude: float | None = None
    longitude: float | None = None
    radio: Radio = field(default_factory=Radio)
    # Injected through the TTS `SimulateUplink` API rather than heard by a gateway.
    simulated: bool = False
    # What the network server's own payload formatter made of the frame (TTS `decoded_payload`,
    # ChirpStack `object`); a decoder may map it onto the catalogue when no codec fits.
    network_decoded: dict[str, Any] | None = field(default=None, compare=False, hash=False)


class EventKind(StrEnum):
    """Device events that are not uplinks but still say something about the device."""

    JOIN = "join"  # (re)joined the network
    LOCATION = "location"  # position solved or registered
    STATUS = "status"  # battery level / power source from DevStatusAns


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A join, a location or a battery status of a device, at the network server's time."""

    kind: EventKind
    dev_eui: str
    at: datetime
    topic: str
    device_name: str | None = None
    application_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    location_source: str | None = None
    battery_level: float | None = None  # percent
    external_power: bool | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A recognised message that carries nothing to store (downlink events, service data...)."""

    reason: str


@dataclass(frozen=True, slots=True)
class DecodedUplink:
    """An uplink with what its decoder made of it (no measurements if decoding failed)."""

    uplink: Uplink
    topic: str
    decoder: str | None
    decoder_version: str | None
    measurements: tuple[Measurement, ...]
    decode_error: str | None = None
    # Decoded.state and warnings as a JSON object text; None when the frame said nothing more.
    state_json: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message kept with the reason it could not go further."""

    topic: str
    payload: bytes
    stage: Stage
    reason: str
    dev_eui: str | None = None

    @property
    def fingerprint(self) -> bytes:
        """Same stage, topic and bytes → same fingerprint, so repeats are counted once."""
        digest = hashlib.sha256(self.stage.encode())
        digest.update(b"\0" + self.topic.encode() + b"\0")
        digest.update(self.payload)
        return digest.digest()
