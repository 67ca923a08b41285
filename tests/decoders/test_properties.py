"""Hypothesis: arbitrary frames raise only DecodeError; decode(encode(x)) == x per codec.

The quantised domain of a codec is the image of its decoder: x = decode(frame) for frames drawn
from that codec's valid layout; encoding x and decoding again must give x back exactly.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders.base import Decoded, DecodeError
from decoders.registry import DECODERS
from decoders.sensecap import _crc16_kermit


@pytest.mark.parametrize("key", sorted(DECODERS))
@settings(max_examples=300)
@given(payload=st.binary(max_size=64), f_port=st.integers(0, 255))
def test_arbitrary_bytes_raise_only_decode_error(key: str, payload: bytes, f_port: int) -> None:
    try:
        decoded = DECODERS[key].decode(payload, f_port)
    except DecodeError:
        return
    assert isinstance(decoded, Decoded)


def _b(n: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=n, max_size=n)


def _cat(*parts: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.tuples(*parts).map(b"".join)


def _const(b: bytes) -> st.SearchStrategy[bytes]:
    return st.just(b)


def _decentlab(
    sizes: list[int], fixed: dict[int, list[int]] | None = None
) -> st.SearchStrategy[bytes]:
    """Version 2 frames with a random flag set; `fixed` pins sensor: [index, value] (IR = 0)."""

    @st.composite
    def frame(draw: st.DrawFn) -> bytes:
        flags = draw(st.integers(1, (1 << len(sizes)) - 1))
        out = bytearray(b"\x02\x00\x01" + flags.to_bytes(2))
        for bit, size in enumerate(sizes):
            if flags >> bit & 1:
                values = draw(st.lists(st.integers(0, 0xFFFF), min_size=size, max_size=size))
                if fixed and bit in fixed:
                    values[fixed[bit][0]] = fixed[bit][1]
                out += b"".join(v.to_bytes(2) for v in values)
        return bytes(out)

    return frame()


def _sensecap() -> st.SearchStrategy[bytes]:
    ids = st.sampled_from([4097, 4098, 4099, 4100, 4101, 4102, 4103, 4108])
    packet = st.tuples(st.integers(1, 8), ids, st.integers(-(2**31), 2**31 - 1)).map(
        lambda p: (
            bytes((p[0],)) + p[1].to_bytes(2, "little") + p[2].to_bytes(4, "little", signed=True)
        )
    )

    @st.composite
    def frame(draw: st.DrawFn) -> bytes:
        packets = draw(st.lists(packet, min_size=1, max_size=4, unique_by=lambda p: (p[0], p[1:3])))
        body = b"".join(packets)
        return body + _crc16_kermit(body).to_bytes(2, "little")

    return frame()


def _gps() -> st.SearchStrategy[bytes]:
    angle = st.floats(1, 89, width=32)
    return st.tuples(angle, angle).map(lambda ll: struct.pack("<ff", ll[1] * 2, ll[0]))


# key -> (f_port, frame strategy); frames follow each codec's documented layout.
FRAMES: dict[str, tuple[int, st.SearchStrategy[bytes]]] = {
    "dragino_lht65": (
        2,
        _cat(
            _b(6),
            st.sampled_from([bytes((t,)) for t in (0, 1, 2, 4, 5, 6, 7, 8, 9, 15, 0x81)]),
            _b(4),
        ),
    ),
    "dragino_ldds75": (2, _b(8)),
    "dragino_lse01": (2, _b(11)),
    "milesight_em300_th": (
        85,
        _cat(_const(b"\x01\x75"), _b(1), _const(b"\x03\x67"), _b(2), _const(b"\x04\x68"), _b(1)),
    ),
    "milesight_am307": (
        85,
        _cat(
            _const(b"\x07\x7d"),
            _b(2),
            _const(b"\x08\x7d"),
            _b(2),
            _const(b"\x09\x73"),
            _b(2),
            _const(b"\x05\x6a"),
            _b(2),
        ),
    ),
    "milesight_em310_udl": (85, _cat(_const(b"\x01\x75"), _b(1), _const(b"\x03\x82"), _b(2))),
    "milesight_vs121": (85, _cat(_const(b"\x04\xc9"), _b(1), _const(b"\x00\x00\x00"))),
    "milesight_vs330": (
        85,
        _cat(_const(b"\x01\x75"), _b(1), _const(b"\x02\x82"), _b(2), _const(b"\x03\x8e"), _b(1)),
    ),
    "elsys": (
        5,
        _cat(
            _const(b"\x01"),
            _b(2),
            _const(b"\x02"),
            _b(1),
            _const(b"\x03"),
            _b(3),
            _const(b"\x04"),
            _b(2),
            _const(b"\x05"),
            _b(1),
            _const(b"\x06"),
            _b(2),
            _const(b"\x15"),
            _b(2),
            _const(b"\x09"),
            _b(6),
            _const(b"\x10"),
            _b(4),
            _const(b"\x1b"),
            _b(4),
            _const(b"\x19"),
            _b(2),
            _const(b"\x19"),
            _b(2),
        ),
    ),
    "browan_tbhh100": (
        103,
        st.tuples(st.integers(0, 15), st.integers(0, 127), st.integers(0, 127)).map(
            lambda t: bytes((8, t[0], t[1], t[2], 255, 255, 255, 255))
        ),
    ),
    "browan_tbhv110": (
        103,
        st.tuples(
            st.integers(0, 15), st.integers(0, 127), st.integers(0, 127), _b(4), st.integers(0, 127)
        ).map(lambda t: bytes((1, t[0], t[1], t[2])) + t[3] + b"\x00\x00" + bytes((t[4],))),
    ),
    "browan_tbdw100": (
        100,
        st.tuples(st.integers(0, 1), st.integers(0, 15), st.integers(0, 127)).map(
            lambda t: bytes((t[0], t[1], t[2], 0, 0, 0, 0, 0))
        ),
    ),
    "decentlab_dl_iam": (1, _decentlab([1, 2, 1, 2, 3, 1, 1], {3: [1, 0]})),
    "decentlab_dl_lp8p": (1, _decentlab([2, 2, 8, 1])),
    "decentlab_dl_pm": (1, _decentlab([1, 10, 2, 1])),
    "decentlab_dl_mbx": (1, _decentlab([2, 1])),
    "decentlab_dl_smtp": (1, _decentlab([16, 1])),
    "sensecap": (1, _sensecap()),
    "dingtek_df702": (
        3,
        st.one_of(
            _cat(
                _const(b"\x80\x00\x01\x01\x11"),
                _b(2),
                _const(b"\x00"),
                _b(1),
                _const(bytes(8) + b"\x81"),
            ),
            _cat(
                _const(b"\x80\x00\x01\x01\x19"),
                _b(2),
                _const(b"\x01"),
                _gps(),
                _b(1),
                _const(bytes(8) + b"\x81"),
            ),
        ),
    ),
    "nwave_nps310sm": (1, _b(1)),
    "bosch_tps110": (2, _b(2)),
    "tekzitel_tekzipark": (1, _b(3)),
    "parametric_pcr2": (14, _cat(_const(b"\xbe\x01\x04"), _b(14))),
    "bmeters_iwm_lr3": (1, _cat(_b(11), st.sampled_from([b"\x0d"]), _b(1))),
    "cayenne_lpp": (
        1,
        _cat(
            _b(1),
            _const(b"\x67"),
            _b(2),
            _b(1),
            _const(b"\x68"),
            _b(1),
            _b(1),
            _const(b"\x88"),
            _b(9),
        ),
    ),
}


def test_every_codec_has_a_round_trip_domain() -> None:
    assert set(FRAMES) == set(DECODERS)


@pytest.mark.parametrize("key", sorted(FRAMES))
@settings(max_examples=200)
@given(data=st.data())
def test_decode_encode_round_trip(key: str, data: st.DataObject) -> None:
    codec = DECODERS[key]
    f_port, frames = FRAMES[key]
    frame = data.draw(frames)
    try:
        x = codec.decode(frame, f_port).measurements
    except DecodeError:
        return  # outside the layout (e.g. a GPS position off Earth): not in the domain
    again = codec.decode(codec.encode(x, f_port), f_port).measurements
    # The order of records is the encoder's choice; the set of values must come back exactly.
    assert sorted(again, key=repr) == sorted(x, key=repr)
