"""Run TTS / Device Repository style JavaScript codecs (`decodeUplink(input)`) in QuickJS.

Engine choice, measured on this machine for a small codec (bench/decoding.py): `quickjs` (PyPI,
QuickJS) ~10 us per call; `mini-racer` (V8) ~210 us per call, because each call crosses into V8.
QuickJS is also what ChirpStack embeds, and like TTS and ChirpStack runs scripts non-strict.

Limits mirror the network servers: 100 ms per call (ChirpStack `max_execution_time`, TTS
deadline) and a memory cap per codec. A script that throws, runs out of time or memory, or
returns a non-empty `errors` array raises `DecodeError` with the reason. `undefined` becomes null.
The codec takes script *text*: reading `.js` files is the caller's I/O.
A `JsCodec` holds one QuickJS context and is not thread-safe; use one per thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import quickjs

from decoders import fieldmap
from decoders.base import Decoded, DecodeError, Measurement
from decoders.registry import Codec

TIME_LIMIT_S = 0.1  # per call, as TTS and ChirpStack
MEMORY_LIMIT_BYTES = 32 * 1024 * 1024
STACK_LIMIT_BYTES = 256 * 1024

# Calls decodeUplink and serialises its result, turning `undefined` property values into null.
_CALL = (
    "JSON.stringify(decodeUplink(__meetnet_input()), "
    "function (k, v) { return v === undefined ? null : v; })"
)


@dataclass(frozen=True, slots=True)
class JsResult:
    """What a codec returned: its `data` object and warnings."""

    data: dict[str, Any]
    warnings: tuple[str, ...]


class JsCodec:
    """One JavaScript codec, compiled once, called per frame under time and memory limits."""

    def __init__(
        self,
        source: str,
        version: str = "js",
        time_limit_s: float = TIME_LIMIT_S,
        memory_limit_bytes: int = MEMORY_LIMIT_BYTES,
    ) -> None:
        self.version = version
        self._time_limit_ms = round(time_limit_s * 1000)
        self._context = quickjs.Context()
        self._context.set_memory_limit(memory_limit_bytes)
        self._context.set_max_stack_size(STACK_LIMIT_BYTES)
        self._context.set_time_limit(time_limit_s)
        try:
            self._context.eval(source)
            kind = self._context.eval("typeof decodeUplink")
        except quickjs.JSException as exc:
            raise DecodeError(f"JS codec does not load: {exc}") from None
        if kind != "function":
            raise DecodeError("JS codec defines no decodeUplink(input) function")

    def run(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> JsResult:
        """Call `decodeUplink` on one frame; errors, throws and time-outs raise `DecodeError`."""
        recv = json.dumps(recv_time.isoformat()) if recv_time else "undefined"
        setup = (
            "function __meetnet_input() { return {bytes: "
            + json.dumps(list(payload))
            + ", fPort: "
            + str(int(f_port))
            + ", recvTime: "
            + (f"new Date({recv})" if recv_time else recv)
            + ", variables: {}}; }"
        )
        try:
            self._context.eval(setup)
            text = self._context.eval(_CALL)
        except quickjs.JSException as exc:
            reason = str(exc)
            if "interrupted" in reason:
                reason = f"exceeded {self._time_limit_ms} ms ({reason})"
            raise DecodeError(f"JS codec failed: {reason}") from None
        except MemoryError:
            raise DecodeError("JS codec ran out of memory") from None
        if not isinstance(text, str):
            raise DecodeError("JS decodeUplink returned nothing")
        result = json.loads(text)
        if not isinstance(result, dict):
            raise DecodeError("JS decodeUplink did not return an object")
        errors = result.get("errors") or []
        if errors:
            raise DecodeError("JS codec errors: " + "; ".join(str(e) for e in errors))
        data = result.get("data")
        if not isinstance(data, dict):
            raise DecodeError("JS decodeUplink returned no data object")
        return JsResult(data, tuple(str(w) for w in result.get("warnings") or ()))

    def decode(
        self,
        payload: bytes,
        f_port: int,
        fields: Mapping[str, Any],
        recv_time: datetime | None = None,
    ) -> Decoded:
        """Run the codec and map its data onto the catalogue with the field map `fields`."""
        result = self.run(payload, f_port, recv_time)
        mapped = fieldmap.apply(result.data, fields)
        return Decoded(mapped.measurements, mapped.state, result.warnings + mapped.warnings)


def js_codec(key: str, source: str, fields: Mapping[str, Any], version: str) -> Codec:
    """A configured JavaScript codec as a `Codec` that selection can pick like a native one.

    Its output is mapped onto the catalogue with `fields`. It has no encoder: the simulator only
    fields devices with native codecs.
    """
    engine = JsCodec(source, version=version)

    def decode(payload: bytes, f_port: int) -> Decoded:
        return engine.decode(payload, f_port, fields)

    def encode(measurements: Iterable[Measurement], f_port: int) -> bytes:
        raise ValueError(f"the JavaScript codec {key!r} has no encoder")

    return Codec(key, version, decode, encode, f"JavaScript codec {key}")
