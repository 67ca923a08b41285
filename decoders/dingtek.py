"""Dingtek DF702 waste-bin fill sensor (ultrasonic level, fire/tilt alarms, optional GPS).

Frame on f_port 3 (DF702 user manual, "uplink data format"): head 0x80, version (2 B), data type
(1 B: 0x01 heartbeat/data, 0x02 alarm, 0x03 parameters), frame length (1 B), payload, tail 0x81.
Data frame, 17 bytes: level mm (2 B BE) at 5, GPS flag at 7, temperature °C at 8, angle sign and
value at 9..10, alarm nibbles full|fire at 11 and tilt|battery at 12. With GPS (25 bytes) the
longitude and latitude (IEEE-754 float32, little-endian) sit at 8 and 12, shifting the rest by 8.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key

VERSION = "1.0.0"

_PORT = 3
_HEAD, _TAIL = 0x80, 0x81
_PARAMETERS = 0x03


def decode(payload: bytes, f_port: int) -> Decoded:
    if f_port != _PORT:
        raise DecodeError(f"unknown FPort {f_port}")
    if len(payload) not in (17, 25):
        raise DecodeError(f"DF702 frame must be 17 or 25 bytes, got {len(payload)}")
    if payload[0] != _HEAD or payload[-1] != _TAIL:
        raise DecodeError("DF702 frame lacks its 0x80 head or 0x81 tail")
    if payload[3] == _PARAMETERS:
        if len(payload) != 25:
            raise DecodeError("DF702 parameter frame must be 25 bytes")
        return Decoded(
            (),
            {
                "periodic_interval_h": payload[7],
                "detection_interval_min": payload[8],
                "full_alarm_threshold_cm": payload[9],
                "fire_alarm_threshold_c": payload[10],
                "tilt_alarm_threshold_deg": payload[11],
                "tilt_enable": bool(payload[12]),
                "ultrasonic_range_mm": 2000 if payload[13] == 0 else 5000,
            },
        )
    ms = [Measurement("distance", (payload[5] << 8 | payload[6]) / 1000)]  # 2 B, mm
    at = 8
    if len(payload) == 25:
        (longitude,) = struct.unpack_from("<f", payload, 8)
        (latitude,) = struct.unpack_from("<f", payload, 12)
        if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
            raise DecodeError(f"DF702 GPS position {latitude}, {longitude} is not on Earth")
        ms += [
            Measurement("longitude", round(longitude, 6)),
            Measurement("latitude", round(latitude, 6)),
        ]
        at = 16
    ms.append(Measurement("device_temperature", float(payload[at])))  # 1 B, °C
    angle = payload[at + 2] if payload[at + 1] & 0x0F == 0 else -payload[at + 2]
    state: dict[str, Any] = {
        "full": bool(payload[at + 3] >> 4),
        "fire": bool(payload[at + 3] & 0x0F),
        "tilt": bool(payload[at + 4] >> 4),
        "battery_low": bool(payload[at + 4] & 0x0F),
        "angle": angle,
    }
    return Decoded(tuple(ms), state)


def encode(measurements: Iterable[Measurement], f_port: int = _PORT) -> bytes:
    v = by_key(measurements)
    level = round(v[("distance", 0)] * 1000).to_bytes(2)
    gps = ("latitude", 0) in v
    out = bytearray((_HEAD, 0x00, 0x01, 0x01, 25 if gps else 17)) + level + bytes((gps,))
    if gps:
        out += struct.pack("<ff", v[("longitude", 0)], v[("latitude", 0)])
    out += bytes((round(v[("device_temperature", 0)]), 0, 0, 0, 0, 0, 0, 0, _TAIL))
    return bytes(out)
