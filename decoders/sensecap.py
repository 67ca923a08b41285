"""SenseCAP S210x sensors (S2101 T/H, S2102 light, S2103 CO2, S2104/S2105 soil): shared protocol.

Frame (Seeed "SenseCAP LoRaWAN sensor payload" document): repeated 7-byte packets
`[channel u8][data id u16 LE][value i32 LE]`, then a CRC-16/KERMIT of everything before it
(little-endian). Data ids above 4096 are measurements (value / 1000); lower ids are device
attributes (versions, battery and interval, sensor EUI halves, sensor removal). The vendor's
decoder ignores the channel of a measurement; S210x devices send 1, some firmware 0, and both
mean the one probe (sensor 0); channel n > 1 is sensor n - 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from decoders.base import Decoded, DecodeError, Measurement

VERSION = "1.0.0"

# measurement id -> (quantity, factor from the device's unit to the catalogue's)
_MEASUREMENTS: dict[int, tuple[str, float]] = {
    4097: ("air_temperature", 1),  # °C
    4098: ("relative_humidity", 1),  # %RH
    4099: ("illuminance", 1),  # lux
    4100: ("co2", 1),  # ppm
    4101: ("barometric_pressure", 0.01),  # Pa -> hPa
    4102: ("soil_temperature", 1),  # °C
    4103: ("soil_moisture", 1),  # %
    4108: ("soil_conductivity", 0.1),  # dS/m -> S/m
}
_BY_QUANTITY = {q: (mid, f) for mid, (q, f) in _MEASUREMENTS.items()}
_PACKET = 7


def _crc_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1  # 0x1021 reflected
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def _crc16_kermit(data: bytes) -> int:
    """CRC-16/KERMIT (poly 0x1021 reflected, init 0), table-driven."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def decode(payload: bytes, f_port: int) -> Decoded:
    """Decode a SenseCAP frame; a frame whose CRC does not match is rejected."""
    if len(payload) < 2 + _PACKET or (len(payload) - 2) % _PACKET:
        raise DecodeError(f"SenseCAP frame length {len(payload)} is not 7*n + 2")
    body, crc = payload[:-2], payload[-2] | payload[-1] << 8
    if _crc16_kermit(body) != crc:
        raise DecodeError("SenseCAP CRC mismatch")
    ms: list[Measurement] = []
    state: dict[str, Any] = {}
    eui_low = eui_high = None
    for pos in range(0, len(body), _PACKET):
        channel = body[pos]
        data_id = body[pos + 1] | body[pos + 2] << 8
        raw = body[pos + 3 : pos + 7]
        if data_id > 4096:
            value = int.from_bytes(raw, "little", signed=True) / 1000
            known = _MEASUREMENTS.get(data_id)
            if known is None:
                state[f"measurement_{data_id}"] = value
            else:
                quantity, factor = known
                sensor = max(channel - 1, 0)  # channels 0 and 1 are both the built-in probe
                ms.append(Measurement(quantity, round(value * factor, 6), sensor=sensor))
        elif data_id == 0x0000:  # board version: hardware major.minor, software major.minor
            state["hardware_version"] = f"{raw[3]}.{raw[2]}"
            state["software_version"] = f"{raw[1]}.{raw[0]}"
        elif data_id == 0x0001:  # sensor version
            state[f"sensor_{channel}_version"] = f"{raw[3]}.{raw[2]}"
        elif data_id == 0x0002:  # sensor EUI, low 4 bytes
            eui_low = raw[::-1].hex().upper()
        elif data_id == 0x0003:  # sensor EUI, high 4 bytes
            eui_high = raw[::-1].hex().upper()
        elif data_id == 0x0007:  # battery % (u16) and upload interval in minutes (u16)
            state["battery"] = raw[0] | raw[1] << 8
            state["interval"] = (raw[2] | raw[3] << 8) * 60
            ms.append(Measurement("battery_level", float(state["battery"])))
        elif data_id == 0x0120:
            state["removed_sensor_channel"] = channel
        else:
            state[f"attribute_{data_id}"] = raw.hex()
    if eui_low and eui_high:
        state["sensor_id"] = eui_high + eui_low
    return Decoded(tuple(ms), state)


def encode(measurements: Iterable[Measurement], f_port: int = 1) -> bytes:
    """Encode measurements as telemetry packets on channel `sensor + 1`, plus the CRC."""
    body = bytearray()
    for m in measurements:
        if m.quantity == "battery_level":
            body += b"\x00\x07\x00" + round(m.value).to_bytes(2, "little") + b"\x3c\x00"
            continue
        if m.quantity not in _BY_QUANTITY:
            raise ValueError(f"SenseCAP has no measurement id for {m.quantity!r}")
        data_id, factor = _BY_QUANTITY[m.quantity]
        raw = round(m.value / factor * 1000)
        body += bytes((m.sensor + 1,)) + data_id.to_bytes(2, "little")
        body += raw.to_bytes(4, "little", signed=True)
    return bytes(body) + _crc16_kermit(bytes(body)).to_bytes(2, "little")
