"""Sentinels and out-of-range raw codes never become measurements, for every model documenting them.

Each entry draws frames that carry a documented "no reading" code (or a code outside the
documented range) at one place, and names the (quantity, sensor) that must then be absent. The
list of codes is the README's "Codes that are not readings".
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders.base import DecodeError
from decoders.registry import DECODERS

Frame = tuple[bytes, set[tuple[str, int]]]  # frame, measurements it must not hold


def _b(n: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=n, max_size=n)


@st.composite
def _lht65(draw: st.DrawFn) -> Frame:
    head = draw(_b(6))
    flags = draw(st.sampled_from([0x01, 0x02, 0x81, 0x82, 0xB1]))
    value = b"\x7f\xff" if flags & 0x80 == 0 else draw(_b(2))
    return head + bytes((flags,)) + value + draw(_b(2)), {("air_temperature", 1)}


@st.composite
def _ldds75(draw: st.DrawFn) -> Frame:
    distance = draw(st.integers(0, 279))
    tenths = draw(st.one_of(st.integers(-32768, -551), st.integers(1251, 32767)))
    frame = draw(_b(2)) + distance.to_bytes(2) + draw(_b(1)) + tenths.to_bytes(2, signed=True)
    return frame + draw(_b(1)), {("distance", 0), ("air_temperature", 1)}


@st.composite
def _lse01(draw: st.DrawFn) -> Frame:
    tenths = draw(st.one_of(st.integers(-32768, -551), st.integers(1251, 32767)))
    moisture = draw(st.integers(10001, 0xFFFF))
    frame = draw(_b(2)) + tenths.to_bytes(2, signed=True) + moisture.to_bytes(2) + draw(_b(5))
    return frame, {("air_temperature", 1), ("soil_moisture", 0)}


@st.composite
def _smtp(draw: st.DrawFn) -> Frame:
    values = draw(st.lists(st.integers(0, 0xFFFF), min_size=16, max_size=16))
    invalid = draw(st.sets(st.integers(0, 15), min_size=1))
    for n in invalid:
        values[n] = 0
    frame = b"\x02\x00\x01\x00\x01" + b"".join(v.to_bytes(2) for v in values)
    quantities = ("soil_moisture_index", "soil_temperature")
    return frame, {(quantities[n % 2], n // 2) for n in invalid}


def _milesight(channel: bytes, quantity: str) -> st.SearchStrategy[Frame]:
    return st.integers(2, 255).map(lambda code: (channel + bytes((code,)), {(quantity, 0)}))


@st.composite
def _elsys_gps(draw: st.DrawFn) -> Frame:
    lat = draw(st.one_of(st.integers(-(2**23), -900001), st.integers(900001, 2**23 - 1)))
    lon = draw(st.integers(-(2**23), 2**23 - 1))
    frame = (
        b"\x09" + lat.to_bytes(3, "little", signed=True) + lon.to_bytes(3, "little", signed=True)
    )
    return frame, {("latitude", 0), ("longitude", 0)}


SENTINELS: dict[str, tuple[int, Callable[[], st.SearchStrategy[Frame]]]] = {
    "dragino_lht65": (2, _lht65),
    "dragino_ldds75": (2, _ldds75),
    "dragino_lse01": (2, _lse01),
    "decentlab_dl_smtp": (1, _smtp),
    "milesight_am307": (85, lambda: _milesight(b"\x05\x00", "presence")),
    "milesight_vs330": (85, lambda: _milesight(b"\x03\x8e", "occupancy")),
    "elsys": (5, _elsys_gps),
}


@pytest.mark.parametrize("key", sorted(SENTINELS))
@settings(max_examples=200)
@given(data=st.data())
def test_sentinel_codes_never_become_measurements(key: str, data: st.DataObject) -> None:
    f_port, frames = SENTINELS[key]
    frame, absent = data.draw(frames())
    try:
        decoded = DECODERS[key].decode(frame, f_port)
    except DecodeError:
        return
    assert absent.isdisjoint((m.quantity, m.sensor) for m in decoded.measurements)
