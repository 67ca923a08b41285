"""Dragino LHT65/LHT65N (climate), LDDS75 (ultrasonic distance), LSE01 (soil).

Layouts from the Dragino user manuals (LHT65 v1.8 §2.4, LHT65N §2.4, LDDS75 §2.3, LSE01 §2.3):
all values big-endian; the first two bytes carry the battery in mV in their low 14 bits and, on
LHT65, the battery status in the top two bits. Data frames use f_port 2; LHT65N status on port 5.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key, fit, need

VERSION = "1.0.0"

_DATA_PORT = 2
_STATUS_PORT = 5  # LHT65N device status: model, firmware, band, sub-band, battery
_NO_READING = 0x7FFF  # DS18B20 / TMP117 "not connected" (prints 327.67)
_DS18B20_MIN, _DS18B20_MAX = -550, 1250  # Maxim DS18B20 range, in 0.1 °C
_ENTRY = 11  # one LHT65 data frame, and one entry of a datalog (poll) reply

# LHT65 byte 6 (manual §2.4.6; Device Repository lht65.js, lht65n.js): bit 7 external sensor not
# connected, bit 6 datalog (poll) reply, bits 3..0 the external sensor type. Names as the vendor's.
_NOT_CONNECTED, _POLL, _TYPE = 0x80, 0x40, 0x0F
_EXT_NAMES = {
    0x0: "No external sensor",
    0x1: "Temperature Sensor",  # DS18B20
    0x2: "Temperature Sensor",  # TMP117 (LHT65N)
    0x4: "Interrupt Sensor send",
    0x5: "Illumination Sensor",
    0x6: "ADC Sensor",
    0x7: "Interrupt Sensor count",  # 16-bit count
    0x8: "Interrupt Sensor count",  # 32-bit count
    0x9: "DS18B20 & timestamp",
    0xF: "DS18B20ID",
}
_PROBES = (0x1, 0x2, 0x9)  # types whose external value is a probe temperature, 0.01 °C


def _battery(payload: bytes) -> float:
    return ((payload[0] << 8 | payload[1]) & 0x3FFF) / 1000  # 14 bits, mV


def _port_error(f_port: int) -> DecodeError:
    return DecodeError(f"unknown FPort {f_port}")


def _s16(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 2], signed=True)


def _climate(b: bytes, i: int, time: datetime | None = None) -> list[Measurement]:
    """SHT20/SHT31 at `i`: temperature 2 B signed 0.01 °C; humidity in the low 12 bits of 2 B,
    0.1 %RH (the top bits carry the battery status in mode 9)."""
    return [
        Measurement("air_temperature", _s16(b, i) / 100, time=time),
        Measurement("relative_humidity", ((b[i + 2] << 8 | b[i + 3]) & 0x0FFF) / 10, time=time),
    ]


def _probe(raw: int, time: datetime | None = None) -> list[Measurement]:
    if raw == _NO_READING:
        return []
    signed = raw - 0x10000 if raw & 0x8000 else raw
    return [Measurement("air_temperature", signed / 100, sensor=1, time=time)]  # 0.01 °C


def _ext_value(ext: int, raw: int, time: datetime | None = None) -> list[Measurement]:
    """The measurement a 2-byte external value stands for (types 1, 2, 5, 6, 9)."""
    if ext in _PROBES:
        return _probe(raw, time)
    if ext == 0x5:
        return [Measurement("illuminance", float(raw), time=time)]  # 1 lx
    if ext == 0x6:
        return [Measurement("voltage", raw / 1000, time=time)]  # mV
    return []


def _datalog(payload: bytes) -> Decoded:
    """A poll reply: entries of [ext value 2 B][SHT 4 B][ext byte][unix time u32], each timed."""
    if len(payload) % _ENTRY:
        raise DecodeError(f"LHT65 datalog of {len(payload)} bytes is not 11 * n")
    ms: list[Measurement] = []
    for pos in range(0, len(payload), _ENTRY):
        entry = payload[pos : pos + _ENTRY]
        time = datetime.fromtimestamp(int.from_bytes(entry[7:11]), UTC)
        ext = entry[6]
        ms += _climate(entry, 2, time)
        if not ext & _NOT_CONNECTED:
            ms += _ext_value(ext & _TYPE, entry[0] << 8 | entry[1], time)
    return Decoded(tuple(ms), {"datalog_entries": len(payload) // _ENTRY})


def decode_lht65(payload: bytes, f_port: int) -> Decoded:
    """LHT65 / LHT65N: SHT20 temperature and humidity, optional external sensor."""
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
    if len(payload) >= _ENTRY and payload[6] & _POLL:
        return _datalog(payload)
    need(payload, _ENTRY, "LHT65 data frame")
    flags = payload[6]
    ext = flags & _TYPE
    if ext not in _EXT_NAMES:
        raise DecodeError(f"LHT65 external sensor type {ext} is not supported")
    ms: list[Measurement] = []
    state: dict[str, object] = {"ext_sensor": _EXT_NAMES[ext]}
    connected = not flags & _NOT_CONNECTED
    if not connected:
        state["no_connect"] = "Sensor no connection"
    ext_raw = payload[7] << 8 | payload[8]  # 2 B: external value
    if ext == 0x9:  # the probe moves to bytes 0-1 (no battery) and bytes 7-10 time the frame
        time = datetime.fromtimestamp(int.from_bytes(payload[7:11]), UTC)
        state["battery_status"] = payload[4] >> 6
        state["timestamp"] = int.from_bytes(payload[7:11])
        ms += _climate(payload, 2, time)
        if connected:
            ms += _probe(payload[0] << 8 | payload[1], time)
        return Decoded(tuple(ms), state)
    ms.append(Measurement("battery_voltage", _battery(payload)))  # 2 B: bits 13..0 mV
    state["battery_status"] = payload[0] >> 6  # bits 15..14
    if ext == 0xF:  # bytes 2-5 and 7-10 carry the probe's ROM id instead of the SHT values
        state["ds18b20_id"] = (payload[2:6] + payload[7:11]).hex()
        return Decoded(tuple(ms), state)
    ms += _climate(payload, 2)
    if ext == 0x4:
        state["ext_pin_level"] = payload[7]
        state["ext_interrupt"] = payload[8]
    elif ext == 0x7:
        state["ext_count"] = ext_raw
    elif ext == 0x8:
        state["ext_count"] = int.from_bytes(payload[7:11])  # u32
    elif connected:
        ms += _ext_value(ext, ext_raw)
    return Decoded(tuple(ms), state)


def encode_lht65(measurements: Iterable[Measurement], f_port: int = _DATA_PORT) -> bytes:
    """Mode 9 when the probe value carries a time, 0x0F without SHT values, else 1, 5, 6 or 0."""
    ms = list(measurements)
    v = by_key(ms)
    times = {m.time for m in ms if m.time is not None}
    if times:
        seconds = round(times.pop().timestamp()).to_bytes(4)
        probe = v.get(("air_temperature", 1))
        out = bytearray(b"\x7f\xff" if probe is None else fit(probe, 0.01, 2, True, "probe"))
        out += fit(v[("air_temperature", 0)], 0.01, 2, True, "air_temperature")
        out += fit(v[("relative_humidity", 0)], 0.1, 2, False, "relative_humidity")
        return bytes(out + b"\x09" + seconds)
    out = bytearray(fit(v[("battery_voltage", 0)], 0.001, 2, False, "battery_voltage"))
    if ("air_temperature", 0) not in v:
        return bytes(out + bytes(4) + b"\x0f" + bytes(4))
    out += fit(v[("air_temperature", 0)], 0.01, 2, True, "air_temperature")
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


def _ds18b20(payload: bytes, pos: int) -> list[Measurement]:
    """LDDS75 / LSE01 probe: 2 B signed, 0.1 °C. 0.0 °C is a reading; a code outside the
    DS18B20's range (-55..125 °C, e.g. 0x7FFF when no probe answers) is none."""
    tenths = int.from_bytes(payload[pos : pos + 2], signed=True)
    if not _DS18B20_MIN <= tenths <= _DS18B20_MAX:
        return []
    return [Measurement("air_temperature", tenths / 10, sensor=1)]


