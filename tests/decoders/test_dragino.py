"""Dragino frames beyond the Device Repository examples, values worked out by hand.

The layouts are those of the vendor's decoders in the Device Repository (`vendor/dragino/lht65.js`,
`lht65n.js`, `lse01.js`) and Dragino's own (`dragino-end-node-decoder`: LDDS75 v1.1.4, LSE01
v1.2.1): byte 6 of an LHT65 frame holds the external sensor type in bits 3..0, "not connected" in
bit 7 and "datalog reply" in bit 6.
"""

from __future__ import annotations

from datetime import UTC, datetime

from decoders.base import Measurement
from decoders.dragino import decode_lht65

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
