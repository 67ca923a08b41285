"""CayenneLPP: one vector per type (formats.md §3.1), the error cases, and properties."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from decoders import QUANTITIES, DecodeError, Measurement, cayenne_lpp
from decoders.cayenne_lpp import decode, encode

G = 9.80665

# (description, frame hex, expected [(quantity, value, channel)])
VECTORS = [
    ("digital input", "010064", [("digital_input", 100, 1)]),
    ("digital output", "020101", [("digital_output", 1, 2)]),
    ("analog input negative", "0302ff38", [("analog_input", -2.0, 3)]),
    ("analog output", "0403012c", [("analog_output", 3.0, 4)]),
    ("generic sensor", "05640001e240", [("generic", 123456, 5)]),
    ("luminosity", "066501f4", [("illuminance", 500, 6)]),
    ("presence", "076601", [("presence", 1, 7)]),
    ("temperature (TTS docs)", "03670110", [("air_temperature", 27.2, 3)]),
    ("temperature negative", "0167ffd7", [("air_temperature", -4.1, 1)]),
    ("relative humidity", "056850", [("relative_humidity", 40.0, 5)]),
    (
        "accelerometer",
        "067104d2fb2e0000",
        [
            ("acceleration_x", 1.234 * G, 6),
            ("acceleration_y", -1.234 * G, 6),
            ("acceleration_z", 0.0, 6),
        ],
    ),
    ("barometer", "0773277f", [("barometric_pressure", 1011.1, 7)]),
    ("voltage", "0874015e", [("voltage", 3.5, 8)]),
    ("current", "097503e8", [("current", 1.0, 9)]),
    ("frequency", "0a760000c350", [("frequency", 50000, 10)]),
    ("percentage", "0b7864", [("percentage", 100, 11)]),
    ("altitude negative", "0c79ff9c", [("altitude", -100, 12)]),
    ("concentration", "0d7d0190", [("concentration", 400, 13)]),
    ("power", "0e8004b0", [("power", 1200, 14)]),
    ("distance", "0f8200003039", [("distance", 12.345, 15)]),
    ("energy", "1083000186a0", [("energy", 100.0, 16)]),
    ("direction", "1184010e", [("direction", 270, 17)]),
    (
        "gyrometer",
        "13860064ff9c2710",
        [
            ("angular_velocity_x", 1.0, 19),
            ("angular_velocity_y", -1.0, 19),
            ("angular_velocity_z", 100.0, 19),
        ],
    ),
    (
        "colour",
        "1487ff8000",
        [("colour_red", 255, 20), ("colour_green", 128, 20), ("colour_blue", 0, 20)],
    ),
    (
        "gps (TTS docs example)",
        "018806765ff2960a0003e8",
        [("latitude", 42.3519, 1), ("longitude", -87.9094, 1), ("altitude", 10.0, 1)],
    ),
    ("switch", "158e01", [("switch", 1, 21)]),
    (
        "several records (formats.md §1.5)",
        "016700e102684f037327e5",
        [
            ("air_temperature", 22.5, 1),
            ("relative_humidity", 39.5, 2),
            ("barometric_pressure", 1021.3, 3),
        ],
    ),
]


@pytest.mark.parametrize(
    ("frame", "expected"), [(v[1], v[2]) for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_vector(frame: str, expected: list[tuple[str, float, int]]) -> None:
    decoded = decode(bytes.fromhex(frame), 1)
    got = [(m.quantity, m.value, m.sensor) for m in decoded.measurements]
    assert [(q, s) for q, _, s in got] == [(q, s) for q, _, s in expected]
    assert [v for _, v, _ in got] == pytest.approx([v for _, v, _ in expected], rel=1e-12)
    assert all(m.time is None for m in decoded.measurements)


def test_exact_decimal_values() -> None:
    """Scaled values come out as the decimals the device meant, not float artefacts."""
    decoded = decode(bytes.fromhex("016700e102684f037327e5"), 2)
    assert [m.value for m in decoded.measurements] == [22.5, 39.5, 1021.3]


def test_unix_time_timestamps_the_frame() -> None:
    decoded = decode(bytes.fromhex("12856 7d3e686 03670110".replace(" ", "")), 1)
    assert decoded.measurements == (
        Measurement(
            "air_temperature", 27.2, sensor=3, time=datetime.fromtimestamp(1741940358, UTC)
        ),
    )


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("", "empty CayenneLPP frame"),
        ("03", "truncated CayenneLPP record header at byte 0"),
        ("036701", "truncated CayenneLPP type 103 on channel 3: needs 2 bytes, 1 left"),
        ("01ff00", "unknown CayenneLPP type 255 on channel 1"),
        ("018567d3", "truncated unix time on channel 1 at byte 2"),
        ("03670110 0188 0676", "truncated CayenneLPP type 136 on channel 1: needs 9 bytes, 2 left"),
    ],
    ids=["empty", "lone byte", "short value", "unknown type", "short time", "short gps"],
)
def test_errors(frame: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(bytes.fromhex(frame.replace(" ", "")), 1)
    assert caught.value.reason == reason


def test_every_quantity_is_in_the_catalogue() -> None:
    for _, frame, _ in VECTORS:
        for m in decode(bytes.fromhex(frame), 1).measurements:
            assert m.quantity in QUANTITIES


_channel = st.integers(0, 255)
_single = st.sampled_from(
    [
        ("digital_input", 0, 255, 1),
        ("analog_input", -32768, 32767, 0.01),
        ("illuminance", 0, 65535, 1),
        ("air_temperature", -32768, 32767, 0.1),
        ("relative_humidity", 0, 255, 0.5),
        ("barometric_pressure", 0, 65535, 0.1),
        ("voltage", 0, 65535, 0.01),
        ("current", 0, 65535, 0.001),
        ("distance", 0, 2**32 - 1, 0.001),
        ("generic", 0, 2**32 - 1, 1),
        ("altitude", -32768, 32767, 1),
    ]
)


@st.composite
def _frames(draw: st.DrawFn) -> list[Measurement]:
    """Measurements as a device would produce them: quantised, one quantity per channel."""
    out = []
    for channel in draw(st.lists(_channel, min_size=1, max_size=8, unique=True)):
        quantity, low, high, scale = draw(_single)
        raw = draw(st.integers(low, high))
        value = float(round(raw * scale, 3)) if scale != 1 else float(raw)
        out.append(Measurement(quantity, value, sensor=channel))
    return out


@given(_frames())
def test_decode_inverts_encode(measurements: list[Measurement]) -> None:
    decoded = decode(encode(measurements, 1), 1)
    assert list(decoded.measurements) == measurements


@given(st.binary(max_size=64), st.integers(0, 255))
def test_arbitrary_bytes_raise_only_decode_error(payload: bytes, f_port: int) -> None:
    try:
        decoded = decode(payload, f_port)
    except DecodeError:
        return
    assert all(m.quantity in QUANTITIES for m in decoded.measurements)


@given(st.integers(-(2**15), 2**15 - 1))
def test_scaled_values_are_the_rounded_decimals(raw: int) -> None:
    """Analog input is 0.01 signed: the value is the double nearest raw/100, as rounding gives."""
    decoded = decode(bytes((1, 2)) + raw.to_bytes(2, signed=True), 1)
    assert decoded.measurements[0].value == round(raw * 0.01, 2)


@given(
    st.sampled_from([(0.1, 1), (0.01, 2), (0.001, 3), (0.0001, 4)]), st.integers(-(2**31), 2**32)
)
def test_dividing_equals_rounding(scale_digits: tuple[float, int], raw: int) -> None:
    """Why the decoder may divide by 10^n: the same double as rounding raw * 10^-n to n places."""
    scale, digits = scale_digits
    assert raw / 10**digits == round(raw * scale, digits)


def test_records_seen_before_decode_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeated records share their measurements; channel and bytes tell them apart, and the
    memory of them stays bounded."""
    monkeypatch.setattr(cayenne_lpp, "_RECORDS", {})
    monkeypatch.setattr(cayenne_lpp, "_RECORDS_KEPT", 2)
    first = decode(bytes.fromhex("03670110"), 2).measurements
    assert decode(bytes.fromhex("03670110"), 2).measurements == first
    assert decode(bytes.fromhex("04670110"), 2).measurements == (
        Measurement("air_temperature", 27.2, 4),
    )
    assert decode(bytes.fromhex("0367ffd7"), 2).measurements == (
        Measurement("air_temperature", -4.1, 3),
    )
    assert len(cayenne_lpp._RECORDS) <= 2
    # With a frame timestamp the shared values are copied with the time, not changed.
    timed = decode(bytes.fromhex("03670110" + "0185" + "67d3e9c0"), 2).measurements
    at = datetime(2025, 3, 14, 8, 33, 4, tzinfo=UTC)
    assert timed == (Measurement("air_temperature", 27.2, 3, at),)
    assert decode(bytes.fromhex("03670110"), 2).measurements == first
