"""Releasing messages at their simulated times: real time, accelerated N times, or at once.

The clock and sleep are injectable so tests can check timing without waiting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


def paced(
    items: Iterable[T],
    speed: float,
    time_of: Callable[[T], datetime | None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    not_before: Callable[[T], datetime | None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[T]:
    """Yield each item when `(its time - first item's time) / speed` has passed on `clock`.

    `speed` 1 is real time, 60 is a simulated hour per minute; 0 or infinity means no waiting.
    Items without a time, or earlier than one already released, go out at once. With
    `not_before` (the time a message carries, say), no item goes out before that time on the
    wall clock `now`: a simulation faster than real time catches up with the present and then
    follows it, and never sends a time from the future.
    """
    paces = 0 < speed < math.inf
    if not paces and not_before is None:
        yield from items
        return
    origin: tuple[datetime, float] | None = None
    for item in items:
        delay = 0.0
        moment = time_of(item) if paces else None
        if moment is not None:
            if origin is None:
                origin = (moment, clock())
            delay = origin[1] + (moment - origin[0]).total_seconds() / speed - clock()
        if not_before is not None and (inside := not_before(item)) is not None:
            delay = max(delay, (inside - now()).total_seconds())
        if delay > 0:
            sleep(delay)
        yield item
