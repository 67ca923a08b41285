"""Decentlab protocol version 2: DL-IAM, DL-LP8P, DL-PM, DL-MBX, DL-SMTP.

Frame (Decentlab "Data format" of each datasheet): version u8 (= 2), device id u16, sensor flags
u16, then for each flagged sensor its fixed number of u16 values; everything big-endian. Which
sensors exist, in flag-bit order, and their conversion formulas are per model (datasheets).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key

VERSION = "1.0.0"

_PROTOCOL_VERSION = 2

_Values = tuple[int, ...]
_Reader = Callable[[_Values, list[Measurement], dict[str, Any]], None]
_Writer = Callable[[dict[tuple[str, int], float]], list[int]]


@dataclass(frozen=True, slots=True)
class _Sensor:
    size: int  # number of u16 values
    read: _Reader
    write: _Writer  # encoder: the raw values for this sensor from the measurements


def _battery_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    ms.append(Measurement("battery_voltage", x[0] / 1000))  # mV


_BATTERY = _Sensor(1, _battery_read, lambda v: [round(v[("battery_voltage", 0)] * 1000)])


def _sht_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    # Sensirion SHT: T = 175 * x / 65535 - 45 °C, RH = 100 * x / 65535 %
    ms.append(Measurement("air_temperature", 175 * x[0] / 65535 - 45))
    ms.append(Measurement("relative_humidity", 100 * x[1] / 65535))


_SHT = _Sensor(
    2,
    _sht_read,
    lambda v: [
        round((v[("air_temperature", 0)] + 45) * 65535 / 175),
        round(v[("relative_humidity", 0)] * 65535 / 100),
    ],
)


def _sht21_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    # Sensirion SHT21: T = 175.72 * x / 65536 - 46.85 °C, RH = 125 * x / 65536 - 6 %
    ms.append(Measurement("air_temperature", 175.72 * x[0] / 65536 - 46.85))
    ms.append(Measurement("relative_humidity", 125 * x[1] / 65536 - 6))


_SHT21 = _Sensor(
    2,
    _sht21_read,
    lambda v: [
        round((v[("air_temperature", 0)] + 46.85) * 65536 / 175.72),
        round((v[("relative_humidity", 0)] + 6) * 65536 / 125),
    ],
)


def _pressure_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    ms.append(Measurement("barometric_pressure", x[0] * 2 / 100))  # 2 Pa per count, to hPa


_PRESSURE = _Sensor(1, _pressure_read, lambda v: [round(v[("barometric_pressure", 0)] * 50)])


def _barometer_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    st["barometer_temperature"] = (x[0] - 5000) / 100  # °C, internal
    ms.append(Measurement("barometric_pressure", x[1] * 2 / 100))


_BAROMETER = _Sensor(
    2, _barometer_read, lambda v: [5000, round(v[("barometric_pressure", 0)] * 50)]
)


def _illuminance(visible_ir: int, ir: int) -> float:
    # DL-IAM datasheet: lux from the two photodiode channels
    return max(max(1.0 * visible_ir - 1.64 * ir, 0.59 * visible_ir - 0.86 * ir), 0) * 1.5504


def _light_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    st["ambient_light_visible_infrared"], st["ambient_light_infrared"] = x[0], x[1]
    ms.append(Measurement("illuminance", _illuminance(x[0], x[1])))


# Encoded with the infrared channel at 0, so lux = visible * 1.5504 (the encoder's domain).
_LIGHT = _Sensor(2, _light_read, lambda v: [round(v[("illuminance", 0)] / 1.5504), 0])


def _co2_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    ms.append(Measurement("co2", float(x[0] - 32768)))  # offset binary, ppm
    st["co2_sensor_status"], st["raw_ir_reading"] = x[1], x[2]


_CO2 = _Sensor(3, _co2_read, lambda v: [round(v[("co2", 0)]) + 32768, 0, 0])


def _activity_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    ms.append(Measurement("motion_count", float(x[0])))  # PIR activity counter


_ACTIVITY = _Sensor(1, _activity_read, lambda v: [round(v[("motion_count", 0)])])


def _voc_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    ms.append(Measurement("tvoc", float(x[0])))  # ppb


_VOC = _Sensor(1, _voc_read, lambda v: [round(v[("tvoc", 0)])])


def _lp8_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    # Senseair LP8: co2, co2 (low-pass), sensor temperature, 2 capacitor voltages, status, raw IR x2
    ms.append(Measurement("co2", float(x[0] - 32768)))
    st["co2_concentration_lpf"] = x[1] - 32768
    st["co2_sensor_temperature"] = (x[2] - 32768) / 100
    st["capacitor_voltage_1"], st["capacitor_voltage_2"] = x[3] / 1000, x[4] / 1000
    st["co2_sensor_status"], st["raw_ir_reading"], st["raw_ir_reading_lpf"] = x[5], x[6], x[7]


_LP8 = _Sensor(8, _lp8_read, lambda v: [round(v[("co2", 0)]) + 32768, 32768, 32768, 0, 0, 0, 0, 0])

_PM_MASS = ("pm1", "pm2_5", "pm4", "pm10")
_PM_COUNT = ("pm0_5_count", "pm1_count", "pm2_5_count", "pm4_count", "pm10_count")


def _pm_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    # Sensirion SPS30: 4 mass concentrations (0.1 ug/m3), typical size (nm), 5 counts (0.1 /cm3)
    for q, raw in zip(_PM_MASS, x[0:4], strict=True):
        ms.append(Measurement(q, raw / 10))
    st["typical_particle_size"] = x[4]
    for q, raw in zip(_PM_COUNT, x[5:10], strict=True):
        ms.append(Measurement(q, raw / 10))


_PM = _Sensor(
    10,
    _pm_read,
    lambda v: (
        [round(v[(q, 0)] * 10) for q in _PM_MASS] + [0] + [round(v[(q, 0)] * 10) for q in _PM_COUNT]
    ),
)


def _distance_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    ms.append(Measurement("distance", x[0] / 1000))  # mm
    st["number_of_valid_samples"] = x[1]


_DISTANCE = _Sensor(2, _distance_read, lambda v: [round(v[("distance", 0)] * 1000), 1])

_DEPTHS = 8
_INVALID = 0  # DL-SMTP raw code for "no sensor / invalid" (reads -5 and -327.68 converted)


def _soil_read(x: _Values, ms: list[Measurement], st: dict[str, Any]) -> None:
    # Sentek probe, per depth: moisture (x - 2500) / 500, temperature (x - 32768) / 100 °C.
    # Raw 0 is the datasheet's "no sensor / invalid" code (-5, -327.68), for each value on its
    # own: no measurement, whatever the other value of that depth says.
    for depth in range(_DEPTHS):
        moisture, temperature = x[2 * depth], x[2 * depth + 1]
        if moisture != _INVALID:
            ms.append(Measurement("soil_moisture_index", (moisture - 2500) / 500, sensor=depth))
        if temperature != _INVALID:
            ms.append(Measurement("soil_temperature", (temperature - 32768) / 100, sensor=depth))


def _soil_write(v: dict[tuple[str, int], float]) -> list[int]:
    out: list[int] = []
    for depth in range(_DEPTHS):
        moisture = v.get(("soil_moisture_index", depth))
        temperature = v.get(("soil_temperature", depth))
        out.append(_INVALID if moisture is None else round(moisture * 500) + 2500)
        out.append(_INVALID if temperature is None else round(temperature * 100) + 32768)
    return out


_SOIL = _Sensor(16, _soil_read, _soil_write)

# Sensors per model, in flag-bit order (bit 0 first).
MODELS: dict[str, tuple[_Sensor, ...]] = {
    "dl_iam": (_BATTERY, _SHT, _PRESSURE, _LIGHT, _CO2, _ACTIVITY, _VOC),
    "dl_lp8p": (_SHT21, _BAROMETER, _LP8, _BATTERY),
    "dl_pm": (_BATTERY, _PM, _SHT21, _PRESSURE),
    "dl_mbx": (_DISTANCE, _BATTERY),
    "dl_smtp": (_SOIL, _BATTERY),
}
# Which sensor holds each quantity, to pick the flags when encoding.
_HOLDS: dict[int, tuple[str, ...]] = {
    id(_BATTERY): ("battery_voltage",),
    id(_SHT): ("air_temperature",),
    id(_SHT21): ("air_temperature",),
    id(_PRESSURE): ("barometric_pressure",),
    id(_BAROMETER): ("barometric_pressure",),
    id(_LIGHT): ("illuminance",),
    id(_CO2): ("co2",),
    id(_ACTIVITY): ("motion_count",),
    id(_VOC): ("tvoc",),
    id(_LP8): ("co2",),
    id(_PM): ("pm1",),
    id(_DISTANCE): ("distance",),
    id(_SOIL): ("soil_temperature", "soil_moisture_index"),
}


def decoder(model: str) -> Callable[[bytes, int], Decoded]:
    sensors = MODELS[model]

    def decode(payload: bytes, f_port: int) -> Decoded:
        if len(payload) < 5:
            raise DecodeError(f"Decentlab frame of {len(payload)} bytes is shorter than its header")
        if payload[0] != _PROTOCOL_VERSION:
            raise DecodeError(f"Decentlab protocol version {payload[0]} is not 2")
        flags = payload[3] << 8 | payload[4]
        if flags >> len(sensors):
            raise DecodeError(f"Decentlab flags 0x{flags:04x} name sensors {model} does not have")
        ms: list[Measurement] = []
        state: dict[str, Any] = {
            "protocol_version": payload[0],
            "device_id": payload[1] << 8 | payload[2],
        }
        pos = 5
        for bit, sensor in enumerate(sensors):
            if not flags >> bit & 1:
                continue
            end = pos + 2 * sensor.size
            if end > len(payload):
                raise DecodeError(f"Decentlab frame truncated in sensor {bit} at byte {pos}")
            values = struct.unpack_from(f">{sensor.size}H", payload, pos)
            sensor.read(values, ms, state)
            pos = end
        if pos != len(payload):
            raise DecodeError(f"Decentlab frame has {len(payload) - pos} bytes after its sensors")
        return Decoded(tuple(ms), state)

    return decode


def encoder(model: str, device_id: int = 1) -> Callable[[Iterable[Measurement], int], bytes]:
    sensors = MODELS[model]

    def encode(measurements: Iterable[Measurement], f_port: int = 1) -> bytes:
        v = by_key(measurements)
        quantities = {q for q, _ in v}
        flags, body = 0, bytearray()
        for bit, sensor in enumerate(sensors):
            if not quantities.intersection(_HOLDS[id(sensor)]):
                continue
            flags |= 1 << bit
            for raw in sensor.write(v):
                body += raw.to_bytes(2)
        header = bytes((_PROTOCOL_VERSION,)) + device_id.to_bytes(2) + flags.to_bytes(2)
        return header + bytes(body)

    return encode
