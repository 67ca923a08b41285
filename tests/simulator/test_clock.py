"""Simulations faster than real time never send measurements from the future: they run from the
past up to the present, and no message goes out before its own time on the wall clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from meetnet.simulate import Options, plan
from simulator import paced
from simulator.fleet import SimulatedUplink

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def _times(options: Options) -> list[datetime]:
    messages = plan(options, now=NOW).messages
    uplinks = [m for m in messages if isinstance(m, SimulatedUplink)]
    assert uplinks
    return [u.received_at for u in uplinks]


def test_an_accelerated_run_of_an_hour_is_the_hour_before_now() -> None:
    times = _times(Options(models=("climate",), devices=4, mode="accelerated", duration_s=3600))
    assert min(times) >= NOW - timedelta(hours=1) and max(times) < NOW
    assert len(times) == 4 * 6  # every 10 minutes


def test_a_fast_run_of_a_count_ends_before_now() -> None:
    times = _times(Options(models=("climate", "noise"), devices=5, mode="fast", count=500))
    assert len(times) == 500 and max(times) < NOW


def test_an_endless_accelerated_run_starts_a_day_ago() -> None:
    first = next(iter(plan(Options(devices=2, mode="accelerated"), now=NOW).messages))
    assert isinstance(first, SimulatedUplink)
    assert NOW - timedelta(days=1) <= first.received_at < NOW - timedelta(hours=23)


def test_a_realtime_run_starts_now() -> None:
    first = next(iter(plan(Options(devices=1, mode="realtime"), now=NOW).messages))
    assert isinstance(first, SimulatedUplink) and first.received_at >= NOW


@dataclass
class Clock:
    """Monotonic seconds and the wall clock, moved only by sleeping."""

    seconds: float = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds

    def wall(self) -> datetime:
        return NOW + timedelta(seconds=self.seconds)


def test_pacing_catches_up_with_the_present_then_follows_it() -> None:
    """At 60 times real time from an hour ago: a minute to catch up, then real time."""
    times = [NOW + timedelta(minutes=m) for m in range(-60, 31, 10)]
    clock = Clock()
    released = []
    for t in paced(
        times,
        60,
        lambda t: t,
        clock=clock.monotonic,
        sleep=clock.sleep,
        not_before=lambda t: t,
        now=clock.wall,
    ):
        released.append((t, clock.seconds))
    # -60..0 minutes: a simulated 10 minutes per 10 s; then each at its own time.
    assert released == [
        (times[0], 0.0), (times[1], 10.0), (times[2], 20.0), (times[3], 30.0),
        (times[4], 40.0), (times[5], 50.0), (times[6], 60.0),
        (times[7], 600.0), (times[8], 1200.0), (times[9], 1800.0),
    ]  # fmt: skip


def test_fast_pacing_waits_only_for_the_future() -> None:
    clock = Clock()
    past = [NOW - timedelta(hours=2), NOW - timedelta(seconds=1)]
    future = NOW + timedelta(seconds=30)
    out = list(
        paced(
            [*past, future],
            0,
            lambda t: t,
            sleep=clock.sleep,
            not_before=lambda t: t,
            now=clock.wall,
        )
    )
    assert out == [*past, future] and clock.seconds == 30.0
