"""Releasing messages at their simulated times: real time, accelerated N times, or at once.

The clock and sleep are injectable so tests can check timing without waiting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


def paced(
    items: Iterable[T],
    speed: float,
    time_of: Callable[[T], datetime | None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[T]:
    """Yield each item when `(its time - first item's time) / speed` has passed on `clock`.

    `speed` 1 is real time, 60 is a simulated hour per minute; 0 or infinity means no waiting.
    Items without a time, or earlier than one already released, go out at once.
    """
    if speed <= 0 or math.isinf(speed):
        yield from items
        return
    origin: tuple[datetime, float] | None = None
    for item in items:
        moment = time_of(item)
        if moment is not None:
            if origin is None:
                origin = (moment, clock())
            target = origin[1] + (moment - origin[0]).total_seconds() / speed
            delay = target - clock()
            if delay > 0:
                sleep(delay)
        yield item
