"""Query parameters shared by several routes, checked with messages that say what to fix."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.errors import BadParameterError

_DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}\Z")
_BUCKET = re.compile(r"^([0-9]{1,6})(s|m|h|d)\Z")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MIN_BUCKET = timedelta(seconds=1)
_MAX_BUCKET = timedelta(days=366)
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)


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
    for name, value in (("from", start), ("to", end)):
        if value is not None and not _EARLIEST <= value <= _LATEST:
            raise BadParameterError(f"{name} must lie between the years 1900 and 9999")
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


def timezone(value: str) -> str:
    """An IANA time zone name such as Europe/Amsterdam."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadParameterError(
            f"tz {value!r} is not an IANA time zone name such as Europe/Amsterdam or UTC"
        ) from None
    return value


_NUMBER = r"\s*(-?\d{1,3}(?:\.\d{1,12})?)\s*"
_BBOX = re.compile(rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$", re.ASCII)


def bbox(value: str) -> tuple[float, float, float, float]:
    """min_lon,min_lat,max_lon,max_lat in WGS84 degrees, as GeoJSON orders a bbox."""
    match = _BBOX.match(value)
    message = f"bbox {value!r} must be min_lon,min_lat,max_lon,max_lat in degrees"
    if match is None:
        raise BadParameterError(message + ", such as 5.0,52.0,5.2,52.2")
    min_lon, min_lat, max_lon, max_lat = (float(g) for g in match.groups())
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise BadParameterError(
            message + " with min <= max, longitude within -180..180 and latitude within -90..90"
        )
    return min_lon, min_lat, max_lon, max_lat


def latest_cursor(value: str) -> tuple[str, int]:
    """The next_cursor of a latest-values page: DEV_EUI.sensor."""
    eui, _, sensor = value.partition(".")
    if not re.fullmatch(r"[0-9]{1,5}", sensor) or int(sensor) > 32767:
        raise BadParameterError(f"cursor {value!r} must be the next_cursor of the previous page")
    return dev_eui(eui), int(sensor)
