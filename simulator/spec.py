"""The fleet file: which models, how many, where, how often, heard by which gateways.

A TOML file (see `deploy/fleet.example.toml`) or the same thing built in code. Zones are polygons
given inline (`[[zones]]` with `polygon = [[lon, lat], ...]`, GeoJSON order) or read from a GeoJSON
FeatureCollection (`zones_file`, names from `properties.name`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from decoders.profiles import PROFILES
from simulator.models import MODELS
from simulator.radio import Gateway


class FleetFileError(ValueError):
    """The fleet file says something the simulator cannot do; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class BBox:
    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        if not (self.south < self.north and self.west < self.east):
            raise FleetFileError(f"bbox needs south < north and west < east: {self}")


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    polygon: tuple[tuple[float, float], ...]  # (lon, lat), GeoJSON order; first ring only

    def contains(self, lon: float, lat: float) -> bool:
        """Ray casting (even-odd rule)."""
        inside, ring = False, self.polygon
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
            if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside

    @property
    def bbox(self) -> BBox:
        lons, lats = [p[0] for p in self.polygon], [p[1] for p in self.polygon]
        return BBox(min(lats), min(lons), max(lats), max(lons))


@dataclass(frozen=True, slots=True)
class Group:
    """`count` devices of `model`, placed in one of `zones`, in `bbox`, or in the fleet's area.

    `profile`: the device profile their operator sets (decoders/profiles.toml); None: the
    model's own if it has one, "": none."""

    model: str
    count: int
    zones: tuple[str, ...] = ()
    bbox: BBox | None = None
    interval_s: float | None = None  # None: the model's default
    profile: str | None = None

    @property
    def device_profile(self) -> str:
        """The profile name each device of the group gets ("" for none)."""
        if self.profile is not None:
            return self.profile
        model = MODELS[self.model].profile
        return model if model in PROFILES else ""


# Utrecht: the city the spine's demo has always lived in.
UTRECHT = BBox(south=52.0607, west=5.0914, north=52.1207, east=5.1514)
DEFAULT_GATEWAYS = (
    Gateway("gw-townhall", "B827EBFFFE6A1C2D", 52.0907, 5.1214, 35.0),
    Gateway("gw-station", "AA555A0000000101", 52.0894, 5.1101, 20.0),
    Gateway("gw-uithof", "AA555A0000000102", 52.0850, 5.1750, 30.0),
    Gateway("gw-zuilen", "AA555A0000000103", 52.1140, 5.0950, 25.0),
)


@dataclass(frozen=True, slots=True)
class FleetSpec:
    groups: tuple[Group, ...]
    seed: int = 1
    application_id: str = "meetnet-demo"
    tenant_id: str = "ttn"
    envelope: str = "tts"  # tts | chirpstack-json | chirpstack-protobuf
    timezone: str = "Europe/Amsterdam"
    area: BBox = UTRECHT
    zones: tuple[Zone, ...] = ()
    gateways: tuple[Gateway, ...] = DEFAULT_GATEWAYS
    jitter: float = 0.01  # reporting intervals vary by ± this fraction

    def __post_init__(self) -> None:
        for group in self.groups:
            if group.model not in MODELS:
                raise FleetFileError(
                    f"unknown device model {group.model!r}; known: {', '.join(sorted(MODELS))}"
                )
            if group.count < 0:
                raise FleetFileError(f"count of {group.model!r} must be >= 0")
            if group.profile and group.profile not in PROFILES:
                raise FleetFileError(
                    f"group {group.model!r} names unknown profile {group.profile!r}; known: "
                    f"{', '.join(PROFILES)}"
                )
            profile = PROFILES.get(group.device_profile)
            if profile is not None and profile.decoder != MODELS[group.model].codec:
                raise FleetFileError(
                    f"profile {profile.name!r} maps decoder {profile.decoder}, but "
                    f"{group.model!r} sends {MODELS[group.model].codec}"
                )
            known = {z.name for z in self.zones}
            for name in group.zones:
                if name not in known:
                    raise FleetFileError(f"group {group.model!r} names unknown zone {name!r}")
        if self.envelope not in ENVELOPES:
            raise FleetFileError(f"envelope must be one of {', '.join(ENVELOPES)}")
        if not self.gateways:
            raise FleetFileError("a fleet needs at least one gateway")

    @property
    def size(self) -> int:
        return sum(g.count for g in self.groups)


