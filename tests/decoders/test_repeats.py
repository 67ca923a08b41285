"""A frame that repeats a record keeps the last value, in every decoder (the vendors' rule)."""

from __future__ import annotations

import pytest

from decoders.base import Measurement
from decoders.registry import DECODERS
from decoders.sensecap import _crc16_kermit


def _sensecap(*values: int) -> bytes:
    body = b"".join(b"\x01\x01\x10" + v.to_bytes(4, "little", signed=True) for v in values)
    return body + _crc16_kermit(body).to_bytes(2, "little")


@pytest.mark.parametrize(
    ("key", "f_port", "frame", "kept"),
    [
        # Milesight: temperature 0x00f4 = 24.4 °C, then 0x00fa = 25.0 °C
        ("milesight_em300_th", 85, bytes.fromhex("0367f4000367fa00"), 25.0),
        # Elsys: type 0x01 twice, 0x00e2 = 22.6 °C then 0x00e9 = 23.3 °C
        ("elsys", 5, bytes.fromhex("0100e20100e9"), 23.3),
        # CayenneLPP: channel 1 temperature 0x00e2 = 22.6 °C, then 0x00ff = 25.5 °C
        ("cayenne_lpp", 1, bytes.fromhex("016700e2016700ff"), 25.5),
        # SenseCAP: id 4097 twice, 21.4 °C then 22.0 °C
        ("sensecap", 1, _sensecap(21400, 22000), 22.0),
    ],
)
def test_repeated_record_keeps_the_last_value(
    key: str, f_port: int, frame: bytes, kept: float
) -> None:
    decoded = DECODERS[key].decode(frame, f_port)
    temperatures = [m for m in decoded.measurements if m.quantity == "air_temperature"]
    assert temperatures == [Measurement("air_temperature", kept, sensor=temperatures[0].sensor)]
    assert decoded.warnings[-1] == "1 repeated record(s) replaced by the frame's last value"
