"""Parametric PCR2 radar people counter: application payloads (port 14), configuration (port 190).

Layouts from the Parametric "PCR2 LoRaWAN payload" document: extended application payload
`be 01 <version>` then big-endian counters; the short Elsys-style payload (types 0x01 CPU
temperature, 0x0A left-to-right, 0x16 right-to-left); configuration payloads told apart by length.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key

VERSION = "1.0.0"

_APP_PORT, _CONFIG_PORT = 14, 190
_HEADER = 0xBE, 0x01  # vendor tag, device family


def _u16(b: bytes, i: int) -> int:
    return b[i] << 8 | b[i + 1]


def _temperature(b: bytes, i: int) -> Measurement:
    # 2 B signed, 0.1 °C, CPU temperature
    return Measurement("device_temperature", int.from_bytes(b[i : i + 2], signed=True) / 10)


def _application(payload: bytes) -> Decoded:
    if payload[:2] == bytes(_HEADER) and len(payload) >= 3 and payload[2] in (3, 4):
        version = payload[2]
        if len(payload) != (16 if version == 3 else 17):
            raise DecodeError(f"PCR2 application payload v{version} has a wrong length")
        ltr_sum, rtl_sum = _u16(payload, 7), _u16(payload, 9)
        state: dict[str, Any] = {"payload_version": version, "ltr_sum": ltr_sum, "rtl_sum": rtl_sum}
        state["diff"] = abs(ltr_sum - rtl_sum)
        ms = [
            Measurement("people_count_in", float(_u16(payload, 3))),  # left to right
            Measurement("people_count_out", float(_u16(payload, 5))),  # right to left
        ]
        if version == 3:
            state["sbx_batt"] = payload[11]  # the vendor's SBX_BATT: here %, in v4 mV
            ms.append(Measurement("battery_level", float(payload[11])))  # SBX gauge, %
            state["sbx_pv_mw"] = _u16(payload, 12)
            ms.append(_temperature(payload, 14))
        else:
            state["sbx_batt"] = _u16(payload, 11)
            ms.append(Measurement("battery_voltage", _u16(payload, 11) / 1000))  # SBX, mV
            state["sbx_pv_mw"] = _u16(payload, 13)
            ms.append(_temperature(payload, 15))
        return Decoded(tuple(ms), state)
    if payload and payload[0] == 0x0A:
        ms, pos = [], 0
        quantities = {0x0A: "people_count_in", 0x16: "people_count_out"}
        while pos < len(payload):
            type_id = payload[pos]
            if pos + 3 > len(payload) or type_id not in (0x01, 0x0A, 0x16):
                raise DecodeError(f"PCR2 short payload: bad record at byte {pos}")
            if type_id == 0x01:
                ms.append(_temperature(payload, pos + 1))
            else:
                ms.append(Measurement(quantities[type_id], float(_u16(payload, pos + 1))))
            pos += 3
        return Decoded(tuple(ms))
    raise DecodeError("PCR2 application payload starts neither with be0103/be0104 nor 0a")


# Configuration v3..v6 (by length): field name, offset, size; common to all after the header.
_CONFIG_COMMON = (
    ("DeviceType", 3, 1),
    ("OperationMode", 7, 1),
    ("PayloadType", 8, 1),
    ("DeviceClass", 9, 1),
    ("UplinkType", 10, 1),
    ("UplinkInterval", 11, 2),
    ("LinkCheckInterval", 13, 2),
    ("CapacityLimit", 15, 2),
    ("HoldoffTime", 17, 2),
)
_CONFIG_V5 = (
    ("InactivityTimeout", 19, 2),
    ("RadarEnabled", 21, 1),
    ("BeamAngle", 22, 1),
    ("MinDist", 23, 2),
    ("MaxDist", 25, 2),
    ("MinSpeed", 27, 1),
    ("MaxSpeed", 28, 1),
    ("RadarAutotune", 29, 1),
    ("RadarSensitivity", 30, 1),
)


def _configuration(payload: bytes) -> Decoded:
    if payload[:2] != bytes(_HEADER) or len(payload) < 3:
        raise DecodeError("PCR2 configuration payload does not start with be01")
    version = payload[2]
    if (version, len(payload)) not in ((5, 34), (6, 35)):
        raise DecodeError(f"PCR2 configuration v{version} of {len(payload)} bytes is not supported")
    state: dict[str, Any] = {"config_version": version}
    state["Firmware"] = f"{payload[4]}.{payload[5]}.{payload[6]}"
    for name, offset, size in _CONFIG_COMMON + _CONFIG_V5:
        state[name] = int.from_bytes(payload[offset : offset + size])
    state["SBXVersion"] = f"{payload[31]}.{payload[32]}.{payload[33]}"
    if version == 6:
        state["RadarChannel"] = payload[34]
    return Decoded((), state)


def decode(payload: bytes, f_port: int) -> Decoded:
    if f_port == _APP_PORT:
        return _application(payload)
    if f_port == _CONFIG_PORT:
        return _configuration(payload)
    raise DecodeError(f"unknown FPort {f_port}")


def encode(measurements: Iterable[Measurement], f_port: int = _APP_PORT) -> bytes:
    """Application payload v4 (counters sums equal to this period's counts)."""
    v = by_key(measurements)
    ltr, rtl = round(v[("people_count_in", 0)]), round(v[("people_count_out", 0)])
    out = bytes((*_HEADER, 4)) + b"".join(x.to_bytes(2) for x in (ltr, rtl, ltr, rtl))
    out += round(v[("battery_voltage", 0)] * 1000).to_bytes(2) + b"\x00\x00"
    return out + round(v[("device_temperature", 0)] * 10).to_bytes(2, signed=True)
