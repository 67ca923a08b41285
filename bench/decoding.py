"""Microseconds per decode for every native codec and for the JavaScript path (not a test).

Run: `.venv/bin/python bench/decoding.py`. Frames are the vendor examples in
tests/decoders/vectors (the first decodable one per decoder key) plus a CayenneLPP frame.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].endswith("bench"):  # run as a script: don't import ourselves
    sys.path.pop(0)

import json
import platform
import timeit
from importlib.metadata import version
from pathlib import Path

from decoders import cayenne_lpp
from decoders.base import DecodeError
from decoders.javascript import JsCodec
from decoders.registry import DECODERS, decoder_for

VECTORS = Path(__file__).resolve().parent.parent / "tests" / "decoders" / "vectors"

JS_CODEC = """
function decodeUplink(input) {
  var b = input.bytes;
  var t = (b[0] << 8) | b[1];
  if (t & 0x8000) t -= 0x10000;
  return { data: { temperature: t / 10, humidity: b[2] / 2, battery: b[3] / 100 } };
}
"""


def _frames() -> dict[str, tuple[bytes, int]]:
    frames: dict[str, tuple[bytes, int]] = {"cayenne_lpp": (bytes.fromhex("03670110056700ff"), 1)}
    for path in sorted(VECTORS.glob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))
        codec = decoder_for(None, model["brand_id"], model["model_id"])
        assert codec is not None
        for example in model["examples"]:
            if codec.key in frames or "errors" in example:
                continue
            payload = bytes.fromhex(example["bytes_hex"])
            try:
                codec.decode(payload, example["f_port"])
            except DecodeError:
                continue
            frames[codec.key] = (payload, example["f_port"])
    return frames


def _us(call: object, number: int) -> float:
    best = min(timeit.repeat(call, number=number, repeat=5))  # type: ignore[arg-type]
    return best / number * 1e6


def main() -> None:
    print(f"machine: {platform.machine()} {platform.processor() or ''} {platform.platform()}")
    print(f"python {sys.version.split()[0]}, quickjs {version('quickjs')}")
    print(f"{'decoder':<22} {'version':<8} {'bytes':>5} {'us/decode':>10}")
    for key, (payload, f_port) in sorted(_frames().items()):
        codec = DECODERS[key]
        us = _us(lambda c=codec, p=payload, f=f_port: c.decode(p, f), 20000)
        print(f"{key:<22} {codec.version:<8} {len(payload):>5} {us:>10.2f}")
    # CayenneLPP shares the measurements of records it has seen (above); a frame of records
    # never seen before, its memory emptied before each decode:
    payload, f_port = _frames()["cayenne_lpp"]
    forget = cayenne_lpp._RECORDS.clear
    us = _us(lambda: (forget(), cayenne_lpp.decode(payload, f_port)), 20000)
    us -= _us(forget, 20000)
    print(f"{'cayenne_lpp, new':<22} {cayenne_lpp.VERSION:<8} {len(payload):>5} {us:>10.2f}")
    js = JsCodec(JS_CODEC)
    fields = {"temperature": "air_temperature", "humidity": "relative_humidity"}
    frame = bytes.fromhex("00e1505a")
    print(f"{'js (quickjs) run':<22} {'-':<8} {4:>5} {_us(lambda: js.run(frame, 2), 2000):>10.2f}")
    print(
        f"{'js run + field map':<22} {'-':<8} {4:>5} "
        f"{_us(lambda: js.decode(frame, 2, fields), 2000):>10.2f}"
    )
    try:
        from py_mini_racer import MiniRacer
    except ImportError:
        return
    racer = MiniRacer()
    racer.eval(JS_CODEC)
    call = "JSON.stringify(decodeUplink({bytes: [0, 225, 80, 90], fPort: 2}))"
    us = _us(lambda: json.loads(racer.eval(call)), 500)
    print(f"{'js (mini-racer) run':<22} {'-':<8} {4:>5} {us:>10.2f}")


if __name__ == "__main__":
    main()
