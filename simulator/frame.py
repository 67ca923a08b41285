"""What a virtual device is and what it sends, before a network server wraps it in an envelope."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from simulator.radio import Reception


@dataclass(frozen=True, slots=True)
class VirtualDevice:
    dev_eui: str  # 16 hex, upper case
    device_id: str
    application_id: str
    latitude: float
    longitude: float
    phase: float  # per-device offset so devices do not move in lockstep
    model: str = "climate"  # key in simulator.models.MODELS
    dev_addr: str = "00000000"
    zone: str = ""
    interval_s: float = 600.0
    profile: str = ""  # the device profile its operator sets (decoders.profiles); "" none


@dataclass(frozen=True, slots=True)
class Frame:
    """One uplink as the device sent it and the network heard it."""

    device: VirtualDevice
    f_cnt: int
    f_port: int
    payload: bytes
    received_at: datetime  # network server reception time (UTC)
    reception: Reception
    confirmed: bool = False


class Envelope(Protocol):
    """A network server's integration format: turns a frame into an MQTT topic and body."""

    @property
    def name(self) -> str: ...

    def render(self, frame: Frame, rng: random.Random) -> tuple[str, bytes]: ...
