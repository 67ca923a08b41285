"""Browan Tabs sensors: TBHH100 (temperature/humidity), TBHV110 (air quality), TBDW100 (door).

Common header (Browan Tabs payload documents): byte 0 status bits, byte 1 battery
((25 + low nibble) / 10 V), byte 2 board temperature (low 7 bits - 32 °C). Each model has its
own f_port: TBHH100 and TBHV110 103, TBDW100 100. Multi-byte values are little-endian.
"""

from __future__ import annotations

from collections.abc import Iterable

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key, need

VERSION = "1.0.0"


def _battery(b: int) -> float:
    return (25 + (b & 0x0F)) / 10  # low nibble: 2.5 V + 0.1 V steps


def _temperature(b: int) -> float:
    return float((b & 0x7F) - 32)  # 7 bits, offset -32 °C


def _battery_byte(volts: float) -> int:
    return round(volts * 10) - 25


def _temperature_byte(celsius: float) -> int:
    return round(celsius) + 32


def _port(f_port: int, expected: int) -> None:
    if f_port != expected:
        raise DecodeError(f"unknown FPort {f_port}")


def decode_tbhh100(payload: bytes, f_port: int) -> Decoded:
    """TBHH100: status, battery, temperature, humidity (bytes 4..7 unused, 0xFF)."""
    _port(f_port, 103)
    if len(payload) not in (4, 8):
        raise DecodeError(f"TBHH100 frame must be 4 or 8 bytes, got {len(payload)}")
    return Decoded(
        (
            Measurement("battery_voltage", _battery(payload[1])),
            Measurement("air_temperature", _temperature(payload[2])),
            Measurement("relative_humidity", float(payload[3] & 0x7F)),  # 7 bits, %RH
        ),
        {"status": payload[0] >> 3},  # bits 7..3
    )


def encode_tbhh100(measurements: Iterable[Measurement], f_port: int = 103) -> bytes:
    v = by_key(measurements)
    return bytes(
        (
            0x08,
            _battery_byte(v[("battery_voltage", 0)]),
            _temperature_byte(v[("air_temperature", 0)]),
            round(v[("relative_humidity", 0)]),
        )
    ) + bytes((0xFF,) * 4)


def decode_tbhv110(payload: bytes, f_port: int) -> Decoded:
    """TBHV110: board and air temperature, humidity, eCO2, VOC, IAQ index."""
    _port(f_port, 103)
    need(payload, 11, "TBHV110 frame")
    status = payload[0]
    return Decoded(
        (
            Measurement("battery_voltage", _battery(payload[1])),
            Measurement("device_temperature", _temperature(payload[2])),
            Measurement("relative_humidity", float(payload[3] & 0x7F)),  # 7 bits, %RH
            Measurement("co2", float(payload[4] | payload[5] << 8)),  # 2 B LE, eCO2 ppm
            Measurement("tvoc", float(payload[6] | payload[7] << 8)),  # 2 B LE, ppb
            Measurement("air_temperature", _temperature(payload[10])),  # 1 B, like byte 2
        ),
        {
            "status": status & 0x01,  # bit 0
            "temp_humid_changed": (status >> 4) & 0x01,  # bit 4
            "iaq_changed": (status >> 5) & 0x01,  # bit 5
            "iaq": payload[8] | payload[9] << 8,  # 2 B LE, IAQ index
        },
    )


def encode_tbhv110(measurements: Iterable[Measurement], f_port: int = 103) -> bytes:
    v = by_key(measurements)
    co2, voc = round(v[("co2", 0)]), round(v[("tvoc", 0)])
    return (
        bytes(
            (
                0x01,
                _battery_byte(v[("battery_voltage", 0)]),
                _temperature_byte(v[("device_temperature", 0)]),
                round(v[("relative_humidity", 0)]),
            )
        )
        + co2.to_bytes(2, "little")
        + voc.to_bytes(2, "little")
        + bytes((0, 0, _temperature_byte(v[("air_temperature", 0)])))
    )


def decode_tbdw100(payload: bytes, f_port: int) -> Decoded:
    """TBDW100: door state (bit 0), minutes since last event, event count."""
    _port(f_port, 100)
    need(payload, 8, "TBDW100 frame")
    return Decoded(
        (
            Measurement("door_open", float(payload[0] & 0x01)),  # bit 0: 1 = open
            Measurement("battery_voltage", _battery(payload[1])),
            Measurement("device_temperature", _temperature(payload[2])),
        ),
        {
            "time": payload[3] | payload[4] << 8,  # 2 B LE, minutes since last event
            "count": int.from_bytes(payload[5:8], "little"),  # 3 B LE, events
        },
    )


def encode_tbdw100(measurements: Iterable[Measurement], f_port: int = 100) -> bytes:
    v = by_key(measurements)
    return bytes(
        (
            round(v[("door_open", 0)]),
            _battery_byte(v[("battery_voltage", 0)]),
            _temperature_byte(v[("device_temperature", 0)]),
            0,
            0,
            0,
            0,
            0,
        )
    )
