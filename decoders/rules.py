"""The selection rules and field maps of `models.toml`, read once from this package's own data."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from typing import Any


@dataclass(frozen=True, slots=True)
class Rules:
    """`models`: "brand/model" -> {decoder, fieldmap}; `profiles`: glob -> model or decoder key."""

    models: dict[str, dict[str, str]]
    profiles: dict[str, str]
    fieldmaps: dict[str, dict[str, Any]]
    default_fieldmaps: tuple[str, ...]
    native: dict[str, str]  # default field map -> our codec that produced that object shape


def parse(text: str) -> Rules:
    data = tomllib.loads(text)
    return Rules(
        models=data.get("models", {}),
        profiles=data.get("profiles", {}),
        fieldmaps=data.get("fieldmaps", {}),
        default_fieldmaps=tuple(data.get("defaults", {}).get("fieldmaps", ())),
        native=data.get("defaults", {}).get("native", {}),
    )


RULES = parse(files("decoders").joinpath("models.toml").read_text(encoding="utf-8"))
