"""A fleet of virtual climate sensors in a city, deterministic from a seed.

Values follow a daily cycle (coolest before dawn, warmest mid-afternoon) with a little noise, and
are quantised exactly as CayenneLPP carries them, so what a test expects is what the wire says.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from decoders import Measurement
from decoders.cayenne_lpp import encode
from simulator.tts import tts_uplink

# Utrecht city centre; devices are scattered within ~3 km of it.
_CENTRE = (52.0907, 5.1214)
_SPREAD_DEG = 0.03


@dataclass(frozen=True, slots=True)
class VirtualDevice:
    dev_eui: str
    device_id: str
    application_id: str
    latitude: float
    longitude: float
    phase: float  # per-device offset so devices do not move in lockstep


@dataclass(frozen=True, slots=True)
class SimulatedUplink:
    """One published message and what it should be stored as."""

    device: VirtualDevice
    topic: str
    body: bytes
    f_cnt: int
    received_at: datetime
    measurements: tuple[Measurement, ...]


class Fleet:
    def __init__(self, size: int, seed: int = 1, application_id: str = "meetnet-demo") -> None:
        rng = random.Random(seed)
        self._rng = rng
        self.devices = [
            VirtualDevice(
                dev_eui=f"70B3D5{seed % 0xFFFF:04X}{i:06X}",
                device_id=f"climate-{i:04d}",
                application_id=application_id,
                latitude=round(_CENTRE[0] + rng.uniform(-_SPREAD_DEG, _SPREAD_DEG), 5),
                longitude=round(_CENTRE[1] + rng.uniform(-_SPREAD_DEG, _SPREAD_DEG), 5),
                phase=rng.uniform(-0.5, 0.5),
            )
            for i in range(size)
        ]
        self._f_cnt = dict.fromkeys((d.dev_eui for d in self.devices), 0)

    def reading(self, device: VirtualDevice, at: datetime) -> tuple[Measurement, ...]:
        """Temperature, humidity and pressure at `at`, quantised to CayenneLPP resolution."""
        hours = at.hour + at.minute / 60 + device.phase
        daily = math.sin((hours - 9) / 24 * 2 * math.pi)  # peaks at 15:00
        temperature = 11 + 6 * daily + self._rng.gauss(0, 0.3)
        humidity = min(100.0, max(0.0, 70 - 15 * daily + self._rng.gauss(0, 2)))
        pressure = 1013 + self._rng.gauss(0, 4)
        return (
            Measurement("air_temperature", round(temperature, 1), sensor=1),
            Measurement("relative_humidity", round(humidity * 2) / 2, sensor=2),
            Measurement("barometric_pressure", round(pressure, 1), sensor=3),
        )

    def uplink(self, device: VirtualDevice, at: datetime) -> SimulatedUplink:
        self._f_cnt[device.dev_eui] += 1
        f_cnt = self._f_cnt[device.dev_eui]
        measurements = self.reading(device, at)
        frame = encode(measurements, 2)
        topic, body = tts_uplink(device, f_cnt, 2, frame, at, self._rng)
        return SimulatedUplink(device, topic, body, f_cnt, at, measurements)

    def stream(
        self, start: datetime | None = None, interval_s: float = 0.0
    ) -> Iterator[SimulatedUplink]:
        """Round-robin over the fleet forever; each uplink `interval_s` after the previous."""
        at = start or datetime.now(UTC)
        while True:
            for device in self.devices:
                yield self.uplink(device, at)
                at += timedelta(seconds=interval_s) if interval_s else timedelta(microseconds=1)
