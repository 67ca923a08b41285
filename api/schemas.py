"""Response shapes, as the OpenAPI document shows them. Times are RFC 3339 UTC."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Location(BaseModel):
    latitude: float
    longitude: float


class Device(BaseModel):
    dev_eui: str = Field(examples=["70B3D57ED0061A2B"])
    name: str | None
    application_id: str | None
    model: str | None = Field(description="Device Repository brand/model as the network reports")
    decoder: str | None = Field(description="Decoder registered for this device, if any")
    location: Location | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None


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


class Quantity(BaseModel):
    key: str
    unit: str
    aggregation: str
    description: str


class Point(BaseModel):
    time: datetime
    sensor: int
    value: float


class BucketPoint(BaseModel):
    time: datetime = Field(description="Start of the bucket")
    sensor: int
    avg: float
    min: float
    max: float
    count: int


class Series(BaseModel):
    dev_eui: str
    quantity: str
    unit: str
    from_: datetime = Field(alias="from")
    to: datetime
    bucket: str | None
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