ENVELOPES = ("tts", "chirpstack-json", "chirpstack-protobuf")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str | float) -> float:
    """Seconds from `600`, `"30s"`, `"10m"`, `"1.5h"`, `"2d"`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise FleetFileError(f"{value!r} is not a duration like 30s, 10m, 1h or 2d")
        seconds = float(match[1]) * _UNIT_S[match[2]]
    if seconds <= 0:
        raise FleetFileError(f"duration {value!r} must be positive")
    return seconds


def load(path: str | Path) -> FleetSpec:
    """Read a fleet file."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FleetFileError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(doc, base=path.parent)


def from_dict(doc: dict[str, Any], base: Path = Path()) -> FleetSpec:
    zones = [_zone(z) for z in doc.get("zones", [])]
    if "zones_file" in doc:
        zones += zones_from_geojson(base / doc["zones_file"])
    area = _bbox(doc["area"]) if "area" in doc else UTRECHT
    gateways = tuple(_gateway(g) for g in doc.get("gateways", [])) or DEFAULT_GATEWAYS
    groups = tuple(_group(g) for g in doc.get("devices", []))
    if not groups:
        raise FleetFileError("the fleet file has no [[devices]] groups")
    known = {
        "seed",
        "application_id",
        "tenant_id",
        "envelope",
        "timezone",
        "jitter",
        "area",
        "zones",
        "zones_file",
        "gateways",
        "devices",
    }
    unknown = set(doc) - known
    if unknown:
        raise FleetFileError(f"unknown fleet file keys: {', '.join(sorted(unknown))}")
    return FleetSpec(
        groups=groups,
        seed=int(doc.get("seed", 1)),
        application_id=str(doc.get("application_id", "meetnet-demo")),
        tenant_id=str(doc.get("tenant_id", "ttn")),
        envelope=str(doc.get("envelope", "tts")),
        timezone=str(doc.get("timezone", "Europe/Amsterdam")),
        area=area,
        zones=tuple(zones),
        gateways=gateways,
        jitter=float(doc.get("jitter", 0.01)),
    )


def zones_from_geojson(path: Path) -> list[Zone]:
    doc = orjson.loads(path.read_bytes())
    zones = []
    for i, feature in enumerate(doc.get("features", [])):
        geometry = feature.get("geometry") or {}
        name = (feature.get("properties") or {}).get("name") or f"zone-{i}"
        if geometry.get("type") == "Polygon":
            ring = geometry["coordinates"][0]
        elif geometry.get("type") == "MultiPolygon":
            ring = geometry["coordinates"][0][0]
        else:
            continue
        zones.append(Zone(str(name), tuple((float(p[0]), float(p[1])) for p in ring)))
    return zones


def _bbox(value: Any) -> BBox:
    if isinstance(value, list) and len(value) == 4:  # [west, south, east, north], GeoJSON bbox
        return BBox(south=value[1], west=value[0], north=value[3], east=value[2])
    if isinstance(value, dict):
        return BBox(value["south"], value["west"], value["north"], value["east"])
    raise FleetFileError(f"bbox must be [west, south, east, north] or a table, got {value!r}")


def _zone(value: dict[str, Any]) -> Zone:
    polygon = tuple((float(p[0]), float(p[1])) for p in value["polygon"])
    if len(polygon) < 3:
        raise FleetFileError(f"zone {value.get('name')!r} needs at least 3 points")
    return Zone(str(value["name"]), polygon)


def _gateway(value: dict[str, Any]) -> Gateway:
    eui = str(value["eui"]).upper()
    if not re.fullmatch(r"[0-9A-F]{16}", eui):
        raise FleetFileError(f"gateway eui {eui!r} is not 16 hex digits")
    return Gateway(
        str(value["id"]),
        eui,
        float(value["latitude"]),
        float(value["longitude"]),
        float(value.get("altitude", 0.0)),
    )


def _group(value: dict[str, Any]) -> Group:
    zones = value.get("zones", ())
    if isinstance(zones, str):
        zones = (zones,)
    return Group(
        model=str(value["model"]),
        count=int(value.get("count", 1)),
        zones=tuple(zones),
        bbox=_bbox(value["bbox"]) if "bbox" in value else None,
        interval_s=parse_duration(value["interval"]) if "interval" in value else None,
        profile=str(value["profile"]) if "profile" in value else None,
    )
