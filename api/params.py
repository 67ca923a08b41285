"""Query parameters shared by several routes, checked with messages that say what to fix."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from api.errors import BadParameterError

_DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")
_BUCKET = re.compile(r"^(\d{1,6})(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MIN_BUCKET = timedelta(seconds=1)
_MAX_BUCKET = timedelta(days=366)


def dev_eui(value: str) -> str:
    """Accept a DevEUI in either case; store and compare upper-case."""
    if not _DEV_EUI.match(value):
        raise BadParameterError(f"dev_eui {value!r} must be 16 hexadecimal digits")
    return value.upper()


def bucket(value: str) -> timedelta:
    match = _BUCKET.match(value)
    if match is None:
        raise BadParameterError(
            f"bucket {value!r} must be a number and a unit s, m, h or d, such as 15m, 1h or 1d"
        )
    size = timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
    if not _MIN_BUCKET <= size <= _MAX_BUCKET:
        raise BadParameterError(f"bucket {value!r} must be between 1s and 366d")
    return size


def time_range(
    start: datetime | None, end: datetime | None, max_days: int, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """Default to the last 24 hours; refuse empty, inverted or overlong ranges."""
    end = (end or now or datetime.now(UTC)).astimezone(UTC)
    start = (start or end - timedelta(days=1)).astimezone(UTC)
    if start >= end:
        raise BadParameterError(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    if end - start > timedelta(days=max_days):
        raise BadParameterError(
            f"the range from {start.isoformat()} to {end.isoformat()} is longer than the "
            f"limit of {max_days} days; split it into several requests"
        )
    return start, end
