"""Response shapes, as the OpenAPI document shows them. Times are RFC 3339 UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Location(BaseModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class NetworkLocation(Location):
    source: str | None = Field(
        description="Who located it: 'uplink' (the uplink's metadata), or the network's "
        "location source (e.g. SOURCE_REGISTRY, a geolocation service)"
    )
    at: datetime | None = Field(description="Network time of that position")


class Device(BaseModel):
    dev_eui: str = Field(examples=["70B3D57ED0061A2B"])
    name: str | None
    application_id: str | None
    model: str | None = Field(description="Device Repository brand/model as the network reports")
    device_profile: str | None = Field(description="ChirpStack device profile name, if any")
    decoder: str | None = Field(description="Decoder registered for this device, if any")
    profile: str | None = Field(
        default=None,
        description="Device profile set for this device (what its generic channels measure), "
        "used instead of its model's; null: the model's, if any",
    )
    decoded_by: str | None = Field(
        description="Decoder (key@version) of the newest uplink; null: no decoder applies, the "
        "raw uplinks are kept until one is registered"
    )
    location: Location | None = Field(
        description="Where the device is: the operator's position if one was set, else the "
        "network's (network_location)"
    )
    network_location: NetworkLocation | None = Field(
        default=None, description="The position the network server last reported"
    )
    operator_set: list[str] = Field(
        default_factory=list,
        description="Fields an operator set (name, location), which network metadata never "
        "overwrites",
    )
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    joined_at: datetime | None
    battery_level: float | None = Field(description="Battery charge in %, as the network reports")
    battery_at: datetime | None
    state: dict[str, Any] | None = Field(
        description="What the newest uplink said besides measurements: status flags, firmware, "
        "configuration, decoder warnings"
    )


class DevicePage(BaseModel):
    items: list[Device]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")


class LatestValue(BaseModel):
    quantity: str
    unit: str
    sensor: int
    time: datetime
    value: float


class DeviceDetail(Device):
    latest: list[LatestValue]
    zones: list[int] = Field(description="Ids of the zones the device's location lies in")


class DevicePatch(BaseModel):
    """Fields an operator may set; a field left out stays as it is."""

    model_config = {"extra": "forbid"}

    name: str | None = Field(
        default=None, max_length=200, description="null removes it, showing the network's name"
    )
    location: Location | None = Field(
        default=None,
        description="WGS84 position; null removes the operator's, showing the network's if any",
    )
    profile: str | None = Field(
        default=None,
        max_length=63,
        description="Name of a device profile (decoders/profiles.toml, or one stored in "
        "device_profiles) for the next uplinks; null: back to the model's profile",
    )


class Quantity(BaseModel):
    key: str
    unit: str = Field(description="SenML unit; every value of the quantity is in this unit")
    aggregation: str = Field(
        description="How its values combine over a bucket and across a zone's devices: `mean`; "
        "`sum` (counts since the previous uplink); `energy_mean` (decibels: 10·log10 of the "
        "mean of 10^(L/10)); `max`; `state` (the last value; across devices the share in state "
        "1); `circular_mean` (directions in degrees: the direction of the mean unit vector, so "
        "350 and 10 give 0); `counter` (cumulative readings such as meter indexes: the last "
        "reading and `delta`, what was added in the bucket, never a mean; a reading below the "
        "one before is a reset and counts from zero)"
    )
    description: str
    generic: bool = Field(
        default=False,
        description="A format's catch-all type (CayenneLPP analog input, ...) whose meaning and "
        "unit depend on the device: device profiles map it onto a catalogue quantity, and zones "
        "never combine it",
    )


class Point(BaseModel):
    time: datetime
    sensor: int
    value: float


class BucketPoint(BaseModel):
    time: datetime = Field(description="Start of the bucket")
    sensor: int
    value: float | None = Field(
        description="The quantity's aggregate (`aggregation`): mean, sum, energy mean (dB), max, "
        "last value (states; counters: the meter reading at the end of the bucket) or circular "
        "mean (directions, degrees; null where the bucket's directions cancel)"
    )
    delta: float | None = Field(
        default=None,
        description="Counters only: what the meter added in the bucket, from the reading before "
        "the bucket to its last; a reading below the one before is a reset, after which the "
        "meter counts from zero (exact while it resets at most once within a bucket)",
    )
    min: float
    max: float
    count: int = Field(description="Measurements in the bucket")
    p50: float | None = Field(default=None, description="Median, with percentiles=true")
    p95: float | None = Field(default=None, description="95th percentile, with percentiles=true")


class Series(BaseModel):
    dev_eui: str
    quantity: str
    unit: str
    from_: datetime = Field(alias="from")
    to: datetime
    bucket: str | None
    aggregation: str | None = Field(
        description="How `value` aggregates a bucket: mean, sum, energy_mean, max, state (last), "
        "circular_mean (directions) or counter (last reading, and `delta`)"
    )
    timezone: str | None = Field(description="Time zone of day buckets")
    source: str = Field(description="What answered: raw, hourly or daily (rollups)")
    points: list[Point] | list[BucketPoint]
    next_from: datetime | None = Field(
        description="Set when the point limit cut the answer: ask again from this time"
    )


class DeviceLatest(BaseModel):
    dev_eui: str
    name: str | None
    sensor: int
    time: datetime
    value: float
    location: Location | None


class LatestList(BaseModel):
    quantity: str
    unit: str
    items: list[DeviceLatest]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null at end"
    )


class Zone(BaseModel):
    id: int
    name: str
    feature_id: str | None = Field(
        description="The GeoJSON Feature `id` it was uploaded with: the next upload with this id "
        "replaces the zone (without one, the next upload with its name does)"
    )
    properties: dict[str, Any]
    bbox: list[float] = Field(description="min_lon, min_lat, max_lon, max_lat")
    devices: int = Field(description="Devices located in the zone")


class ZonePage(BaseModel):
    items: list[Zone]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")


class ZoneBucketPoint(BaseModel):
    time: datetime = Field(description="Start of the bucket")
    value: float | None = Field(
        description="Devices' bucket values combined: mean of means, sum of sums, energy mean "
        "of energy means, max of maxima, the share of devices in state 1, the circular mean of "
        "the devices' mean directions (null where they cancel), or for counters the sum of the "
        "meters' last readings"
    )
    delta: float | None = Field(
        default=None, description="Counters only: what all the zone's meters added in the bucket"
    )
    min: float
    max: float
    count: int = Field(description="Measurements in the bucket")
    devices: int = Field(description="Devices with data in the bucket, each counted once")
    p50: float | None = Field(default=None, description="Median, with percentiles=true")
    p95: float | None = Field(default=None, description="95th percentile, with percentiles=true")


class ZoneSeries(BaseModel):
    zone_id: int
    zone: str
    quantity: str
    unit: str
    from_: datetime = Field(alias="from")
    to: datetime
    bucket: str
    aggregation: str
    timezone: str
    source: str = Field(description="What answered: raw, hourly or daily (rollups)")
    points: list[ZoneBucketPoint]


class ZoneLatest(BaseModel):
    quantity: str
    unit: str
    aggregation: str
    value: float | None = Field(description="The devices' latest values combined as in zone series")
    min: float
    max: float
    devices: int
    oldest: datetime = Field(description="Time of the oldest value taken into account")
    newest: datetime


class ZoneLatestList(BaseModel):
    zone_id: int
    zone: str
    items: list[ZoneLatest]
