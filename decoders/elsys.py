"""Elsys TLV payload (ERS, ERS CO2, ERS Sound, ERS Eye, EMS Door and the rest of the family).

Frame = repeated `[type u8][data...]`, big-endian, sizes fixed per type (Elsys "Payload structure"
document v2.x, table of data types; Elsys's generic decoder). Unknown types raise `DecodeError`
(their size is unknown, so the rest of the frame cannot be read). A repeated record replaces the
earlier one, except type 0x19: each one is another external probe (sensors 2, 3, ...), as the
vendor's decoder makes a list of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key, take

VERSION = "1.0.0"

_G_PER_UNIT = 9.80665 / 63  # accelerometer: 63 counts = 1 G (Elsys payload doc, type 0x03)

# type -> (size, fields); a field is (quantity or "state:key", signed, scale, sensor)
_TYPES: dict[int, tuple[int, tuple[tuple[str, bool, float, int], ...]]] = {
    0x01: (2, (("air_temperature", True, 0.1, 0),)),  # 2 B signed, 0.1 °C
    0x02: (1, (("relative_humidity", False, 1, 0),)),  # 1 B, %RH
    0x03: (3, tuple((f"acceleration_{a}", True, _G_PER_UNIT, 0) for a in "xyz")),  # 3x1 B signed
    0x04: (2, (("illuminance", False, 1, 0),)),  # 2 B, lx
    0x05: (1, (("motion_count", False, 1, 0),)),  # 1 B, PIR events since last frame
    0x06: (2, (("co2", False, 1, 0),)),  # 2 B, ppm
    0x07: (2, (("battery_voltage", False, 0.001, 0),)),  # 2 B, mV
    0x08: (2, (("voltage", False, 0.001, 0),)),  # 2 B, analog input 1, mV
    0x0A: (2, (("state:pulse1", False, 1, 0),)),  # 2 B, pulses since last frame
    0x0B: (4, (("state:pulse1_abs", False, 1, 0),)),  # 4 B, absolute pulse count
    0x0C: (2, (("air_temperature", True, 0.1, 1),)),  # 2 B signed, external probe 0.1 °C
    0x0D: (1, (("door_open", False, 1, 0),)),  # 1 B, digital input (EMS Door: 1 = open)
    0x0E: (2, (("distance", False, 0.001, 0),)),  # 2 B, mm
    0x0F: (1, (("state:acc_motion", False, 1, 0),)),  # 1 B, accelerometer motion count
    0x11: (1, (("occupancy", False, 1, 0),)),  # 1 B, 0 free, 1 pending, 2 occupied
    0x12: (1, (("state:water_leak", False, 1, 0),)),  # 1 B, 0..255
    0x14: (4, (("barometric_pressure", False, 0.001, 0),)),  # 4 B, 0.001 hPa
    0x15: (2, (("noise_lamax", False, 1, 0), ("noise_laeq", False, 1, 0))),  # peak, avg dB
    0x16: (2, (("state:pulse2", False, 1, 0),)),  # 2 B
    0x17: (4, (("state:pulse2_abs", False, 1, 0),)),  # 4 B
    0x18: (2, (("voltage", False, 0.001, 1),)),  # 2 B, analog input 2, mV
    0x19: (2, (("air_temperature", True, 0.1, 2),)),  # 2 B signed, second probe
    0x1A: (1, (("state:digital2", False, 1, 0),)),  # 1 B
    0x1B: (4, (("voltage", True, 1e-6, 2),)),  # 4 B signed, load cell analog input, uV
    0x1C: (2, (("tvoc", False, 1, 0),)),  # 2 B, ppb
    0x3D: (4, (("state:debug", False, 1, 0),)),  # 4 B, debug
}
_IR = 0x10  # 4 B: 2 B signed internal, 2 B signed external (surface) temperature, 0.1 °C
_GPS = 0x09  # 6 B: latitude, longitude, 3 B signed little-endian each, 0.0001 °
_GRIDEYE = 0x13  # 65 B: reference °C (u8), then 64 pixels of reference + u8 / 10 °C
_PROBE2 = 0x19
_SPECIAL_SIZES = {_IR: 4, _GPS: 6, _GRIDEYE: 65}
_DIGITS = {0.1: 1, 0.001: 3, 1: 0, 1e-6: 6}


def _special(type_id: int, data: bytes, ms: list[Measurement], state: dict[str, Any]) -> str | None:
    """The records whose layout is not a run of equal integers; returns a warning or None."""
    if type_id == _IR:
        state["ir_internal_temperature"] = int.from_bytes(data[0:2], signed=True) / 10
        surface = int.from_bytes(data[2:4], signed=True) / 10
        ms.append(Measurement("surface_temperature", surface))
    elif type_id == _GPS:
        lat = int.from_bytes(data[0:3], "little", signed=True) / 10000
        lon = int.from_bytes(data[3:6], "little", signed=True) / 10000
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return f"Elsys GPS position {lat}, {lon} is not on Earth"
        ms += [Measurement("latitude", lat), Measurement("longitude", lon)]
    else:  # _GRIDEYE
        state["grideye"] = [round(data[0] + pixel / 10, 1) for pixel in data[1:]]
    return None


def decode(payload: bytes, f_port: int) -> Decoded:
    """Decode an Elsys TLV frame (port is not used by the format)."""
    if not payload:
        raise DecodeError("empty Elsys frame")
    ms: list[Measurement] = []
    state: dict[str, Any] = {}
    warnings: list[str] = []
    probes = 0
    pos, end = 0, len(payload)
    while pos < end:
        type_id = payload[pos]
        if type_id in _SPECIAL_SIZES:
            data = take(payload, pos + 1, _SPECIAL_SIZES[type_id], f"Elsys type 0x{type_id:02x}")
            warning = _special(type_id, data, ms, state)
            warnings += [warning] if warning else []
            pos += 1 + len(data)
            continue
        spec = _TYPES.get(type_id)
        if spec is None:
            raise DecodeError(f"unknown Elsys data type 0x{type_id:02x} at byte {pos}")
        size, fields = spec
        data = take(payload, pos + 1, size, f"Elsys type 0x{type_id:02x}")
        width = size // len(fields)
        for n, (quantity, signed, scale, sensor) in enumerate(fields):
            raw = int.from_bytes(data[n * width : (n + 1) * width], signed=signed)
            if quantity.startswith("state:"):
                state[quantity[6:]] = raw
                continue
            digits = _DIGITS.get(scale)
            value = round(raw * scale, digits) if digits is not None else raw * scale
            if type_id == _PROBE2:
                sensor, probes = sensor + probes, probes + 1
            ms.append(Measurement(quantity, float(value), sensor=sensor))
        pos += 1 + size
    return Decoded(tuple(ms), state, tuple(warnings))


_OWNER = {
    (q, sensor): (type_id, size, fields)
    for type_id, (size, fields) in _TYPES.items()
    for q, _, _, sensor in fields
    if not q.startswith("state:")
}


def encode(measurements: Iterable[Measurement], f_port: int = 5) -> bytes:
    """Encode measurements as Elsys TLV records (multi-value types need all their values)."""
    v = by_key(measurements)
    out = bytearray()
    done: set[int] = set()
    for key in v:
        quantity, sensor = key
        if quantity == "air_temperature" and sensor > 2:  # further 0x19 probes, in sensor order
            continue
        if quantity in ("surface_temperature", "latitude", "longitude"):
            out += _encode_special(quantity, v, done)
            continue
        if key not in _OWNER:
            raise ValueError(f"Elsys has no data type for {key}")
        type_id, size, fields = _OWNER[key]
        if type_id in done:
            continue
        done.add(type_id)
        out.append(type_id)
        width = size // len(fields)
        for q, signed, scale, sensor in fields:
            out += round(v[(q, sensor)] / scale).to_bytes(width, signed=signed)
        if type_id == _PROBE2:
            for n in sorted(s for q, s in v if q == "air_temperature" and s > 2):
                out += bytes((_PROBE2,)) + round(v[("air_temperature", n)] * 10).to_bytes(
                    2, signed=True
                )
    return bytes(out)


def _encode_special(quantity: str, v: dict[tuple[str, int], float], done: set[int]) -> bytes:
    type_id = _IR if quantity == "surface_temperature" else _GPS
    if type_id in done:
        return b""
    done.add(type_id)
    if type_id == _IR:  # the internal temperature is state, written as 0
        return bytes((_IR, 0, 0)) + round(v[("surface_temperature", 0)] * 10).to_bytes(
            2, signed=True
        )
    lat, lon = (round(v[(q, 0)] * 10000) for q in ("latitude", "longitude"))
    return (
        bytes((_GPS,))
        + lat.to_bytes(3, "little", signed=True)
        + lon.to_bytes(3, "little", signed=True)
    )
