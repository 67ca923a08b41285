"""CayenneLPP: a frame of `[channel u8][type u8][data...]` records, multi-byte values big-endian.

Layout: myDevices Cayenne Low Power Payload (type = IPSO object id - 3200) plus the extended types
of the TTN/ElectronicCats Arduino library that ChirpStack v4 also decodes (see formats.md §3.1).
The channel becomes the measurement's `sensor`, so two temperature probes stay apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from decoders.base import Decoded, DecodeError, Measurement

VERSION = "1.0.0"

# Gravity used to turn the accelerometer's G into SI m/s2 (CGPM 1901 standard gravity).
_STANDARD_GRAVITY = 9.80665


@dataclass(frozen=True, slots=True)
class _Field:
    """One value inside a record: its quantity, byte width, scale (value = raw * scale), sign."""

    quantity: str
    width: int
    scale: float
    signed: bool


def _one(quantity: str, width: int, scale: float, signed: bool = False) -> tuple[_Field, ...]:
    return (_Field(quantity, width, scale, signed),)


def _three(prefix: str, width: int, scale: float, signed: bool) -> tuple[_Field, ...]:
    return tuple(_Field(f"{prefix}_{axis}", width, scale, signed) for axis in "xyz")


# type id -> fields in payload order. Sizes and resolutions from formats.md §3.1.
_TYPES: dict[int, tuple[_Field, ...]] = {
    0: _one("digital_input", 1, 1),  # 1 B u8
    1: _one("digital_output", 1, 1),  # 1 B u8
    2: _one("analog_input", 2, 0.01, signed=True),  # 2 B, 0.01 signed
    3: _one("analog_output", 2, 0.01, signed=True),  # 2 B, 0.01 signed
    100: _one("generic", 4, 1),  # 4 B, u32
    101: _one("illuminance", 2, 1),  # 2 B, 1 lux unsigned
    102: _one("presence", 1, 1),  # 1 B u8
    103: _one("air_temperature", 2, 0.1, signed=True),  # 2 B, 0.1 °C signed
    104: _one("relative_humidity", 1, 0.5),  # 1 B, 0.5 %RH unsigned
    113: _three("acceleration", 2, 0.001 * _STANDARD_GRAVITY, signed=True),  # 3x2 B, 0.001 G
    115: _one("barometric_pressure", 2, 0.1),  # 2 B, 0.1 hPa unsigned
    116: _one("voltage", 2, 0.01),  # 2 B, 0.01 V unsigned
    117: _one("current", 2, 0.001),  # 2 B, 0.001 A unsigned
    118: _one("frequency", 4, 1),  # 4 B, 1 Hz unsigned
    120: _one("percentage", 1, 1),  # 1 B, 1 % unsigned
    121: _one("altitude", 2, 1, signed=True),  # 2 B, 1 m signed
    125: _one("concentration", 2, 1),  # 2 B, 1 ppm unsigned
    128: _one("power", 2, 1),  # 2 B, 1 W unsigned
    130: _one("distance", 4, 0.001),  # 4 B, 0.001 m unsigned
    131: _one("energy", 4, 0.001),  # 4 B, 0.001 kWh unsigned
    132: _one("direction", 2, 1),  # 2 B, 1 degree unsigned
    134: _three("angular_velocity", 2, 0.01, signed=True),  # 3x2 B, 0.01 °/s signed
    135: (  # 3x1 B, r, g, b u8
        _Field("colour_red", 1, 1, False),
        _Field("colour_green", 1, 1, False),
        _Field("colour_blue", 1, 1, False),
    ),
    136: (  # 9 B: lat, lon 3 B each 0.0001° signed; altitude 3 B 0.01 m signed
        _Field("latitude", 3, 0.0001, True),
        _Field("longitude", 3, 0.0001, True),
        _Field("altitude", 3, 0.01, True),
    ),
    142: _one("switch", 1, 1),  # 1 B, 0/1
}
_UNIX_TIME = 133  # 4 B, seconds since 1970 UTC, unsigned: timestamps the whole frame

# Decimal scales divide instead: 225 / 10 is the double nearest 22.5 (as round(225 * 0.1, 1) is),
# where 225 * 0.1 would be 22.500000000000004.
_DIVISORS = {1: 1, 0.1: 10, 0.01: 100, 0.001: 1000, 0.0001: 10000}


# type id -> (record size, fields as (quantity, width, signed, divisor or 0, scale)), precomputed
# so the decoder does no per-record lookups or sums: LPP is the commonest format on the hot path.
_LAYOUTS: dict[int, tuple[int, tuple[tuple[str, int, bool, int, float], ...]]] = {
    type_id: (
        sum(f.width for f in fields),
        tuple((f.quantity, f.width, f.signed, _DIVISORS.get(f.scale, 0), f.scale) for f in fields),
    )
    for type_id, fields in _TYPES.items()
}


# A sensor's readings move in small quantised steps, so the same records (type, channel, bytes)
# come again and again across a fleet; their measurements are immutable values and are shared.
# Emptied when it holds _RECORDS_KEPT records.
_RECORDS: dict[tuple[int, int, bytes], tuple[Measurement, ...]] = {}
_RECORDS_KEPT = 20_000


def _record(
    fields: tuple[tuple[str, int, bool, int, float], ...], data: bytes, channel: int
) -> tuple[Measurement, ...]:
    measurements = []
    pos = 0
    for quantity, width, signed, divisor, scale in fields:
        raw = int.from_bytes(data[pos : pos + width], signed=signed)
        value = raw / divisor if divisor else raw * scale
        measurements.append(Measurement(quantity, value, channel))
        pos += width
    return tuple(measurements)


def decode(payload: bytes, f_port: int) -> Decoded:
    """Decode a CayenneLPP frame (any port: LPP does not use the port)."""
    if not payload:
        raise DecodeError("empty CayenneLPP frame")
    measurements: list[Measurement] = []
    frame_time: datetime | None = None
    pos = 0
    end = len(payload)
    while pos < end:
        if pos + 2 > end:
            raise DecodeError(f"truncated CayenneLPP record header at byte {pos}")
        channel, type_id = payload[pos], payload[pos + 1]
        pos += 2
        if type_id == _UNIX_TIME:
            if pos + 4 > end:
                raise DecodeError(f"truncated unix time on channel {channel} at byte {pos}")
            frame_time = datetime.fromtimestamp(int.from_bytes(payload[pos : pos + 4]), tz=UTC)
            pos += 4
            continue
        layout = _LAYOUTS.get(type_id)
        if layout is None:
            raise DecodeError(f"unknown CayenneLPP type {type_id} on channel {channel}")
        size, fields = layout
        if pos + size > end:
            raise DecodeError(
                f"truncated CayenneLPP type {type_id} on channel {channel}: "
                f"needs {size} bytes, {end - pos} left"
            )
        key = (type_id, channel, payload[pos : pos + size])
        record = _RECORDS.get(key)
        if record is None:
            record = _record(fields, key[2], channel)
            if len(_RECORDS) >= _RECORDS_KEPT:
                _RECORDS.clear()
            _RECORDS[key] = record
        measurements += record
        pos += size
    if frame_time is not None:  # the frame's timestamp applies to all its values
        measurements = [
            Measurement(m.quantity, m.value, m.sensor, frame_time) for m in measurements
        ]
    return Decoded(tuple(measurements))


_FIELD_OWNER: dict[str, tuple[int, tuple[_Field, ...]]] = {
    f.quantity: (type_id, fields) for type_id, fields in _TYPES.items() for f in fields
}


def encode(measurements: Iterable[Measurement], f_port: int = 1) -> bytes:
    """Encode measurements as CayenneLPP, each on its `sensor` as channel.

    Multi-value types (accelerometer, gyrometer, colour, GPS) need all their components on the same
    channel. A frame timestamp is written when the measurements carry one.
    """
    out = bytearray()
    pending: dict[tuple[int, int], dict[str, float]] = {}
    order: list[tuple[int, int]] = []
    frame_time: datetime | None = None
    for m in measurements:
        if m.quantity not in _FIELD_OWNER:
            raise ValueError(f"CayenneLPP has no type for quantity {m.quantity!r}")
        if not 0 <= m.sensor <= 255:
            raise ValueError(f"CayenneLPP channel must be 0..255, got {m.sensor}")
        if m.time is not None:
            frame_time = m.time
        type_id, fields = _FIELD_OWNER[m.quantity]
        if len(fields) > 1 and m.quantity == "altitude" and (m.sensor, 136) not in pending:
            type_id, fields = 121, _TYPES[121]
        key = (m.sensor, type_id)
        if key not in pending:
            pending[key] = {}
            order.append(key)
        pending[key][m.quantity] = m.value
    if frame_time is not None:
        out += bytes((0, _UNIX_TIME)) + int(frame_time.timestamp()).to_bytes(4)
    for channel, type_id in order:
        fields, given = _TYPES[type_id], pending[(channel, type_id)]
        missing = [f.quantity for f in fields if f.quantity not in given]
        if missing:
            raise ValueError(f"CayenneLPP type {type_id} on channel {channel} lacks {missing}")
        out += bytes((channel, type_id))
        for f in fields:
            raw = round(given[f.quantity] / f.scale)
            try:
                out += raw.to_bytes(f.width, signed=f.signed)
            except OverflowError:
                raise ValueError(
                    f"{f.quantity}={given[f.quantity]} does not fit CayenneLPP type {type_id}"
                ) from None
    return bytes(out)
