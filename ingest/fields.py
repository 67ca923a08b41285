"""Typed access to fields of a parsed JSON envelope: absent means default, a wrong type is a
`ParseError` whose reason names the field, never an exception of another kind."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ingest.model import ParseError


def obj_field(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ParseError(f"{key} is not an object")
    return value


def str_field(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(f"{key} is not a string")
    return value


UINT32_END = 2**32  # frame counters and ports are unsigned 32-bit in the envelopes


def int_field(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < UINT32_END:
        raise ParseError(f"{key} is not an unsigned 32-bit integer: {value!r}")
    return value


def float_field(doc: dict[str, Any], key: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParseError(f"{key} is not a number: {value!r}")
    return float(value)


def timestamp(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(f"{name} {text!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is UTC:  # "...Z", as network servers write it
        return moment
    if moment.tzinfo is None:
        raise ParseError(f"{name} {text!r} has no UTC offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # "9999-12-31T23:59:59-01:00" is in the year 10000 in UTC
        raise ParseError(f"{name} {text!r} is outside the years 1 to 9999 in UTC") from None
