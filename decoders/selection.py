"""Which decoder a device gets (DESIGN §4): first match wins.

1. the device's registered decoder key;
2. TTS `version_ids` (brand_id/model_id) through `models.toml` [models];
3. ChirpStack `deviceProfileName` through `models.toml` [profiles] (case-insensitive globs);
4. the network server's own decoded object (`decoded_payload` / `object`) mapped by a field map:
   the model's field map when step 2 or 3 named a model without a native decoder, else the
   [defaults] field maps in order (the first that yields a measurement);
5. the configured default decoder, when there is one;
6. none: the raw uplink is kept and the device flagged "no decoder".

A pure function of its inputs and `models.toml`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from decoders import fieldmap
from decoders.base import Decoded, DecodeError
from decoders.registry import DECODERS, Codec
from decoders.rules import RULES, Rules

FIELDMAP_VERSION = "2"  # bump when a field map in models.toml changes meaning


@dataclass(frozen=True, slots=True)
class Selection:
    """What to decode a frame with: a native `codec`, or a `fieldmap` name for the NS object.

    `source` says which rule matched ("registered", "version_ids", "device_profile",
    "decoded_object", "default", "none"); `decoder_key`/`decoder_version` are what measurements
    record.
    """

    source: str
    codec: Codec | None = None
    fieldmap: str | None = None

    @property
    def decoder_key(self) -> str | None:
        if self.codec is not None:
            return self.codec.key
        return f"fieldmap:{self.fieldmap}" if self.fieldmap else None

    @property
    def decoder_version(self) -> str | None:
        if self.codec is not None:
            return self.codec.version
        return FIELDMAP_VERSION if self.fieldmap else None


def _model_entry(rules: Rules, model: str) -> dict[str, str] | None:
    return rules.models.get(model.lower())


def select(
    registered: str | None = None,
    brand_id: str | None = None,
    model_id: str | None = None,
    device_profile_name: str | None = None,
    decoded_object: Mapping[str, Any] | None = None,
    rules: Rules = RULES,
    codecs: Mapping[str, Codec] = DECODERS,
    default: Codec | None = None,
) -> Selection:
    """Pick how to decode one uplink; see the module docstring for the order."""
    if registered and registered in codecs:
        return Selection("registered", codec=codecs[registered])
    model_fieldmap: str | None = None
    if brand_id and model_id:
        entry = _model_entry(rules, f"{brand_id}/{model_id}")
        if entry is not None:
            if entry.get("decoder") in codecs:
                return Selection("version_ids", codec=codecs[entry["decoder"]])
            model_fieldmap = entry.get("fieldmap")
    if device_profile_name:
        name = device_profile_name.lower()
        for pattern, target in rules.profiles.items():
            if not fnmatchcase(name, pattern.lower()):
                continue
            if target in codecs:
                return Selection("device_profile", codec=codecs[target])
            entry = _model_entry(rules, target)
            if entry is not None:
                if entry.get("decoder") in codecs:
                    return Selection("device_profile", codec=codecs[entry["decoder"]])
                model_fieldmap = model_fieldmap or entry.get("fieldmap")
            break
    if decoded_object:
        if model_fieldmap in rules.fieldmaps:
            return Selection("decoded_object", fieldmap=model_fieldmap)
        for name in rules.default_fieldmaps:
            if fieldmap.apply(decoded_object, rules.fieldmaps[name]).measurements:
                if rules.native.get(name) in codecs:
                    return Selection("decoded_object", codec=codecs[rules.native[name]])
                return Selection("decoded_object", fieldmap=name)
    if default is not None:
        return Selection("default", codec=default)
    return Selection("none")


def decode_object(name: str, decoded_object: Mapping[str, Any], rules: Rules = RULES) -> Decoded:
    """Apply the named field map; an object that yields nothing raises `DecodeError`."""
    if name not in rules.fieldmaps:
        raise DecodeError(f"no field map named {name!r}")
    decoded = fieldmap.apply(decoded_object, rules.fieldmaps[name])
    if not decoded.measurements and not decoded.state:
        raise DecodeError(f"field map {name!r} found nothing in the decoded object")
    return decoded
