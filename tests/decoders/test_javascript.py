"""The JavaScript codec runner, with codecs written here (not vendor code)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from decoders.base import DecodeError, Measurement
from decoders.javascript import JsCodec

CLIMATE = """
function decodeUplink(input) {
  var b = input.bytes;
  var t = (b[0] << 8) | b[1];
  if (t & 0x8000) t -= 0x10000;
  return { data: { temp: t / 10, rh: b[2] / 2, port: input.fPort, missing: undefined } };
}
"""


def test_decodes_and_maps_onto_the_catalogue() -> None:
    codec = JsCodec(CLIMATE)
    decoded = codec.decode(
        bytes.fromhex("00e150"), 2, {"temp": "air_temperature", "rh": "relative_humidity"}
    )
    assert decoded.measurements == (
        Measurement("air_temperature", 22.5),
        Measurement("relative_humidity", 40.0),
    )


def test_undefined_becomes_null() -> None:
    assert JsCodec(CLIMATE).run(bytes.fromhex("ff9c10"), 7).data == {
        "temp": -10.0,
        "rh": 8.0,
        "port": 7,
        "missing": None,
    }


def test_non_strict_script_works() -> None:
    # Implicit globals and `with` are errors in strict mode only.
    source = """
    function decodeUplink(input) {
      counter = input.bytes.length;
      with (input) { var p = fPort; }
      return { data: { n: counter, p: p } };
    }
    """
    assert JsCodec(source).run(b"\x01\x02", 9).data == {"n": 2, "p": 9}


def test_infinite_loop_times_out_within_the_limit() -> None:
    codec = JsCodec("function decodeUplink(input) { while (true) {} }")
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="exceeded 100 ms"):
        codec.run(b"\x00", 1)
    assert time.perf_counter() - started < 0.5
    # The runner survives: the next call is interrupted the same way, not a hang or crash.
    with pytest.raises(DecodeError):
        codec.run(b"\x00", 1)


def test_throw_becomes_decode_error_with_the_reason() -> None:
    codec = JsCodec("function decodeUplink(input) { throw new Error('bad frame header'); }")
    with pytest.raises(DecodeError, match="bad frame header"):
        codec.run(b"\x00", 1)


def test_errors_array_becomes_decode_error() -> None:
    source = "function decodeUplink(input) { return { errors: ['unknown FPort'] }; }"
    with pytest.raises(DecodeError, match="unknown FPort"):
        JsCodec(source).run(b"\x00", 42)


def test_warnings_are_kept() -> None:
    source = """
    function decodeUplink(input) {
      return { data: { level: input.bytes[0] }, warnings: ['battery low'] };
    }
    """
    decoded = JsCodec(source).decode(b"\x07", 1, {"level": "fill_level"})
    assert decoded.warnings == ("battery low",)
    assert decoded.measurements == (Measurement("fill_level", 7.0),)


def test_memory_cap() -> None:
    source = """
    function decodeUplink(input) {
      var a = []; while (true) { a.push(new Array(100000).join('x')); }
    }
    """
    with pytest.raises(DecodeError):
        JsCodec(source, memory_limit_bytes=8 * 1024 * 1024).run(b"\x00", 1)


def test_recv_time_is_a_date() -> None:
    source = (
        "function decodeUplink(input) { return { data: { y: input.recvTime.getUTCFullYear() } }; }"
    )
    when = datetime(2025, 3, 14, 8, 15, tzinfo=UTC)
    assert JsCodec(source).run(b"", 1, recv_time=when).data == {"y": 2025}


def test_script_without_decode_uplink_is_rejected() -> None:
    with pytest.raises(DecodeError, match="no decodeUplink"):
        JsCodec("var x = 1;")
