"""The decoder contract: what every codec returns and the one error it may raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class DecodeError(Exception):
    """The frame cannot be decoded; `reason` says why in words an operator can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Measurement:
    """One value of a catalogue quantity.

    `sensor` tells apart several sensors of the same quantity on one device (a CayenneLPP channel,
    a probe index); single-sensor devices use 0. `time` is set only when the payload itself carries
    a timestamp; otherwise the network server's reception time applies.
    """

    quantity: str
    value: float
    sensor: int = 0
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decoded:
    """Everything a frame said: measurements, device state that is not a measurement, warnings."""

    measurements: tuple[Measurement, ...]
    state: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
