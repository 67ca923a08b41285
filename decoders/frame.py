"""Bounds-checked reads from a frame: every short read becomes a `DecodeError`, never IndexError."""

from __future__ import annotations

from collections.abc import Iterable

from decoders.base import DecodeError, Measurement


def need(payload: bytes, size: int, what: str) -> None:
    """Raise unless `payload` holds exactly `size` bytes."""
    if len(payload) != size:
        raise DecodeError(f"{what}: expected {size} bytes, got {len(payload)}")


def take(payload: bytes, pos: int, size: int, what: str) -> bytes:
    """The `size` bytes at `pos`, or a `DecodeError` naming what was cut short."""
    end = pos + size
    if end > len(payload):
        raise DecodeError(
            f"truncated {what} at byte {pos}: needs {size}, {len(payload) - pos} left"
        )
    return payload[pos:end]


def fit(value: float, scale: float, size: int, signed: bool, what: str) -> bytes:
    """Encode `value / scale` as a big-endian integer of `size` bytes (inverse of decode)."""
    raw = round(value / scale)
    try:
        return raw.to_bytes(size, signed=signed)
    except OverflowError:
        raise ValueError(f"{what}={value} does not fit {size} bytes") from None


def by_key(measurements: Iterable[Measurement]) -> dict[tuple[str, int], float]:
    """Index measurements by (quantity, sensor) for encoders; later duplicates win."""
    return {(m.quantity, m.sensor): m.value for m in measurements}
