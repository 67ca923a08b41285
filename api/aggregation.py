"""The value of a bucket, or of a zone's devices, under each aggregation kind: pure maths.

The SQL (api/series.py) hands over per bucket count, sum (linear energy for decibels), min, max,
the newest value, and for circular quantities the sums of sines and cosines, for counters the
delta. Directions are averaged as vectors: 350° and 10° give 0°, not 180°; where they cancel
(0° and 180°) there is no mean direction and the value is null.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from decoders.catalogue import Aggregation

# A resultant shorter than this, per unit vector, is taken as directions cancelling: what is left
# is rounding, pointing anywhere.
_CANCELLED = 1e-9
_DB_CLAMP = 300.0  # decibels are clamped as rollup_addend does (migrations/functions)


def unit_vector(degrees: float) -> tuple[float, float]:
    """(sin, cos) of an angle in degrees, exactly mirrored as PostgreSQL's sind/cosd are: the
    angle is reduced to 0..90° and the signs set by its quadrant, so 350° is bit for bit 10°
    mirrored, and their sines cancel exactly."""
    a = (degrees + 180.0) % 360.0 - 180.0  # -180 <= a < 180
    sign = -1.0 if a < 0 else 1.0
    a = abs(a)
    flip = a > 90.0
    if flip:
        a = 180.0 - a
    if a == 90.0:
        s, c = 1.0, 0.0
    elif a == 30.0:
        s, c = 0.5, math.cos(math.radians(a))
    elif a == 60.0:
        s, c = math.sin(math.radians(a)), 0.5
    else:
        s, c = math.sin(math.radians(a)), math.cos(math.radians(a))
    return sign * s, (-c if flip else c)


def direction(sum_sin: float | None, sum_cos: float | None, vectors: int) -> float | None:
    """The direction in [0, 360) of a sum of `vectors` unit vectors; None where they cancel."""
    if sum_sin is None or sum_cos is None or vectors <= 0:
        return None
    if math.hypot(sum_sin, sum_cos) <= _CANCELLED * vectors:
        return None
    # Rounded to 1e-9 degrees, far below any vane's resolution, so that a single 10° stays 10.0
    # and not 10.000000000000002 after the round trip through sine and cosine.
    angle = round(math.degrees(math.atan2(sum_sin, sum_cos)) % 360.0, 9)
    return 0.0 if angle == 360.0 else angle + 0.0  # + 0.0: no -0.0


def circular_mean(values: Iterable[float]) -> float | None:
    """The mean direction of angles in degrees; None for none, or where they cancel."""
    vectors = [unit_vector(v) for v in values]
    return direction(sum(s for s, _ in vectors), sum(c for _, c in vectors), len(vectors))


def _energy_mean(values: list[float]) -> float:
    linear = [10 ** (max(-_DB_CLAMP, min(_DB_CLAMP, v)) / 10) for v in values]
    return 10 * math.log10(sum(linear) / len(linear))


def combine(kind: Aggregation, values: list[float]) -> float | None:
    """Values of one instant (several devices' or sensors' latest) as one value of the kind:
    sum of counts and of meter readings, energy mean of decibels, max, circular mean of
    directions, else the mean (for states: the share in state 1)."""
    if kind is Aggregation.SUM or kind is Aggregation.COUNTER:
        return sum(values)
    if kind is Aggregation.ENERGY_MEAN:
        return _energy_mean(values)
    if kind is Aggregation.MAX:
        return max(values)
    if kind is Aggregation.CIRCULAR_MEAN:
        return circular_mean(values)
    return sum(values) / len(values)


def value_of(kind: Aggregation, row: Any) -> float | None:
    """A device bucket's value under the quantity's kind."""
    if kind is Aggregation.MEAN:
        return float(row["sum"]) / int(row["count"])
    if kind is Aggregation.SUM:
        return float(row["sum"])
    if kind is Aggregation.ENERGY_MEAN:
        return 10 * math.log10(float(row["sum"]) / int(row["count"]))
    if kind is Aggregation.MAX:
        return float(row["max"])
    if kind is Aggregation.CIRCULAR_MEAN:
        return direction(row["sum_sin"], row["sum_cos"], int(row["count"]))
    return float(row["last"])  # states and counters: the newest value


def zone_value_of(kind: Aggregation, row: Any) -> float | None:
    """A zone bucket's value from the combined row of api/series.py `zone_sql`."""
    if kind is Aggregation.CIRCULAR_MEAN:
        return direction(row["sum_sin"], row["sum_cos"], int(row["devices"]))
    if kind is Aggregation.ENERGY_MEAN:
        return 10 * math.log10(float(row["value"]))
    return float(row["value"])


def delta_of(kind: Aggregation, row: Any) -> float | None:
    """What a counter added in the bucket (resets count from zero); None for other kinds."""
    return float(row["delta"]) if kind is Aggregation.COUNTER else None
