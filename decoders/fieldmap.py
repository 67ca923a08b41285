"""Declarative field maps: a network server's (or JS codec's) decoded object -> catalogue values.

A field map is a dict from a path in the decoded object to a target (see `models.toml`):

- path: dot-separated keys; a key may hold one `*` (matches any key, the matched part becomes
  the sensor number when it is digits), `[n]` indexes a list, `[k=v]` picks list items whose
  field `k` equals `v` (e.g. `messages[measurementId=4097].measurementValue`).
- target: a quantity key as a string, or a table with `quantity` or `state`, and optionally
  `sensor` (int), `scale` (vendor value * scale = catalogue value), `absent` (vendor values that
  mean "no reading"), `values` (string/boolean -> number), `parse = "number"` (leading number of
  a string such as "2000 mm"), `otherwise_state` (state key for a value that is no number),
  `scale_from = { path, values }` (the scale depends on another field, e.g. a meter's VIF: a
  value of that field not listed gives no measurement), or `ignore` (a reason: the field is
  deliberately not kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from decoders.base import Decoded, Measurement
from decoders.catalogue import QUANTITIES

_FILTER = re.compile(r"^(?P<key>[^\[]*)\[(?P<sel>[^\]]+)\]$")
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class Extracted:
    """One value found by a field map: where it goes and what the vendor said."""

    path: str
    quantity: str | None  # None: it goes to `state`
    state_key: str | None
    sensor: int
    vendor_value: Any
    value: Any  # converted: float for quantities, the vendor value (or its mapping) for state
    scale: float


def _walk(node: Any, parts: list[str], sensor: int | None) -> Iterator[tuple[Any, int | None]]:
    if not parts:
        yield node, sensor
        return
    head, rest = parts[0], parts[1:]
    m = _FILTER.match(head)
    if m:
        key, sel = m.group("key"), m.group("sel")
        if key:
            if not isinstance(node, Mapping) or key not in node:
                return
            node = node[key]
        if not isinstance(node, list):
            return
        if sel.isdigit():
            if int(sel) < len(node):
                yield from _walk(node[int(sel)], rest, sensor)
            return
        field, _, want = sel.partition("=")
        for item in node:
            if isinstance(item, Mapping) and str(item.get(field)) == want:
                yield from _walk(item, rest, sensor)
        return
    if not isinstance(node, Mapping):
        return
    if "*" in head:
        pattern = re.compile("^" + re.escape(head).replace(r"\*", "(.*)") + "$")
        for key in node:
            km = pattern.match(str(key))
            if km:
                captured = km.group(1)
                yield from _walk(node[key], rest, int(captured) if captured.isdigit() else sensor)
        return
    if head in node:
        yield from _walk(node[head], rest, sensor)


def _number(value: Any, spec: Mapping[str, Any]) -> float | None:
    values = spec.get("values")
    if values is not None:
        key = str(value).lower() if isinstance(value, bool) else str(value)
        if key not in values:
            return None
        return float(values[key])
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and spec.get("parse") == "number":
        m = _NUMBER.match(value)
        return float(m.group(1)) if m else None
    return None


def extract(obj: Any, fieldmap: Mapping[str, Any]) -> list[Extracted]:
    """Every value the field map finds in `obj`, in field-map order."""
    found: list[Extracted] = []
    for path, target in fieldmap.items():
        spec: Mapping[str, Any] = {"quantity": target} if isinstance(target, str) else target
        if "ignore" in spec:
            continue
        for raw, captured in _walk(obj, path.split("."), None):
            if raw is None or raw in spec.get("absent", ()):
                continue
            sensor = int(spec.get("sensor", captured if captured is not None else 0))
            scale = float(spec.get("scale", 1))
            if "scale_from" in spec:
                unit = spec["scale_from"]
                key = next((str(u) for u, _ in _walk(obj, unit["path"].split("."), None)), None)
                if key not in unit["values"]:
                    continue
                scale *= float(unit["values"][key])
            if "state" in spec:
                values = spec.get("values")
                value = values.get(str(raw), raw) if values else raw
                if spec.get("parse") == "number":
                    value = _number(raw, spec)
                found.append(Extracted(path, None, spec["state"], sensor, raw, value, scale))
                continue
            number = _number(raw, spec)
            if number is None:
                if "otherwise_state" in spec:  # e.g. "No Sensor" where a number would be
                    key = spec["otherwise_state"]
                    found.append(Extracted(path, None, key, sensor, raw, raw, scale))
                continue
            found.append(
                Extracted(path, spec["quantity"], None, sensor, raw, number * scale, scale)
            )
    return found


def apply(obj: Any, fieldmap: Mapping[str, Any]) -> Decoded:
    """Map a decoded object onto catalogue measurements (unknown quantities become warnings)."""
    ms: list[Measurement] = []
    state: dict[str, Any] = {}
    warnings: list[str] = []
    for e in extract(obj, fieldmap):
        if e.quantity is None:
            assert e.state_key is not None
            state[e.state_key] = e.value
        elif e.quantity not in QUANTITIES:
            warnings.append(f"field map target {e.quantity!r} ({e.path}) is not in the catalogue")
        else:
            ms.append(Measurement(e.quantity, e.value, sensor=e.sensor))
    return Decoded(tuple(ms), state, tuple(warnings))


def covered(obj: Mapping[str, Any], fieldmap: Mapping[str, Any]) -> set[str]:
    """Top-level keys of `obj` that some field-map path (or ignore entry) accounts for."""
    heads = set()
    for path in fieldmap:
        head = path.split(".")[0]
        m = _FILTER.match(head)
        heads.add(m.group("key") if m else head)
    out = set()
    for key in obj:
        for head in heads:
            if "*" in head:
                if re.match("^" + re.escape(head).replace(r"\*", ".*") + "$", key):
                    out.add(key)
            elif head == key:
                out.add(key)
    return out
