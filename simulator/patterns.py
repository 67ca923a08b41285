"""Value models: how one quantity of one device moves through a day.

Each model is a frozen description; `start()` gives the per-device state that evolves with each
reading (a bin's fill, a battery's charge, a parking bay's occupancy). Readings take the local
time of day (hours, 0-24) and the day of the week, so patterns follow the city's clock.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class ValueState(Protocol):
    def next(self, local: datetime, elapsed_s: float, rng: random.Random) -> float:
        """The value at local time `local`, `elapsed_s` after the previous reading."""
        ...


class ValueModel(Protocol):
    def start(self, rng: random.Random) -> ValueState:
        """Fresh per-device state (its own phase, starting charge, fill, ...)."""
        ...


def _hours(local: datetime) -> float:
    return local.hour + local.minute / 60 + local.second / 3600


def _clamp(value: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, value))


@dataclass(frozen=True, slots=True)
class Daily:
    """A sine over the day peaking at `peak_hour`, plus noise: temperature, humidity, light."""

    mean: float
    amplitude: float
    peak_hour: float = 15.0
    noise: float = 0.0
    lo: float = -math.inf
    hi: float = math.inf
    spread: float = 0.0  # per-device offset of the mean (a sunny square, a shaded street)

    def start(self, rng: random.Random) -> ValueState:
        return _DailyState(self, rng.uniform(-self.spread, self.spread), rng.uniform(-0.5, 0.5))


@dataclass(slots=True)
class _DailyState:
    model: Daily
    offset: float
    phase: float

    def next(self, local: datetime, elapsed_s: float, rng: random.Random) -> float:
        m = self.model
        cycle = math.cos((_hours(local) + self.phase - m.peak_hour) / 24 * 2 * math.pi)
        value = m.mean + self.offset + m.amplitude * cycle
        if m.noise:
            value += rng.gauss(0, m.noise)
        return _clamp(value, m.lo, m.hi)


@dataclass(frozen=True, slots=True)
class Daylight:
    """Illuminance: zero at night, a bell between sunrise and sunset, clouds as noise."""

    peak: float = 20000.0
    sunrise: float = 7.0
    sunset: float = 19.0

    def start(self, rng: random.Random) -> ValueState:
        return _DaylightState(self)


@dataclass(slots=True)
class _DaylightState:
    model: Daylight

    def next(self, local: datetime, elapsed_s: float, rng: random.Random) -> float:
        m, h = self.model, _hours(local)
        if not m.sunrise < h < m.sunset:
            return 0.0
        sun = math.sin((h - m.sunrise) / (m.sunset - m.sunrise) * math.pi)
        return max(0.0, m.peak * sun * rng.uniform(0.3, 1.0))


@dataclass(frozen=True, slots=True)
class RushHour:
    """Traffic-driven levels (NO2, noise): a base with peaks around 08:00 and 17:30 on weekdays."""

    base: float
    peak: float
    morning: float = 8.0
    evening: float = 17.5
    width_h: float = 1.5
    night_dip: float = 0.0  # subtracted around 03:00 (quiet streets)
    noise: float = 0.0
    weekend_factor: float = 0.5
    lo: float = 0.0
    hi: float = math.inf

    def start(self, rng: random.Random) -> ValueState:
        return _RushState(self, rng.uniform(0.7, 1.3))


@dataclass(slots=True)
class _RushState:
    model: RushHour
    busy: float  # how busy this street is compared with the average

    def next(self, local: datetime, elapsed_s: float, rng: random.Random) -> float:
        m, h = self.model, _hours(local)
        rush = max(_bump(h, m.morning, m.width_h), _bump(h, m.evening, m.width_h))
        if local.weekday() >= 5:
            rush *= m.weekend_factor
        value = m.base + (m.peak - m.base) * rush * self.busy - m.night_dip * _bump(h, 3, 2.5)
        if m.noise:
            value += rng.gauss(0, m.noise)
        return _clamp(value, m.lo, m.hi)


def _bump(hours: float, centre: float, width: float) -> float:
    """A Gaussian bump in time of day, wrapping around midnight."""
    d = min(abs(hours - centre), 24 - abs(hours - centre))
    return math.exp(-((d / width) ** 2))


@dataclass(frozen=True, slots=True)
class Occupancy:
    """A parking bay: occupied (1) or free (0), busier by day; bays stay in a state a while."""

    night: float = 0.6  # probability of being occupied overnight (residents)
    day: float = 0.85  # during shopping hours
    evening: float = 0.5
    stickiness: float = 0.8  # chance of keeping the previous state at a reading

    def start(self, rng: random.Random) -> ValueState:
        return _OccupancyState(self, float(rng.random() < self.day))


@dataclass(slots=True)
class _OccupancyState:
    model: Occupancy
    occupied: float

    def next(self, local: datetime, elapsed_s: float, rng: random.Random) -> float:
        m, h = self.model, _hours(local)
        if rng.random() < m.stickiness:
            return self.occupied
        p = m.day if 9 <= h < 18 else m.evening if 18 <= h < 23 else m.night
        self.occupied = float(rng.random() < p)
        return self.occupied


@dataclass(frozen=True, slots=True)
class BinFill:
    """A waste bin filling in percent, faster by day, emptied by the collection round."""

    per_hour: tuple[float, float] = (0.3, 1.5)  # this bin's fill rate range, % per hour
    emptied_at: float = 85.0  # the round empties bins fuller than this
    round_hour: int = 7  # collection round runs 07:00-08:00

    def start(self, rng: random.Random) -> ValueState:
        return _BinState(self, rng.uniform(*self.per_hour), rng.uniform(0, 60))


@dataclass(slots=True)
class _BinState:
    model: BinFill
    rate: float
    fill: float

    def next(self, local: datetime, elapsed_s: float, rng: random.Random) -> float:
        m, h = self.model, _hours(local)
        daytime = 1.5 if 8 <= h < 22 else 0.3
        self.fill += self.rate * daytime * elapsed_s / 3600 * rng.uniform(0.5, 1.5)
        if (self.fill >= m.emptied_at and int(h) == m.round_hour) or self.fill >= 100:
            self.fill = rng.uniform(0, 3)  # emptied (or overflowing bins get an extra trip)
        return _clamp(self.fill, 0, 100)


@dataclass(frozen=True, slots=True)
class Derived:
    """A value computed from another channel of the same reading (its quantity and sensor)."""

    source: tuple[str, int]
    scale: float = 1.0
    offset: float = 0.0

    def derive(self, source_value: float) -> float:
        return self.offset + self.scale * source_value


# People passing per hour, relative to the day's peak (a shopping street; Mon-Fri).
_PEOPLE_BY_HOUR = (
    0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.15, 0.45, 0.7, 0.5, 0.55, 0.75,
    0.95, 0.9, 0.8, 0.8, 0.9, 1.0, 0.8, 0.6, 0.45, 0.3, 0.15, 0.06,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PeopleCount:
    """People counted since the previous reading: Poisson around an hourly profile."""

    peak_per_hour: float = 600.0
    weekend_factor: float = 1.2

    def start(self, rng: random.Random) -> ValueState:
        return _PeopleState(self, rng.uniform(0.3, 1.5))


@dataclass(slots=True)
class _PeopleState:
    model: PeopleCount
    busy: float

    def next(self, local: datetime, elapsed_s: float, rng: random.Random) -> float:
        m = self.model
        rate = m.peak_per_hour * self.busy * _PEOPLE_BY_HOUR[local.hour]
        if local.weekday() >= 5:
            rate *= m.weekend_factor
        return float(_poisson(rate * elapsed_s / 3600, rng))


def _poisson(mean: float, rng: random.Random) -> int:
    if mean > 30:  # normal approximation; exact enough for counts this large
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@dataclass(frozen=True, slots=True)
class Battery:
    """Battery voltage draining slowly per uplink, with a little measurement noise."""

    full_v: tuple[float, float] = (3.55, 3.65)
    per_uplink_v: float = 0.000005  # ~ 0.26 V over 50,000 uplinks: years at 10-minute intervals
    empty_v: float = 2.5
    noise: float = 0.005

    def start(self, rng: random.Random) -> ValueState:
        return _BatteryState(self, rng.uniform(*self.full_v))


@dataclass(slots=True)
class _BatteryState:
    model: Battery
    volts: float

    def next(self, local: datetime, elapsed_s: float, rng: random.Random) -> float:
        m = self.model
        self.volts = max(m.empty_v, self.volts - m.per_uplink_v)
        cold = 0.03 if local.hour < 7 else 0.0  # cold mornings sag the voltage a little
        return self.volts - cold + rng.gauss(0, m.noise)


@dataclass(frozen=True, slots=True)
class RandomWalk:
    """A slow random walk kept inside a band: barometric pressure."""

    mean: float
    step: float
    lo: float
    hi: float

    def start(self, rng: random.Random) -> ValueState:
        return _WalkState(self, self.mean + rng.uniform(-self.step, self.step) * 10)


@dataclass(slots=True)
class _WalkState:
    model: RandomWalk
    value: float

    def next(self, local: datetime, elapsed_s: float, rng: random.Random) -> float:
        m = self.model
        pull = (m.mean - self.value) * 0.01
        self.value = _clamp(self.value + pull + rng.gauss(0, m.step), m.lo, m.hi)
        return self.value
