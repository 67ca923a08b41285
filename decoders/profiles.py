"""Device profiles: what a device's generic channels mean, as catalogue quantities.

CayenneLPP and similar formats say only "analog input 4.12 on channel 4"; whether that is NO2 in
ppb or a sound level in dB depends on how the device was built. A profile maps such a
(channel, reported type) onto a catalogue quantity, with the unit the catalogue gives it and the
scale and offset that convert the reported number into that unit. A profile whose unit is not the
catalogue's is refused when it is read, so a quantity's values are always in its one unit and no
series or zone can aggregate two units.

Profiles belong to a device model (the shipped ones in `profiles.toml`, chosen like decoders by
the TTS Device Repository model or the ChirpStack device profile name) and can be overridden per
device. Values a profile does not map pass through unchanged: a profile never drops a value.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib.resources import files
from typing import Any

import orjson

from decoders.base import Decoded, DecodeError, Measurement
from decoders.catalogue import QUANTITIES

# A profile name is also written into the decoder version of what it decoded (semver build
# metadata: letters, digits and hyphens), so it stays within those.
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_MAX_SENSOR = 32767  # measurements.sensor is a smallint
_CHANNEL_KEYS = frozenset({"channel", "type", "quantity", "unit", "scale", "offset", "sensor"})


class ProfileError(DecodeError):
    """A profile definition that cannot be used; `reason` says what to fix."""


@dataclass(frozen=True, slots=True)
class ChannelMap:
    """`type` on `channel`, as the decoder reports it, is `quantity` in `unit` on `sensor`:
    value = reported * scale + offset."""

    channel: int
    type: str
    quantity: str
    unit: str
    scale: float = 1.0
    offset: float = 0.0
    sensor: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "type": self.type,
            "quantity": self.quantity,
            "unit": self.unit,
            "scale": self.scale,
            "offset": self.offset,
            "sensor": self.sensor,
        }


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    decoder: str  # the decoder key whose output this profile maps
    channels: tuple[ChannelMap, ...]
    description: str = ""
    models: tuple[str, ...] = ()  # TTS Device Repository "brand/model", lower case
    device_profiles: tuple[str, ...] = ()  # ChirpStack device profile names, globs

    def channels_json(self) -> list[dict[str, Any]]:
        return [c.as_dict() for c in self.channels]

    @property
    def fingerprint(self) -> str:
        """Eight hex digits that change whenever what the profile does changes."""
        body = orjson.dumps([self.decoder, self.channels_json()], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(body).hexdigest()[:8]

    def version(self, decoder_version: str) -> str:
        """The decoder version recorded with what this profile mapped, e.g.
        `1.0.0+lpp-air-quality.3fa2c1d0`: re-decoding notices a changed profile."""
        return f"{decoder_version}+{self.name}.{self.fingerprint}"

    def apply(self, decoded: Decoded) -> Decoded:
        """The decoded frame with mapped channels as their catalogue quantities."""
        index = {(c.channel, c.type): c for c in self.channels}
        out: list[Measurement] = []
        for m in decoded.measurements:
            c = index.get((m.sensor, m.quantity))
            if c is None:
                out.append(m)
                continue
            value = m.value * c.scale + c.offset
            if not math.isfinite(value):
                raise DecodeError(
                    f"profile {self.name}: {m.quantity} {m.value!r} on channel {m.sensor} "
                    f"scales to {value!r}"
                )
            out.append(Measurement(c.quantity, value, c.sensor, m.time))
        seen: set[tuple[str, int]] = set()
        for m in out:
            if (m.quantity, m.sensor) in seen:
                raise DecodeError(
                    f"profile {self.name}: the frame has two values of {m.quantity} on sensor "
                    f"{m.sensor}; map one of them to another sensor"
                )
            seen.add((m.quantity, m.sensor))
        return Decoded(tuple(out), decoded.state, decoded.warnings)


def parse(
    name: str,
    decoder: str,
    channels: Sequence[Mapping[str, Any]],
    description: str = "",
    models: Sequence[str] = (),
    device_profiles: Sequence[str] = (),
) -> Profile:
    """A profile from its plain description (TOML, JSON); refuses anything ambiguous."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProfileError(
            f"profile name {name!r} must be 1-63 lower-case letters, digits and hyphens"
        )
    if not isinstance(decoder, str) or not decoder:
        raise ProfileError(f"profile {name}: 'decoder' must name the decoder it maps")
    if not isinstance(channels, Sequence) or isinstance(channels, str) or not channels:
        raise ProfileError(f"profile {name}: 'channels' must be a non-empty list")
    maps = tuple(_channel(name, i, c) for i, c in enumerate(channels))
    for label, keys in (
        ("(channel, type)", Counter((c.channel, c.type) for c in maps)),
        ("(quantity, sensor)", Counter((c.quantity, c.sensor) for c in maps)),
    ):
        repeated = sorted(str(k) for k, n in keys.items() if n > 1)
        if repeated:
            raise ProfileError(f"profile {name}: two channels share the {label} {repeated}")
    return Profile(
        name,
        decoder,
        maps,
        str(description),
        tuple(m.lower() for m in models),
        tuple(device_profiles),
    )


