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
    """Everything a frame said: measurements, device state that is not a measurement, warnings.

    A frame that repeats a record gives one value per (quantity, sensor, time): the last one, as
    the vendors' decoders keep it (they overwrite the field). Every decoder, field map and
    JavaScript codec goes through here, so the rule holds for all; each drop is a warning.
    """

    measurements: tuple[Measurement, ...]
    state: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        last: dict[tuple[str, int, datetime | None], Measurement] = {}
        for m in self.measurements:
            last.pop((m.quantity, m.sensor, m.time), None)  # re-insert: the last one's place
            last[(m.quantity, m.sensor, m.time)] = m
        if len(last) == len(self.measurements):
            return
        dropped = len(self.measurements) - len(last)
        object.__setattr__(self, "measurements", tuple(last.values()))
        note = f"{dropped} repeated record(s) replaced by the frame's last value"
        object.__setattr__(self, "warnings", (*self.warnings, note))
