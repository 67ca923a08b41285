"""Parking-space sensors: Nwave NPS310SM, Bosch TPS110 (PLS firmware 0.39.x), Tekzitel TekziPark.

Nwave NPS310SM (Nwave LoRaWAN integration guide): port 1 parking status, port 2 heartbeat (bit 0
occupied); port 3 start-up: firmware major, minor, patch, reset cause, status.
Bosch TPS110 (Bosch PLS "LoRaWAN message description" for fw 0.39): port 1 status, port 2 heartbeat
with signed temperature, port 3 start-up (10-byte debug block, firmware, reset cause, status),
port 5 usage counters (type + u32 BE), port 6 debug (timestamp i32, code in 12 bits, sequence).
Tekzitel TekziPark (TekziPark payload guide): port 1 status bits, temperature, parking id and
optional BLE beacon RSSI + ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key, need

VERSION = "1.0.0"


def _port_error(f_port: int) -> DecodeError:
    return DecodeError(f"unknown FPort {f_port}")


def _occupied(payload: bytes, what: str) -> Measurement:
    if not payload:
        raise DecodeError(f"empty {what} frame")
    return Measurement("parking_occupied", float(payload[0] & 0x01))  # bit 0


_NWAVE_RESET = {1: "watchdog", 2: "power_on", 3: "user_request", 4: "brownout", 5: "other"}


def decode_nwave(payload: bytes, f_port: int) -> Decoded:
    if f_port == 1:
        need(payload, 1, "NPS310SM parking status")
        return Decoded((_occupied(payload, "status"),), {"type": "parking_status"})
    if f_port == 2:
        need(payload, 1, "NPS310SM heartbeat")
        return Decoded((_occupied(payload, "heartbeat"),), {"type": "heartbeat"})
    if f_port == 3:
        need(payload, 5, "NPS310SM start-up")
        return Decoded(
            (_occupied(payload[4:], "start-up"),),
            {
                "type": "startup",
                "firmware_version": f"{payload[0]}.{payload[1]}.{payload[2]}",
                "reset_cause": _NWAVE_RESET.get(payload[3]),
            },
        )
    if f_port == 6:
        return Decoded((), {"type": "debug", "debug": payload.hex()})
    raise _port_error(f_port)


def encode_nwave(measurements: Iterable[Measurement], f_port: int = 1) -> bytes:
    occupied = round(by_key(measurements)[("parking_occupied", 0)])
    if f_port == 3:
        return bytes((1, 13, 0, 2, occupied))
    return bytes((occupied,))


# Bosch debug codes whose meaning the message description gives.
_BOSCH_DEBUG = {
    201: "LoRa join request failed",
    209: "Cause for last reset: Power-on",
    717: "Confirmed uplink message not acknowledged after 8 re-tries",
}
_BOSCH_RESET = {1: "Watchdog", 2: "Power On", 3: "System Request", 4: "Other"}
_BOSCH_USAGE = {
    0: ("Number of parking status changes detected", "parking_status_changes"),
    1: ("Time running in occupied state", "time_in_seconds"),
}


def _bosch_debug(block: bytes, state: dict[str, Any]) -> None:
    # 10 bytes: timestamp i32 BE, 2 B module info, debug code in the low 12 bits of a u16, seq u16
    code = (block[6] << 8 | block[7]) & 0x0FFF
    state["timestamp"] = int.from_bytes(block[0:4], signed=True)
    state["debug_code"] = code
    state["debug_code_description"] = _BOSCH_DEBUG.get(code)
    state["sequence_number"] = block[8] << 8 | block[9]


def decode_bosch(payload: bytes, f_port: int) -> Decoded:
    state: dict[str, Any]
    if f_port == 1:
        need(payload, 1, "TPS110 parking status")
        return Decoded((_occupied(payload, "status"),), {"type": "parking status"})
    if f_port == 2:
        if len(payload) not in (1, 2):
            raise DecodeError(f"TPS110 heartbeat must be 1 or 2 bytes, got {len(payload)}")
        ms = [_occupied(payload, "heartbeat")]
        if len(payload) == 2:  # 1 B signed, °C
            ms.append(
                Measurement("device_temperature", float(int.from_bytes(payload[1:], signed=True)))
            )
        return Decoded(tuple(ms), {"type": "heartbeat"})
    if f_port == 3:
        need(payload, 17, "TPS110 start-up")
        state = {"type": "startup"}
        _bosch_debug(payload[0:10], state)
        state["reset_cause"] = payload[10] << 8 | payload[11]
        state["firmware_version"] = f"{payload[12]}.{payload[13]}.{payload[14]}"
        state["reset_reason"] = _BOSCH_RESET.get(payload[15])
        return Decoded((_occupied(payload[16:], "start-up"),), state)
    if f_port == 5:
        need(payload, 5, "TPS110 usage")
        usage = _BOSCH_USAGE.get(payload[0])
        if usage is None:
            raise DecodeError(f"TPS110 usage type {payload[0]} is unknown")
        return Decoded((), {"type": usage[0], usage[1]: int.from_bytes(payload[1:5])})
    if f_port == 6:
        need(payload, 10, "TPS110 debug")
        state = {"type": "debug"}
        _bosch_debug(payload, state)
        return Decoded((), state)
    raise _port_error(f_port)


def encode_bosch(measurements: Iterable[Measurement], f_port: int = 2) -> bytes:
    v = by_key(measurements)
    occupied = round(v[("parking_occupied", 0)])
    if f_port == 2 and ("device_temperature", 0) in v:
        return bytes((occupied,)) + round(v[("device_temperature", 0)]).to_bytes(1, signed=True)
    if f_port == 3:
        return bytes(10) + b"\x00\x00\x00\x27\x02\x03" + bytes((occupied,))
    return bytes((occupied,))


def decode_tekzitel(payload: bytes, f_port: int) -> Decoded:
    if f_port != 1:
        raise _port_error(f_port)
    if len(payload) < 3 or (len(payload) > 3 and len(payload) % 2):
        raise DecodeError(f"TekziPark frame of {len(payload)} bytes is not 3 or 4 + 2n")
    status = payload[0]
    state: dict[str, Any] = {
        "keep_alive": status & 0x01,  # bit 0
        "reset": (status >> 1) & 0x01,  # bit 1
        "no_beacon": (status >> 2) & 0x01,  # bit 2
        "radar": (status >> 3) & 0x01,  # bit 3: radar confirmed the detection
        "obstruction": (status >> 4) & 0x01,  # bit 4
        "good_battery": (status >> 5) & 0x01,  # bit 5
        "parking_id": payload[2],
    }
    if len(payload) > 3:
        state["beacon_rssi"] = int.from_bytes(payload[3:4], signed=True)  # dBm
        state["beacons"] = [payload[i] << 8 | payload[i + 1] for i in range(4, len(payload), 2)]
    return Decoded(
        (
            Measurement("parking_occupied", float(status >> 7)),  # bit 7
            Measurement("device_temperature", float(int.from_bytes(payload[1:2], signed=True))),
        ),
        state,
    )


def encode_tekzitel(measurements: Iterable[Measurement], f_port: int = 1) -> bytes:
    v = by_key(measurements)
    status = round(v[("parking_occupied", 0)]) << 7 | 0x28
    temperature = round(v[("device_temperature", 0)]).to_bytes(1, signed=True)
    return bytes((status,)) + temperature + b"\x01"
