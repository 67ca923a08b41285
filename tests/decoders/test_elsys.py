"""Elsys record types beyond the Device Repository examples, worked out by hand from Elsys's
"Payload structure" table and its generic decoder (GPS as 3-byte little-endian signed values)."""

from __future__ import annotations

import pytest

from decoders.base import DecodeError, Measurement
from decoders.elsys import decode


def test_gps_0x09() -> None:
    # 523702 = 0x07fdb6, 48952 = 0x00bf38, each little-endian, / 10000
    decoded = decode(bytes.fromhex("0100e209b6fd0738bf00"), 5)
    assert decoded.measurements == (
        Measurement("air_temperature", 22.6),
        Measurement("latitude", 52.3702),
        Measurement("longitude", 4.8952),
    )


def test_ir_temperature_0x10() -> None:
    decoded = decode(bytes.fromhex("1000e100fa0229"), 5)
    assert decoded.measurements == (
        Measurement("surface_temperature", 25.0),
        Measurement("relative_humidity", 41.0),
    )
    assert decoded.state == {"ir_internal_temperature": 22.5}


def test_grideye_0x13() -> None:
    frame = bytes.fromhex("1314") + bytes(range(64)) + bytes.fromhex("0229")
    decoded = decode(frame, 5)
    assert decoded.measurements == (Measurement("relative_humidity", 41.0),)
    assert decoded.state["grideye"] == [round(20 + n / 10, 1) for n in range(64)]


def test_load_cell_microvolts_0x1b() -> None:
    decoded = decode(bytes.fromhex("1bfffffc18"), 5)
    assert decoded.measurements == (Measurement("voltage", -0.001, sensor=2),)


def test_repeated_external_probes_0x19_are_separate_sensors() -> None:
    decoded = decode(bytes.fromhex("1900c819ff38"), 5)
    assert decoded.measurements == (
        Measurement("air_temperature", 20.0, sensor=2),
        Measurement("air_temperature", -20.0, sensor=3),
    )


def test_gps_off_earth_is_a_warning_not_a_position() -> None:
    decoded = decode(bytes.fromhex("09ffff7fffff7f"), 5)  # 838.8607 degrees
    assert decoded.measurements == ()
    assert decoded.warnings == ("Elsys GPS position 838.8607, 838.8607 is not on Earth",)


def test_unknown_type_still_refused() -> None:
    with pytest.raises(DecodeError, match="unknown Elsys data type 0x20"):
        decode(bytes.fromhex("0100e22001"), 5)
