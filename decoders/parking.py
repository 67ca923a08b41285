"""Parking-space sensors: Nwave NPS310SM, Bosch TPS110 (PLS firmware 0.39.x), Tekzitel TekziPark.

Nwave NPS310SM (Nwave LoRaWAN integration guide): port 1 parking status, port 2 heartbeat (bit 0
occupied); port 3 start-up: firmware major, minor, patch, reset cause, status.
Bosch TPS110 (Bosch PLS "LoRaWAN message description" for fw 0.39): port 1 status, port 2 heartbeat
with signed temperature, port 3 start-up (10-byte debug block, firmware, reset cause, status),
port 4 device information, port 5 usage counters (types 0-6), port 6 debug (timestamp i32, code
in 12 bits, sequence), port 7 temperature alert (i8 °C); the Device Repository's tpl110-0392.js.
Tekzitel TekziPark (TekziPark payload guide, Device Repository tekzipark.js): port 1 status bits,
temperature, parking id and optional BLE beacon RSSI + ids; port 2 the same head followed by the
magnetometer's deflection and baseline per axis, a fault code, obstruction and radar reflection.
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


# Bosch debug codes whose meaning the message description gives (the Device Repository's
# tpl110-0392.js carries the same table).
_BOSCH_DEBUG = {
    201: "LoRa join request failed",
    208: "Cause for last reset: Watchdog",
    209: "Cause for last reset: Power-on",
    210: "Cause for last reset: Unknown",
    215: "Cause for last reset: Lockup",
    216: "Cause for last reset: External PIN",
    217: "Cause for last reset: Brown-out",
    404: "Park detection algorithm recalibrating",
    717: "Confirmed uplink message not acknowledged after 8 re-tries",
    720: "LoRa join request failed",
    729: "Confirmed uplink message not acknowledged after 8 re-tries",
}
# Start-up byte 15 (fw 0.39): reset reason; anything else reads "Unknown" as in the vendor codec.
_BOSCH_RESET = {
    1: "Watchdog",
    2: "Power On",
    3: "System Request",
    4: "External Pin",
    5: "Lockup",
    6: "Brownout",
    7: "Others",
}
# Port 5 usage type -> (description, state key) for the single u32 BE counters (5 bytes).
_BOSCH_USAGE = {
    0: ("Number of parking status changes detected", "parking_status_changes"),
    1: ("Time running in occupied state", "time_in_seconds"),
    3: ("Number of times the radar has been triggered", "times_radar_triggered"),
    4: ("Time running since restart", "time_since_restart_seconds"),
    6: ("Time running since installation", "time_since_install_seconds"),
}
_BOSCH_UPLINKS = ("dr0_sf12", "dr1_sf11", "dr2_sf10", "dr3_sf9", "dr4_sf8", "dr5_sf7")
# Type 5, 8 bytes: brown-out, lockup, external pin, power-on, watchdog (1 B each), software u16 LE
_BOSCH_RESETS = ("brown_out", "lockup", "external_pin", "power_on", "watchdog")


def _bosch_usage(payload: bytes) -> dict[str, Any]:
    if not payload:
        raise DecodeError("empty TPS110 usage frame")
    kind = payload[0]
    if kind in _BOSCH_USAGE:
        need(payload, 5, "TPS110 usage")
        text, key = _BOSCH_USAGE[kind]
        return {"type": text, key: int.from_bytes(payload[1:5])}
    if kind == 2:  # 19 bytes: uplinks sent per data rate, u24 BE each, DR0 first
        need(payload, 19, "TPS110 uplink counters")
        counts = {
            dr: int.from_bytes(payload[1 + 3 * n : 4 + 3 * n])
            for n, dr in enumerate(_BOSCH_UPLINKS)
        }
        return {"type": "Number of uplink messages sent", "uplink_messages_sent": counts}
    if kind == 5:
        need(payload, 8, "TPS110 reset counters")
        resets = {k: payload[1 + n] for n, k in enumerate(_BOSCH_RESETS)}
        resets["software_requested"] = payload[6] | payload[7] << 8
        return {"type": "Number of resets since installation", "resets_since_install": resets}
    raise DecodeError(f"TPS110 usage type {kind} is unknown")


def _bosch_info(payload: bytes) -> dict[str, Any]:
    """Port 4: firmware version (3 bytes) or device URN (11 bytes: DevEUI split around the
    product class, bytes 3-5)."""
    if len(payload) == 3:
        return {"type": "device information", "firmware_version": ".".join(map(str, payload))}
    if len(payload) == 11:
        product = (payload[4] << 4) + (payload[3] >> 4)
        return {
            "type": "device information",
            "dev_eui": (payload[0:3] + payload[6:11]).hex(),
            "product_code": "PLS" if product == 0x001 else "Unknown",
            "variant_code": payload[3] & 0x0F,
            "extension": {0: "EU868", 1: "AS923"}.get(payload[5], "Unknown"),
        }
    raise DecodeError(f"TPS110 device information must be 3 or 11 bytes, got {len(payload)}")


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
        state["reset_reason"] = _BOSCH_RESET.get(payload[15], "Unknown")
        return Decoded((_occupied(payload[16:], "start-up"),), state)
    if f_port == 4:
        return Decoded((), _bosch_info(payload))
    if f_port == 5:
        return Decoded((), _bosch_usage(payload))
    if f_port == 6:
        need(payload, 10, "TPS110 debug")
        state = {"type": "debug"}
        _bosch_debug(payload, state)
        return Decoded((), state)
    if f_port == 7:  # temperature alert: 1 B signed, °C
        need(payload, 1, "TPS110 temperature alert")
        temperature = float(int.from_bytes(payload, signed=True))
        return Decoded(
            (Measurement("device_temperature", temperature),), {"type": "temperature alert"}
        )
    raise _port_error(f_port)


def encode_bosch(measurements: Iterable[Measurement], f_port: int = 2) -> bytes:
    v = by_key(measurements)
    occupied = round(v[("parking_occupied", 0)])
    if f_port == 2 and ("device_temperature", 0) in v:
        return bytes((occupied,)) + round(v[("device_temperature", 0)]).to_bytes(1, signed=True)
    if f_port == 3:
        return bytes(10) + b"\x00\x00\x00\x27\x02\x03" + bytes((occupied,))
    return bytes((occupied,))


def _tekzitel_status(status: int) -> dict[str, Any]:
    return {
        "keep_alive": status & 0x01,  # bit 0
        "reset": (status >> 1) & 0x01,  # bit 1
        "no_beacon": (status >> 2) & 0x01,  # bit 2
        "radar": (status >> 3) & 0x01,  # bit 3: radar confirmed the detection
        "obstruction": (status >> 4) & 0x01,  # bit 4
        "good_battery": (status >> 5) & 0x01,  # bit 5
    }


def decode_tekzitel(payload: bytes, f_port: int) -> Decoded:
    """Port 1 status (+ BLE beacons), port 2 the same head with the magnetometer's diagnostics."""
    if f_port == 1:
        if len(payload) < 3 or (len(payload) > 3 and len(payload) % 2):
            raise DecodeError(f"TekziPark frame of {len(payload)} bytes is not 3 or 4 + 2n")
    elif f_port == 2:
        need(payload, 12, "TekziPark diagnostic frame")
    else:
        raise _port_error(f_port)
    status = payload[0]
    state = _tekzitel_status(status)
    state["parking_id"] = payload[2]
    if f_port == 2:
        # 6 x 1 B signed: deflection then baseline, X Y Z; fault code, obstruction, reflection
        for n, key in enumerate(("deflection", "baseline")):
            for i, axis in enumerate("xyz"):
                state[f"{key}_{axis}"] = int.from_bytes(
                    payload[3 + 3 * n + i : 4 + 3 * n + i], signed=True
                )
        state["fault_code"] = payload[9]
        state["obstruction"] = payload[10]  # the diagnostic frame's own byte, as the vendor's
        state["d_reflection"] = payload[11]
    elif len(payload) > 3:
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
