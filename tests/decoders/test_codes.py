"""Vendor "no reading" codes and codes outside a documented range, one frame each, by hand."""

from __future__ import annotations

from decoders.base import Measurement
from decoders.decentlab import decoder
from decoders.milesight import decode as milesight
from decoders.sensecap import _crc16_kermit
from decoders.sensecap import decode as sensecap


def test_dl_smtp_invalid_moisture_beside_a_valid_temperature() -> None:
    # Depth 0: moisture 0 (-5, "invalid"), temperature 0x8a8c -> 27.0 °C; depth 1: 0x0943, 0
    # (-327.68); depths 2-7 absent (0, 0); battery 0x0b3b = 2.875 V.
    frame = "020b50000300008a8c09430000" + "0000" * 12 + "0b3b"
    decoded = decoder("dl_smtp")(bytes.fromhex(frame), 1)
    assert decoded.measurements == (
        Measurement("soil_temperature", 27.0, sensor=0),
        Measurement("soil_moisture_index", -0.258, sensor=1),
        Measurement("battery_voltage", 2.875),
    )


def test_am307_pir_code_other_than_0_or_1() -> None:
    decoded = milesight(bytes.fromhex("0367f40005000204685a"), 85)
    assert decoded.measurements == (
        Measurement("air_temperature", 24.4),
        Measurement("relative_humidity", 45.0),
    )
    assert decoded.state == {"pir_code": 2}
    assert decoded.warnings == ("Milesight PIR code 2 is neither 0 nor 1",)


def test_vs330_occupancy_code_other_than_0_or_1() -> None:
    decoded = milesight(bytes.fromhex("017564038eff"), 85)
    assert decoded.measurements == (Measurement("battery_level", 100.0),)
    assert decoded.state == {"occupancy_code": 255}
    assert decoded.warnings == ("Milesight occupancy code 255 is neither 0 nor 1",)


def test_vs330_occupancy_0_and_1_still_readings() -> None:
    assert milesight(bytes.fromhex("038e01"), 85).measurements == (Measurement("occupancy", 1.0),)
    assert milesight(bytes.fromhex("038e00"), 85).measurements == (Measurement("occupancy", 0.0),)


def test_sensecap_measurement_on_channel_0_is_the_probe() -> None:
    # channel 0, id 4097 (0x1001), 21400 / 1000 = 21.4 °C; the vendor decoder ignores the channel
    body = bytes.fromhex("00011098530000")
    decoded = sensecap(body + _crc16_kermit(body).to_bytes(2, "little"), 1)
    assert decoded.measurements == (Measurement("air_temperature", 21.4),)