def _ds18b20_bytes(v: dict[tuple[str, int], float]) -> bytes:
    probe = v.get(("air_temperature", 1))
    return b"\x7f\xff" if probe is None else fit(probe, 0.1, 2, True, "probe temperature")


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
        ms += _ds18b20(payload, 5)
        state["sensor_flag"] = payload[7]
    return Decoded(tuple(ms), state)


def encode_ldds75(measurements: Iterable[Measurement], f_port: int = _DATA_PORT) -> bytes:
    v = by_key(measurements)
    out = fit(v[("battery_voltage", 0)], 0.001, 2, False, "battery_voltage")
    out += fit(v.get(("distance", 0), 0), 0.001, 2, False, "distance") + b"\x00"
    return out + _ds18b20_bytes(v) + b"\x01"


def decode_lse01(payload: bytes, f_port: int) -> Decoded:
    """LSE01: battery, DS18B20 probe, soil moisture, soil temperature, soil conductivity."""
    if f_port != _DATA_PORT:
        raise _port_error(f_port)
    need(payload, 11, "LSE01 data frame")
    ms = [Measurement("battery_voltage", _battery(payload)), *_ds18b20(payload, 2)]
    warnings: list[str] = []
    moisture = payload[4] << 8 | payload[5]  # 2 B, 0.01 %; the manual's register range 0..10000
    if moisture <= 10000:
        ms.append(Measurement("soil_moisture", moisture / 100))
    else:
        warnings.append(f"LSE01 soil moisture code {moisture} is out of range 0..10000")
    soil_t = payload[6] << 8 | payload[7]  # 2 B, 0.01 °C; negative as the manual's x - 0xFFFF
    ms += [
        Measurement("soil_temperature", (soil_t - 0xFFFF if soil_t & 0x8000 else soil_t) / 100),
        # 2 B, uS/cm; 1 uS/cm = 1e-4 S/m
        Measurement("soil_conductivity", round((payload[8] << 8 | payload[9]) * 1e-4, 4)),
    ]
    flags = payload[10]  # 1 B: bits 7..4 soil sensor type/flag, bit 0 interrupt
    return Decoded(tuple(ms), {"interrupt": flags & 0x01, "flags": flags}, tuple(warnings))


def encode_lse01(measurements: Iterable[Measurement], f_port: int = _DATA_PORT) -> bytes:
    v = by_key(measurements)
    out = fit(v[("battery_voltage", 0)], 0.001, 2, False, "battery_voltage")
    moisture = v.get(("soil_moisture", 0))
    out += _ds18b20_bytes(v)
    out += b"\xff\xff" if moisture is None else fit(moisture, 0.01, 2, False, "soil_moisture")
    soil_t = round(v[("soil_temperature", 0)] * 100)
    out += (soil_t + 0xFFFF if soil_t < 0 else soil_t).to_bytes(2)
    out += fit(v[("soil_conductivity", 0)], 1e-4, 2, False, "soil_conductivity")
    return out + b"\x80"
