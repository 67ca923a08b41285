"""Milesight IoT channel/type records: EM300-TH, AM307, EM310-UDL, VS121, VS330.

Frame = repeated `[channel u8][type u8][data...]`, multi-byte values little-endian (Milesight
SensorDecoders READMEs, "Payload Definition" tables per model). Channel 0xFF carries device
attributes (versions, serial number, power-on), which go to `Decoded.state`.
Unknown channel/type pairs raise `DecodeError`: their length is unknown, so the rest is unreadable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key, take

VERSION = "1.0.0"

_Reader = Callable[[bytes, list[Measurement], dict[str, Any]], None]


def _u16(b: bytes, i: int = 0) -> int:
    return b[i] | b[i + 1] << 8


def _measure(quantity: str, size: int, scale: float, signed: bool = False, digits: int = 0) -> Any:
    def read(data: bytes, ms: list[Measurement], state: dict[str, Any]) -> None:
        raw = int.from_bytes(data, "little", signed=signed)
        value = round(raw * scale, digits) if digits else float(raw * scale)
        ms.append(Measurement(quantity, value))

    return size, read, (quantity, scale, signed)


def _state(key: str, size: int, names: dict[int, str] | None = None) -> Any:
    def read(data: bytes, ms: list[Measurement], state: dict[str, Any]) -> None:
        raw = int.from_bytes(data, "little")
        state[key] = names.get(raw, raw) if names else raw

    return size, read, None


def _version(key: str, size: int) -> Any:
    def read(data: bytes, ms: list[Measurement], state: dict[str, Any]) -> None:
        state[key] = f"v{data[0]}.{data[1]}" if size == 2 else data.hex()

    return size, read, None


def _people(data: bytes, ms: list[Measurement], state: dict[str, Any]) -> None:
    # VS121 0x04 0xC9: people_count_all (1 B), region_count (1 B),
    # region_mask (2 B BE; bit n = region n+1)
    ms.append(Measurement("people_count", float(data[0])))
    state["region_count"] = data[1]
    mask = data[2] << 8 | data[3]
    state["regions"] = [{"index": n, "count": (mask >> n) & 1} for n in range(data[1])]


def _binary(quantity: str, key: str, what: str) -> _Reader:
    """A 1-byte 0/1 reading; any other code is not a reading (the vendor's decoders fold it
    into one of the two states, which would invent a value): a warning, the code kept as state."""

    def read(data: bytes, ms: list[Measurement], state: dict[str, Any]) -> None:
        if data[0] in (0, 1):
            ms.append(Measurement(quantity, float(data[0])))
        else:
            state[key] = data[0]
            raise _Unreadable(f"Milesight {what} code {data[0]} is neither 0 nor 1")

    return read


class _Unreadable(Exception):
    """A record whose value is outside its documented codes: a warning, the frame goes on."""


_occupancy = _binary(
    "occupancy", "occupancy_code", "occupancy"
)  # VS330 0x03 0x8E: 0 vacant, 1 occupied


def _position(data: bytes, ms: list[Measurement], state: dict[str, Any]) -> None:
    state["position"] = "tilt" if data[0] else "normal"  # EM310-UDL 0x04 0x00


_pir = _binary("presence", "pir_code", "PIR")  # AM307 0x05 0x00: 0 idle, 1 trigger


# (channel, type) -> (data size, reader, encoding: (quantity, scale, signed) or None for state)
_RECORDS: dict[tuple[int, int], Any] = {
    (0x01, 0x75): _measure("battery_level", 1, 1),  # 1 B, %
    (0x03, 0x67): _measure("air_temperature", 2, 0.1, signed=True, digits=1),  # 2 B, 0.1 °C
    (0x04, 0x68): _measure("relative_humidity", 1, 0.5, digits=1),  # 1 B, 0.5 %RH
    (0x05, 0x00): (1, _pir, None),
    (0x05, 0x6A): _measure("motion_count", 2, 1),  # 2 B, PIR activity count (AM100 series)
    (0x06, 0xCB): _state("light_level", 1),  # 1 B, level 0..5
    (0x07, 0x7D): _measure("co2", 2, 1),  # 2 B, ppm
    (0x08, 0x7D): _measure("tvoc", 2, 1),  # 2 B (AM307 v1 firmware: ppb)
    (0x09, 0x73): _measure("barometric_pressure", 2, 0.1, digits=1),  # 2 B, 0.1 hPa
    (0x0B, 0x7D): _measure("pm2_5", 2, 1),  # 2 B, ug/m3
    (0x0C, 0x7D): _measure("pm10", 2, 1),  # 2 B, ug/m3
    (0x03, 0x82): _measure("distance", 2, 0.001, digits=3),  # EM310-UDL: 2 B, mm
    (0x04, 0x00): (1, _position, None),
    (0x02, 0x82): _measure("distance", 2, 0.001, digits=3),  # VS330: 2 B, mm
    (0x03, 0x8E): (1, _occupancy, None),
    (0x04, 0x8E): _state("calibration", 1, {0: "failed", 1: "success"}),
    (0x04, 0xC9): (4, _people, None),
    (0xFF, 0x01): _state("ipso_version", 1),
    (0xFF, 0x09): _version("hardware_version", 2),
    (0xFF, 0x0A): _version("firmware_version", 2),
    (0xFF, 0x0B): _state("power_on", 1),
    (0xFF, 0x0F): _state("lorawan_class", 1),
    (0xFF, 0x16): _version("serial_number", 8),
    (0xFF, 0xFF): _state("tsl_version", 2),
}


def decode(payload: bytes, f_port: int) -> Decoded:
    """Decode a Milesight channel/type frame (devices send on f_port 85; the port is not used)."""
    if not payload:
        raise DecodeError("empty Milesight frame")
    ms: list[Measurement] = []
    state: dict[str, Any] = {}
    warnings: list[str] = []
    pos, end = 0, len(payload)
    while pos < end:
        head = take(payload, pos, 2, "Milesight record header")
        record = _RECORDS.get((head[0], head[1]))
        if record is None:
            raise DecodeError(f"unknown Milesight channel 0x{head[0]:02x} type 0x{head[1]:02x}")
        size, read, _ = record
        try:
            read(take(payload, pos + 2, size, f"channel 0x{head[0]:02x}"), ms, state)
        except _Unreadable as e:
            warnings.append(str(e))
        pos += 2 + size
    return Decoded(tuple(ms), state, tuple(warnings))


# Per model, the records its encoder writes, in the device's order.
_MODEL_RECORDS: dict[str, tuple[tuple[int, int], ...]] = {
    "em300_th": ((0x01, 0x75), (0x03, 0x67), (0x04, 0x68)),
    "am307": (
        (0x01, 0x75),
        (0x03, 0x67),
        (0x04, 0x68),
        (0x05, 0x00),
        (0x05, 0x6A),
        (0x07, 0x7D),
        (0x08, 0x7D),
        (0x09, 0x73),
    ),
    "em310_udl": ((0x01, 0x75), (0x03, 0x82)),
    "vs121": ((0x04, 0xC9),),
    "vs330": ((0x01, 0x75), (0x02, 0x82), (0x03, 0x8E)),
}
_SPECIAL = {(0x05, 0x00): "presence", (0x03, 0x8E): "occupancy", (0x04, 0xC9): "people_count"}


def encoder(model: str) -> Callable[[Iterable[Measurement], int], bytes]:
    """The encoder for one model: writes each record whose quantity is present."""
    records = _MODEL_RECORDS[model]

    def encode(measurements: Iterable[Measurement], f_port: int = 85) -> bytes:
        v = by_key(measurements)
        out = bytearray()
        for key in records:
            size, _, enc = _RECORDS[key]
            quantity = enc[0] if enc else _SPECIAL[key]
            if (quantity, 0) not in v:
                continue
            value = v[(quantity, 0)]
            out += bytes(key)
            if key == (0x04, 0xC9):
                out += bytes((round(value), 0, 0, 0))  # no regions configured
            elif enc is None:
                out += bytes((round(value),))
            else:
                out += round(value / enc[1]).to_bytes(size, "little", signed=enc[2])
        return bytes(out)

    return encode
