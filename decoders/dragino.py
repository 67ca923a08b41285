"""Dragino LHT65/LHT65N (climate), LDDS75 (ultrasonic distance), LSE01 (soil).

Layouts from the Dragino user manuals (LHT65 v1.8 §2.4, LHT65N §2.4, LDDS75 §2.3, LSE01 §2.3):
all values big-endian; the first two bytes carry the battery in mV in their low 14 bits and, on
LHT65, the battery status in the top two bits. Data frames use f_port 2; LHT65N status on port 5.
"""

from __future__ import annotations

from collections.abc import Iterable

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key, fit, need

VERSION = "1.0.0"

_DATA_PORT = 2
_STATUS_PORT = 5  # LHT65N device status: model, firmware, band, sub-band, battery
_NO_READING = 0x7FFF  # DS18B20 "not connected" (prints 327.67)

# LHT65 byte 6: external sensor type (manual §2.4.6); names as the manual and vendor codec use.
_EXT_NAMES = {
    0: "No external sensor",
    1: "Temperature Sensor",
    4: "Interrupt Sensor send",
    5: "Illumination Sensor",
    6: "ADC Sensor",
    7: "Interrupt Sensor count",
}


def _battery(payload: bytes) -> float:
    return ((payload[0] << 8 | payload[1]) & 0x3FFF) / 1000  # 14 bits, mV


def _port_error(f_port: int) -> DecodeError:
    return DecodeError(f"unknown FPort {f_port}")


def decode_lht65(payload: bytes, f_port: int) -> Decoded:
    """LHT65 / LHT65N: SHT20 temperature and humidity, optional external probe."""
    if f_port == _STATUS_PORT:
        need(payload, 7, "LHT65N device status")
        return Decoded(
            (Measurement("battery_voltage", (payload[5] << 8 | payload[6]) / 1000),),
            {
                "sensor_model": payload[0],
                "firmware_version": f"{payload[1] >> 4}.{payload[1] & 0x0F}.{payload[2] >> 4}",
                "frequency_band": payload[3],
                "sub_band": payload[4],
            },
        )
    if f_port != _DATA_PORT:
        raise _port_error(f_port)
    need(payload, 11, "LHT65 data frame")
    ms = [
        Measurement("battery_voltage", _battery(payload)),  # 2 B: bits 13..0 mV
        # 2 B signed, 0.01 °C
        Measurement("air_temperature", int.from_bytes(payload[2:4], signed=True) / 100),
        Measurement("relative_humidity", (payload[4] << 8 | payload[5]) / 10),  # 2 B, 0.1 %RH
    ]
    ext = payload[6] & 0x7F  # 1 B: external sensor type
    state: dict[str, object] = {
        "battery_status": payload[0] >> 6,
        "ext_sensor": _EXT_NAMES.get(ext),
    }
    ext_raw = payload[7] << 8 | payload[8]  # 2 B: external value
    if ext == 1:
        if ext_raw != _NO_READING:
            signed = ext_raw - 0x10000 if ext_raw & 0x8000 else ext_raw
            ms.append(Measurement("air_temperature", signed / 100, sensor=1))  # 0.01 °C
    elif ext == 4:
        state["ext_pin_level"] = payload[7]
        state["ext_interrupt"] = payload[8]
    elif ext == 5:
        ms.append(Measurement("illuminance", float(ext_raw)))  # 1 lx
    elif ext == 6:
        ms.append(Measurement("voltage", ext_raw / 1000))  # mV
    elif ext == 7:
        state["ext_count"] = ext_raw
    elif ext != 0:
        raise DecodeError(f"LHT65 external sensor type {ext} is not supported")
    return Decoded(tuple(ms), state)


def encode_lht65(measurements: Iterable[Measurement], f_port: int = _DATA_PORT) -> bytes:
    v = by_key(measurements)
    battery = fit(v[("battery_voltage", 0)], 0.001, 2, False, "battery_voltage")
    out = bytearray(battery) + fit(v[("air_temperature", 0)], 0.01, 2, True, "air_temperature")
    out += fit(v[("relative_humidity", 0)], 0.1, 2, False, "relative_humidity")
    if ("air_temperature", 1) in v:
        out += b"\x01" + fit(v[("air_temperature", 1)], 0.01, 2, True, "probe temperature")
    elif ("illuminance", 0) in v:
        out += b"\x05" + fit(v[("illuminance", 0)], 1, 2, False, "illuminance")
    elif ("voltage", 0) in v:
        out += b"\x06" + fit(v[("voltage", 0)], 0.001, 2, False, "voltage")
    else:
        out += b"\x00\x00\x00"
    return bytes(out + b"\x7f\xff")


