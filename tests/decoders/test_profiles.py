"""Device profiles: generic channels onto catalogue quantities, in the catalogue's one unit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from decoders import DECODERS, QUANTITIES, Decoded, DecodeError, Measurement
from decoders.profiles import PROFILES, ProfileError, for_model, load, parse

T = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)


def _air() -> Any:
    return PROFILES["lpp-air-quality"]


def test_air_quality_frame_becomes_no2_pm_and_co2() -> None:
    # Channels 1 temperature 21.5 °C, 4 analog input 41.27, 5 concentration 431 ppm, 6 analog
    # input 12.5, 7 analog input 23.01, 9 voltage 3.61 V (CayenneLPP, formats.md §3.1).
    frame = bytes.fromhex("016700d70402101f057d01af060204e2070208fd09740169")
    decoded = DECODERS["cayenne_lpp"].decode(frame, 3)
    assert _air().apply(decoded).measurements == (
        Measurement("air_temperature", 21.5, 1),  # not in the profile: passes through
        Measurement("no2", 41.27, 0),
        Measurement("co2", 431, 0),
        Measurement("pm2_5", 12.5, 0),
        Measurement("pm10", 23.01, 0),
        Measurement("battery_voltage", 3.61, 0),
    )


def test_scale_offset_sensor_and_the_frame_time_are_applied() -> None:
    profile = parse(
        "custom",
        "cayenne_lpp",
        [
            # millivolts on analog input 3 are a battery in volts; 4-20 mA loop as a water level
            {"channel": 3, "type": "analog_input", "quantity": "battery_voltage", "unit": "V",
             "scale": 0.001},
            {"channel": 2, "type": "analog_input", "quantity": "water_level", "unit": "m",
             "scale": 0.25, "offset": -1, "sensor": 7},
        ],
    )  # fmt: skip
    decoded = Decoded(
        (Measurement("analog_input", 3600, 3, T), Measurement("analog_input", 12.0, 2, T)),
        {"firmware": "1.2"},
        ("a warning",),
    )
    assert profile.apply(decoded) == Decoded(
        (Measurement("battery_voltage", 3.6, 0, T), Measurement("water_level", 2.0, 7, T)),
        {"firmware": "1.2"},
        ("a warning",),
    )


def test_two_values_landing_on_one_series_are_refused() -> None:
    # Channel 1 analog input is mapped to noise_laeq on sensor 0, and the frame carries a
    # noise_laeq of its own on sensor 0: which one is the truth is not for us to guess.
    profile = PROFILES["lpp-noise"]
    decoded = Decoded((Measurement("analog_input", 55.0, 1), Measurement("noise_laeq", 54.0, 0)))
    with pytest.raises(DecodeError, match="two values of noise_laeq on sensor 0"):
        profile.apply(decoded)


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        (
            {"channel": 4, "type": "analog_input", "quantity": "no2", "unit": "ug/m3"},
            "no2 is in 'ppb' in the catalogue, not 'ug/m3'",
        ),
        (
            {"channel": 4, "type": "analog_input", "quantity": "nox", "unit": "ppb"},
            "'nox' is not a catalogue quantity",
        ),
        (
            {"channel": 4, "type": "analog_input", "quantity": "generic", "unit": ""},
            "generic is generic itself",
        ),
        (
            {"channel": 4, "type": "analogue", "quantity": "no2", "unit": "ppb"},
            "type 'analogue' is not a quantity",
        ),
        ({"channel": 4, "type": "analog_input", "quantity": "no2"}, "'unit' must be given"),
        (
            {"channel": -1, "type": "analog_input", "quantity": "no2", "unit": "ppb"},
            "channel must be an integer",
        ),
        (
            {"channel": 4, "type": "analog_input", "quantity": "no2", "unit": "ppb", "scale": 0},
            "scale 0",
        ),
        (
            {"channel": 4, "type": "analog_input", "quantity": "no2", "unit": "ppb", "gain": 2},
            "unknown keys",
        ),
    ],
)
def test_a_profile_that_would_mislabel_values_is_refused(
    channel: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ProfileError, match=reason):
        parse("bad", "cayenne_lpp", [channel])


def test_ambiguous_profiles_are_refused() -> None:
    no2 = {"channel": 4, "type": "analog_input", "quantity": "no2", "unit": "ppb"}
    with pytest.raises(ProfileError, match=r"share the \(channel, type\)"):
        parse("p", "cayenne_lpp", [no2, {**no2, "quantity": "noise_laeq", "unit": "dB"}])
    with pytest.raises(ProfileError, match=r"share the \(quantity, sensor\)"):
        parse("p", "cayenne_lpp", [no2, {**no2, "channel": 5}])
    with pytest.raises(ProfileError, match="lower-case letters"):
        parse("Air Quality", "cayenne_lpp", [no2])
    with pytest.raises(ProfileError, match="non-empty list"):
        parse("p", "cayenne_lpp", [])
    with pytest.raises(ProfileError, match="unknown keys"):
        load('[p]\ndecoder = "cayenne_lpp"\nchanel = []\n')


def test_every_shipped_profile_maps_onto_the_catalogue_in_its_units() -> None:
    assert {"lpp-air-quality", "lpp-noise", "lpp-parking"} <= set(PROFILES)
    for profile in PROFILES.values():
        assert profile.decoder in DECODERS
        for c in profile.channels:
            assert c.unit == QUANTITIES[c.quantity].unit
            assert not QUANTITIES[c.quantity].generic


def test_model_profile_by_device_repository_model_then_chirpstack_profile_name() -> None:
    assert for_model(None, "LPP-Noise") is PROFILES["lpp-noise"]
    assert for_model(None, "lpp-climate") is None
    assert for_model(None, None) is None
    custom = load(
        '[a]\ndecoder = "cayenne_lpp"\nmodels = ["Acme/Air-1"]\ndevice_profiles = ["acme-*"]\n'
        'channels = [{ channel = 4, type = "analog_input", quantity = "no2", unit = "ppb" }]\n'
    )
    assert for_model("acme/air-1", None, custom) is custom["a"]
    assert for_model("other/thing", "ACME-air", custom) is custom["a"]
    assert for_model("other/thing", "air", custom) is None


def test_the_version_names_the_profile_and_changes_with_it() -> None:
    profile = _air()
    assert profile.version("1.0.0") == f"1.0.0+lpp-air-quality.{profile.fingerprint}"
    assert len(profile.fingerprint) == 8
    changed = parse(profile.name, profile.decoder, [{**profile.channels_json()[0], "scale": 2.0}])
    assert changed.fingerprint != profile.fingerprint
    again = parse(profile.name, profile.decoder, profile.channels_json())
    assert again.fingerprint == profile.fingerprint  # as stored in the database and read back


_SOURCES = st.sampled_from(sorted(QUANTITIES))
_VALUES = st.floats(-1e6, 1e6, allow_nan=False)


@given(
    measurements=st.lists(
        st.tuples(_SOURCES, st.integers(0, 12), _VALUES), max_size=12, unique_by=lambda m: m[:2]
    ),
    scale=st.floats(-100, 100, allow_nan=False).filter(lambda s: s != 0),
    offset=st.floats(-100, 100, allow_nan=False),
)
def test_a_profile_maps_what_it_names_and_passes_the_rest_through(
    measurements: list[tuple[str, int, float]], scale: float, offset: float
) -> None:
    profile = parse(
        "p",
        "cayenne_lpp",
        [
            {"channel": 4, "type": "analog_input", "quantity": "no2", "unit": "ppb",
             "scale": scale, "offset": offset, "sensor": 100},
            {"channel": 1, "type": "presence", "quantity": "parking_occupied", "unit": "",
             "sensor": 101},
        ],
    )  # fmt: skip
    decoded = Decoded(tuple(Measurement(q, v, s) for q, s, v in measurements))
    out = profile.apply(decoded).measurements
    assert len(out) == len(decoded.measurements)  # nothing dropped, nothing invented
    for before, after in zip(decoded.measurements, out, strict=True):
        if (before.quantity, before.sensor) == ("analog_input", 4):
            assert after == Measurement("no2", before.value * scale + offset, 100)
        elif (before.quantity, before.sensor) == ("presence", 1):
            assert after == Measurement("parking_occupied", before.value, 101)
        else:
            assert after == before
