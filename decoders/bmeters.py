"""b-meters IWM-LR3 LoRaWAN reader for water meters (pulse/inductive counter).

Frame on f_port 1, 13 bytes (b-meters IWM-LR3 "LoRaWAN payload" sheet): application code u8,
volume counter u32 LE, reverse-flow counter u32 LE, K index u8, medium u8, VIF u8 (unit of the
counter: 0x0D litre, 0x0E 10 litres, 0x0F 100 litres), alarm code u8.
"""

from __future__ import annotations

from collections.abc import Iterable

from decoders.base import Decoded, DecodeError, Measurement
from decoders.frame import by_key, need

VERSION = "1.0.0"

_PORT = 1
_LITRES_PER_COUNT = {0x0D: 1, 0x0E: 10, 0x0F: 100}
_ALARMS = {
    0: "magnetic",
    1: "removal",
    2: "sensor_fraud",
    3: "leakage",
    4: "reverse_flow",
    5: "low_battery",
}


def decode(payload: bytes, f_port: int) -> Decoded:
    if f_port != _PORT:
        raise DecodeError(f"unknown FPort {f_port}")
    need(payload, 13, "IWM-LR3 frame")
    vif = payload[11]
    litres = _LITRES_PER_COUNT.get(vif)
    if litres is None:
        raise DecodeError(f"IWM-LR3 VIF 0x{vif:02x} is not a volume unit")
    alarm = payload[12]
    return Decoded(
        (Measurement("water_volume", float(int.from_bytes(payload[1:5], "little") * litres)),),
        {
            "application": payload[0],
            "flow_counter": int.from_bytes(payload[5:9], "little"),
            "index_k": payload[9],
            "medium": payload[10],
            "vif": vif,
            "alarm": alarm,
            "alarm_name": _ALARMS.get(alarm),
        },
    )


def encode(measurements: Iterable[Measurement], f_port: int = _PORT) -> bytes:
    litres = round(by_key(measurements)[("water_volume", 0)])
    vif = 0x0D if litres <= 0xFFFFFFFF else 0x0E
    count = litres if vif == 0x0D else litres // 10
    return b"\x2c" + count.to_bytes(4, "little") + bytes(4) + b"\x00\x00" + bytes((vif, 0))