def decode_ldds75(payload: bytes, f_port: int) -> Decoded:
    """LDDS75: battery, distance in mm (valid 280..7500), DS18B20 probe, interrupt flag."""
    if f_port != _DATA_PORT:
        raise _port_error(f_port)
    if len(payload) < 2:
        raise DecodeError(f"LDDS75 frame of {len(payload)} bytes is too short")
    ms = [Measurement("battery_voltage", _battery(payload))]
    state: dict[str, object] = {}
    if len(payload) not in (5, 8):
        # Not the manual's 8-byte layout (nor the 5-byte early one): only the battery is known.
        state["distance"] = "No Sensor"
        return Decoded(tuple(ms), state, (f"LDDS75 frame of {len(payload)} bytes: no distance",))
    distance = payload[2] << 8 | payload[3]  # 2 B, mm
    if distance == 0:
        state["distance"] = "No Sensor"
    elif distance < 280:
        state["distance"] = "Invalid Reading"
    else:
        ms.append(Measurement("distance", distance / 1000))
    state["interrupt"] = payload[4]
    if len(payload) == 8:
        probe = int.from_bytes(payload[5:7], signed=True)  # 2 B signed, 0.1 °C; 0 = no probe
        if probe:
            ms.append(Measurement("air_temperature", probe / 10, sensor=1))
        state["sensor_flag"] = payload[7]
    return Decoded(tuple(ms), state)


def encode_ldds75(measurements: Iterable[Measurement], f_port: int = _DATA_PORT) -> bytes:
    v = by_key(measurements)
    out = fit(v[("battery_voltage", 0)], 0.001, 2, False, "battery_voltage")
    out += fit(v.get(("distance", 0), 0), 0.001, 2, False, "distance") + b"\x00"
    out += fit(v.get(("air_temperature", 1), 0), 0.1, 2, True, "probe temperature")
    return out + b"\x01"


def decode_lse01(payload: bytes, f_port: int) -> Decoded:
    """LSE01: battery, DS18B20 probe, soil moisture, soil temperature, soil conductivity."""
    if f_port != _DATA_PORT:
        raise _port_error(f_port)
    need(payload, 11, "LSE01 data frame")
    ms = [Measurement("battery_voltage", _battery(payload))]
    probe = int.from_bytes(payload[2:4], signed=True)  # 2 B signed, 0.1 °C
    if probe:
        ms.append(Measurement("air_temperature", probe / 10, sensor=1))
    ms += [
        Measurement("soil_moisture", (payload[4] << 8 | payload[5]) / 100),  # 2 B, 0.01 %
        # 2 B signed, 0.01 °C
        Measurement("soil_temperature", int.from_bytes(payload[6:8], signed=True) / 100),
        # 2 B, uS/cm; 1 uS/cm = 1e-4 S/m
        Measurement("soil_conductivity", round((payload[8] << 8 | payload[9]) * 1e-4, 4)),
    ]
    flags = payload[10]  # 1 B: bits 7..4 soil sensor type/flag, bit 0 interrupt
    return Decoded(tuple(ms), {"interrupt": flags & 0x01, "flags": flags})


def encode_lse01(measurements: Iterable[Measurement], f_port: int = _DATA_PORT) -> bytes:
    v = by_key(measurements)
    out = fit(v[("battery_voltage", 0)], 0.001, 2, False, "battery_voltage")
    out += fit(v.get(("air_temperature", 1), 0), 0.1, 2, True, "probe temperature")
    out += fit(v[("soil_moisture", 0)], 0.01, 2, False, "soil_moisture")
    out += fit(v[("soil_temperature", 0)], 0.01, 2, True, "soil_temperature")
    out += fit(v[("soil_conductivity", 0)], 1e-4, 2, False, "soil_conductivity")
    return out + b"\x80"