def _number(name: str, where: str, key: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"profile {name} {where}: {key} must be a finite number")
    return float(value)


def _index(name: str, where: str, key: str, value: Any, default: int | None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SENSOR:
        raise ProfileError(f"profile {name} {where}: {key} must be an integer 0..{_MAX_SENSOR}")
    return value


def _channel(name: str, i: int, c: Any) -> ChannelMap:
    where = f"channel {i}"
    if not isinstance(c, Mapping):
        raise ProfileError(f"profile {name} {where}: must be a table of channel, type, quantity")
    unknown = set(c) - _CHANNEL_KEYS
    if unknown:
        raise ProfileError(f"profile {name} {where}: unknown keys {sorted(unknown)}")
    for key in ("type", "quantity", "unit"):
        if not isinstance(c.get(key), str):
            raise ProfileError(f"profile {name} {where}: {key!r} must be given as text")
    if c["type"] not in QUANTITIES:
        raise ProfileError(
            f"profile {name} {where}: type {c['type']!r} is not a quantity any decoder reports"
        )
    quantity = QUANTITIES.get(c["quantity"])
    if quantity is None:
        raise ProfileError(
            f"profile {name} {where}: {c['quantity']!r} is not a catalogue quantity "
            "(GET /v1/quantities lists them)"
        )
    if quantity.generic:
        raise ProfileError(
            f"profile {name} {where}: {quantity.key} is generic itself; map onto what it measures"
        )
    if c["unit"] != quantity.unit:
        raise ProfileError(
            f"profile {name} {where}: {quantity.key} is in {quantity.unit!r} in the catalogue, "
            f"not {c['unit']!r}; convert with scale and offset and say {quantity.unit!r}"
        )
    scale = _number(name, where, "scale", c.get("scale"), 1.0)
    if scale == 0:
        raise ProfileError(f"profile {name} {where}: scale 0 would erase every value")
    return ChannelMap(
        channel=_index(name, where, "channel", c.get("channel"), None),
        type=c["type"],
        quantity=quantity.key,
        unit=quantity.unit,
        scale=scale,
        offset=_number(name, where, "offset", c.get("offset"), 0.0),
        sensor=_index(name, where, "sensor", c.get("sensor"), 0),
    )


def load(text: str) -> dict[str, Profile]:
    """Profiles from a TOML document of `[name]` tables (the format of `profiles.toml`)."""
    profiles = {}
    for name, body in tomllib.loads(text).items():
        if not isinstance(body, dict):
            raise ProfileError(f"profile {name}: must be a table")
        unknown = set(body) - {"decoder", "description", "models", "device_profiles", "channels"}
        if unknown:
            raise ProfileError(f"profile {name}: unknown keys {sorted(unknown)}")
        profiles[name] = parse(
            name,
            body.get("decoder", ""),
            body.get("channels", ()),
            body.get("description", ""),
            body.get("models", ()),
            body.get("device_profiles", ()),
        )
    return profiles


PROFILES: dict[str, Profile] = load(
    files("decoders").joinpath("profiles.toml").read_text(encoding="utf-8")
)


def for_model(
    model: str | None,
    device_profile: str | None,
    profiles: Mapping[str, Profile] = PROFILES,
) -> Profile | None:
    """The profile of a device model: by TTS `brand/model`, else the ChirpStack device profile
    name (case-insensitive globs), in file order; None when no profile names it."""
    if model:
        model = model.lower()
        for profile in profiles.values():
            if model in profile.models:
                return profile
    if device_profile:
        name = device_profile.lower()
        for profile in profiles.values():
            if any(fnmatchcase(name, p.lower()) for p in profile.device_profiles):
                return profile
    return None
