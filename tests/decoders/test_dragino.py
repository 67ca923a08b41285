"""Dragino frames beyond the Device Repository examples, values worked out by hand.

The layouts are those of the vendor's decoders in the Device Repository (`vendor/dragino/lht65.js`,
`lht65n.js`, `lse01.js`) and Dragino's own (`dragino-end-node-decoder`: LDDS75 v1.1.4, LSE01
v1.2.1): byte 6 of an LHT65 frame holds the external sensor type in bits 3..0, "not connected" in
bit 7 and "datalog reply" in bit 6.
"""

from __future__ import annotations

from datetime import UTC, datetime

from decoders.base import Measurement
from decoders.dragino import decode_ldds75, decode_lht65, decode_lse01

T0 = datetime(2022, 10, 31, 0, 51, 12, tzinfo=UTC)  # 0x635f1c00
T1 = datetime(2022, 10, 31, 1, 1, 12, tzinfo=UTC)  # 0x635f1e58


def test_lht65_mode_9_probe_in_bytes_0_1_and_a_timestamp() -> None:
    # 0a3c: DS18B20 26.20 °C; 0b0d: SHT 28.29 °C; c376: battery status 3, humidity 0x376 = 88.6 %
    decoded = decode_lht65(bytes.fromhex("0a3c0b0dc37609635f1c00"), 2)
    assert decoded.measurements == (
        Measurement("air_temperature", 28.29, time=T0),
        Measurement("relative_humidity", 88.6, time=T0),
        Measurement("air_temperature", 26.2, sensor=1, time=T0),
    )
    assert decoded.state["battery_status"] == 3
    assert decoded.state["ext_sensor"] == "DS18B20 & timestamp"
    assert decoded.state["timestamp"] == 1667177472


def test_lht65_mode_8_32_bit_count() -> None:
    decoded = decode_lht65(bytes.fromhex("cbf60b0d03760800012345"), 2)
    assert decoded.measurements == (
        Measurement("battery_voltage", 3.062),
        Measurement("air_temperature", 28.29),
        Measurement("relative_humidity", 88.6),
    )
    assert decoded.state["ext_count"] == 0x12345
    assert decoded.state["ext_sensor"] == "Interrupt Sensor count"


def test_lht65_mode_0f_probe_id_and_no_sht_values() -> None:
    decoded = decode_lht65(bytes.fromhex("cbf628ff1a2b0f3c5d6e7f"), 2)
    assert decoded.measurements == (Measurement("battery_voltage", 3.062),)
    assert decoded.state["ds18b20_id"] == "28ff1a2b3c5d6e7f"
    assert decoded.state["ext_sensor"] == "DS18B20ID"


def test_lht65_type_is_the_low_nibble_of_byte_6() -> None:
    # 0x21: type 1 with bit 5 set; the vendor decoder reads it as a DS18B20 frame.
    decoded = decode_lht65(bytes.fromhex("cbf60b0d0376210add7fff"), 2)
    assert Measurement("air_temperature", 27.81, sensor=1) in decoded.measurements
    assert decoded.state["ext_sensor"] == "Temperature Sensor"


def test_lht65_not_connected_probe_is_no_measurement() -> None:
    # 0x81: type 1, bit 7 "sensor no connection"; 7fff is the DS18B20's "no reading" too.
    decoded = decode_lht65(bytes.fromhex("cbf60b0d0376817fff7fff"), 2)
    assert decoded.measurements == (
        Measurement("battery_voltage", 3.062),
        Measurement("air_temperature", 28.29),
        Measurement("relative_humidity", 88.6),
    )
    assert decoded.state["no_connect"] == "Sensor no connection"


def test_lht65_datalog_reply_entries_carry_their_own_time() -> None:
    frame = "0add0b0d037641635f1c00" + "0ae10b10037041635f1e58"
    decoded = decode_lht65(bytes.fromhex(frame), 2)
    assert decoded.measurements == (
        Measurement("air_temperature", 28.29, time=T0),
        Measurement("relative_humidity", 88.6, time=T0),
        Measurement("air_temperature", 27.81, sensor=1, time=T0),
        Measurement("air_temperature", 28.32, time=T1),
        Measurement("relative_humidity", 88.0, time=T1),
        Measurement("air_temperature", 27.85, sensor=1, time=T1),
    )


def test_ldds75_probe_at_exactly_zero_degrees_is_a_reading() -> None:
    # Dragino LDDS75 v1.1.4 decoder: bytes 5-6 signed / 10 -> TempC_DS18B20 "0.00".
    decoded = decode_ldds75(bytes.fromhex("0b4505dc00000001"), 2)
    assert decoded.measurements == (
        Measurement("battery_voltage", 2.885),
        Measurement("distance", 1.5),
        Measurement("air_temperature", 0.0, sensor=1),
    )


def test_ldds75_probe_out_of_the_ds18b20_range_is_no_reading() -> None:
    decoded = decode_ldds75(bytes.fromhex("0b4505dc007fff01"), 2)
    assert ("air_temperature", 1) not in {(m.quantity, m.sensor) for m in decoded.measurements}


def test_lse01_probe_at_exactly_zero_degrees_is_a_reading() -> None:
    # Vendor lse01.js: 0000 -> TempC_DS18B20 "0.0"; 05dc -> water_SOIL 15.00; 0105 -> 2.61 °C
    decoded = decode_lse01(bytes.fromhex("0b45000005dc010500c810"), 2)
    assert decoded.measurements == (
        Measurement("battery_voltage", 2.885),
        Measurement("air_temperature", 0.0, sensor=1),
        Measurement("soil_moisture", 15.0),
        Measurement("soil_temperature", 2.61),
        Measurement("soil_conductivity", 0.02),
    )


def test_lse01_negative_soil_temperature_as_the_manual_computes_it() -> None:
    # LSE01 manual §2.3.3: FF7E -> (FF7E - FFFF) / 100 = -1.29 °C
    decoded = decode_lse01(bytes.fromhex("0b45000005dcff7e00c810"), 2)
    assert Measurement("soil_temperature", -1.29) in decoded.measurements


def test_lse01_soil_moisture_beyond_its_register_range_is_no_reading() -> None:
    decoded = decode_lse01(bytes.fromhex("0b45000027110105 00c810".replace(" ", "")), 2)
    assert "soil_moisture" not in {m.quantity for m in decoded.measurements}
    assert decoded.warnings == ("LSE01 soil moisture code 10001 is out of range 0..10000",)
