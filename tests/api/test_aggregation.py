"""The pure maths of the aggregation kinds: circular means of directions, counter deltas."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from api.aggregation import circular_mean, combine, direction, unit_vector
from decoders.catalogue import Aggregation


def _gap(a: float, b: float) -> float:
    """The angle between two directions, 0..180."""
    d = abs(a - b) % 360
    return min(d, 360 - d)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([350.0, 10.0], 0.0),  # not 180
        ([10.0, 350.0], 0.0),
        ([80.0, 100.0], 90.0),
        ([170.0, 190.0], 180.0),
        ([260.0, 280.0], 270.0),
        ([90.0], 90.0),
        ([10.0], 10.0),
        ([0.0, 90.0], 45.0),
        ([0.0, 180.0], None),  # opposite: no mean direction
        ([0.0, 120.0, 240.0], None),
        ([], None),
    ],
)
def test_circular_mean_vectors(values: list[float], expected: float | None) -> None:
    assert circular_mean(values) == expected


def test_unit_vectors_are_exact_mirror_images() -> None:
    s10, c10 = unit_vector(10.0)
    assert unit_vector(350.0) == (-s10, c10)
    assert unit_vector(170.0) == (s10, -c10)
    assert unit_vector(190.0) == (-s10, -c10)
    assert unit_vector(-10.0) == (-s10, c10)
    assert unit_vector(90.0) == (1.0, 0.0)
    assert unit_vector(30.0)[0] == 0.5  # as PostgreSQL's sind(30)


_ANGLES = st.floats(0, 360, exclude_max=True, allow_nan=False)


@given(st.lists(_ANGLES, min_size=1, max_size=20), st.floats(-720, 720, allow_nan=False))
def test_rotating_every_direction_rotates_the_mean(values: list[float], turn: float) -> None:
    vectors = [unit_vector(v) for v in values]
    resultant = math.hypot(sum(s for s, _ in vectors), sum(c for _, c in vectors))
    assume(resultant > 1e-3 * len(values))  # a mean far from cancelling
    before = circular_mean(values)
    after = circular_mean([v + turn for v in values])
    assert before is not None and after is not None
    assert 0 <= after < 360
    assert _gap(after, before + turn) < 1e-6


@given(_ANGLES, st.lists(st.floats(0, 170, allow_nan=False), min_size=1, max_size=20))
def test_directions_within_an_arc_average_within_it(start: float, offsets: list[float]) -> None:
    """Directions spread over less than 180° have their mean inside that arc."""
    mean = circular_mean([start + o for o in offsets])
    assert mean is not None
    into = (mean - start) % 360
    assert min(offsets) - 1e-6 <= into <= max(offsets) + 1e-6 or _gap(mean, start) < 1e-6


@given(_ANGLES, st.floats(0, 89, allow_nan=False))
def test_a_symmetric_pair_averages_to_its_middle(middle: float, spread: float) -> None:
    mean = circular_mean([middle - spread, middle + spread])
    assert mean is not None and _gap(mean, middle) < 1e-9


def test_direction_of_sums_and_cancelling() -> None:
    assert direction(0.0, 2.0, 2) == 0.0
    assert direction(1.0, 0.0, 1) == 90.0
    assert direction(-1.0, 0.0, 1) == 270.0
    assert direction(1e-17, -1e-17, 2) is None
    assert direction(None, 1.0, 1) is None


def test_combining_latest_values_by_kind() -> None:
    assert combine(Aggregation.COUNTER, [1000.0, 250.0]) == 1250.0  # meters: their sum
    assert combine(Aggregation.CIRCULAR_MEAN, [350.0, 10.0]) == 0.0
    assert combine(Aggregation.MEAN, [350.0, 10.0]) == 180.0
    assert combine(Aggregation.ENERGY_MEAN, [60.0, 60.0]) == pytest.approx(60.0)


def counter_delta(reference: float, readings: list[float]) -> float:
    """The rule of api/series.py `_with_deltas`, on one bucket's readings in time order."""
    top, last = max(readings), readings[-1]
    return (top - reference if top >= reference else top) + (last if last < top else 0)


def _bucket_trace(draw: st.DrawFn) -> tuple[float, list[list[float]], float]:
    """A meter: a start reading, buckets of readings that climb and reset at most once per
    bucket, and the true consumption (every increase, and after a reset the new reading). A
    reset shows as a drop below the reading before it, and the meter does not climb back above
    that reading in the same bucket: what the rule needs to see it."""
    start = draw(st.integers(1, 10_000))
    reading, used, buckets = float(start), 0.0, []
    for _ in range(draw(st.integers(1, 8))):
        reset_at = draw(st.one_of(st.none(), st.integers(0, 4)))
        ceiling = math.inf
        bucket = []
        for i in range(draw(st.integers(1, 5))):
            if i == reset_at and reading >= 1:
                ceiling = reading
                reading = float(draw(st.integers(0, int(reading) - 1)))
                used += reading
            else:
                step = float(draw(st.integers(0, 500)))
                step = min(step, max(ceiling - 1 - reading, 0.0))
                reading += step
                used += step
            bucket.append(reading)
        buckets.append(bucket)
    return float(start), buckets, used


@given(st.composite(_bucket_trace)())
def test_counter_deltas_add_up_to_the_consumption(
    trace: tuple[float, list[list[float]], float],
) -> None:
    """Each bucket's delta from the previous bucket's last reading: never negative, and their
    sum is what the meter counted, resets included, while it resets at most once per bucket."""
    reference, buckets, used = trace
    total = 0.0
    for bucket in buckets:
        delta = counter_delta(reference, bucket)
        assert delta >= 0
        total += delta
        reference = bucket[-1]
    assert total == used


def test_counter_delta_vectors() -> None:
    assert counter_delta(1000, [1010, 1030]) == 30
    assert counter_delta(1030, [1100]) == 70
    assert counter_delta(1100, [20, 50]) == 50  # reset at the bucket's start
    assert counter_delta(1000, [1010, 1030, 20, 50]) == 30 + 50  # reset inside
    assert counter_delta(1000, [1000, 1010, 1030, 1100, 20, 50]) == 100 + 50
