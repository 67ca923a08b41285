"""Bosch TPS110 and Tekzitel TekziPark frames the Device Repository examples do not cover.

Layouts and names from the vendors' codecs in the Device Repository (`vendor/bosch/
tpl110-0392.js`, `vendor/tekzitel/tekzipark.js`); expected values worked out by hand.
"""

from __future__ import annotations

import pytest

from decoders.base import DecodeError, Measurement
from decoders.parking import decode_bosch, decode_tekzitel


def test_bosch_port_4_firmware_version() -> None:
    decoded = decode_bosch(bytes.fromhex("002703"), 4)
    assert decoded.state == {"type": "device information", "firmware_version": "0.39.3"}


def test_bosch_port_4_device_urn() -> None:
    decoded = decode_bosch(bytes.fromhex("70b3d51000007c0b1a2b3c"), 4)
    assert decoded.measurements == ()
    assert decoded.state == {
        "type": "device information",
        "dev_eui": "70b3d57c0b1a2b3c",
        "product_code": "PLS",
        "variant_code": 0,
        "extension": "EU868",
    }


def test_bosch_port_7_temperature_alert() -> None:
    decoded = decode_bosch(bytes.fromhex("fb"), 7)
    assert decoded.measurements == (Measurement("device_temperature", -5.0),)
    assert decoded.state == {"type": "temperature alert"}


@pytest.mark.parametrize(
    ("frame", "state"),
    [
        (
            # 6 x u24 BE, DR0 first. (The vendor codec reads DR1's low byte from byte 7, a typo.)
            "02000001000002000003000004000005000006",
            {
                "type": "Number of uplink messages sent",
                "uplink_messages_sent": {
                    "dr0_sf12": 1,
                    "dr1_sf11": 2,
                    "dr2_sf10": 3,
                    "dr3_sf9": 4,
                    "dr4_sf8": 5,
                    "dr5_sf7": 6,
                },
            },
        ),
        (
            "0300000100",
            {"type": "Number of times the radar has been triggered", "times_radar_triggered": 256},
        ),
        ("0400015180", {"type": "Time running since restart", "time_since_restart_seconds": 86400}),
        (
            "0501020304050600",
            {
                "type": "Number of resets since installation",
                "resets_since_install": {
                    "brown_out": 1,
                    "lockup": 2,
                    "external_pin": 3,
                    "power_on": 4,
                    "watchdog": 5,
                    "software_requested": 6,
                },
            },
        ),
        (
            "0601e13380",
            {"type": "Time running since installation", "time_since_install_seconds": 31536000},
        ),
    ],
)
def test_bosch_usage_types_2_to_6(frame: str, state: dict[str, object]) -> None:
    decoded = decode_bosch(bytes.fromhex(frame), 5)
    assert decoded.measurements == ()
    assert decoded.state == state


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (1, "Watchdog"),
        (4, "External Pin"),
        (5, "Lockup"),
        (6, "Brownout"),
        (7, "Others"),
        (9, "Unknown"),
    ],
)
def test_bosch_start_up_reset_reasons(reason: int, text: str) -> None:
    # the vector "Startup with code 205 and time" with byte 15 (reset reason) replaced
    frame = bytes.fromhex("0a000000970320cd00210000002702") + bytes((reason,)) + b"\x00"
    assert decode_bosch(frame, 3).state["reset_reason"] == text


def test_bosch_debug_code_404() -> None:
    decoded = decode_bosch(bytes.fromhex("0000000097013194001a"), 6)
    assert decoded.state["debug_code"] == 404
    assert decoded.state["debug_code_description"] == "Park detection algorithm recalibrating"
    assert decoded.state["sequence_number"] == 26


def test_bosch_unknown_usage_type_still_refused() -> None:
    with pytest.raises(DecodeError, match="usage type 7"):
        decode_bosch(bytes.fromhex("0700000001"), 5)


def test_tekzitel_port_2_diagnostics() -> None:
    decoded = decode_tekzitel(bytes.fromhex("a82d6305fb10f0028107012a"), 2)
    assert decoded.measurements == (
        Measurement("parking_occupied", 1.0),
        Measurement("device_temperature", 45.0),
    )
    assert decoded.state == {
        "keep_alive": 0,
        "reset": 0,
        "no_beacon": 0,
        "radar": 1,
        "obstruction": 1,
        "good_battery": 1,
        "parking_id": 99,
        "deflection_x": 5,
        "deflection_y": -5,
        "deflection_z": 16,
        "baseline_x": -16,
        "baseline_y": 2,
        "baseline_z": -127,
        "fault_code": 7,
        "d_reflection": 42,
    }
