"""Directions and meter readings through the API: circular means and counter deltas, from raw
data, hourly and daily rollups alike, per device and per zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from tests.api.helpers import execute, store, utc
from tests.api.test_rollups import both, series

EUI, OTHER = "0004A30B001C0001", "0004A30B001C0002"
HOURS = {"from": "2025-06-02T08:00:00Z", "to": "2025-06-02T12:00:00Z", "bucket": "1h"}
DAY = {"from": "2025-06-01T22:00:00Z", "to": "2025-06-02T22:00:00Z", "bucket": "1d"}
SQUARE = [[[5.0, 52.0], [5.2, 52.0], [5.2, 52.2], [5.0, 52.2], [5.0, 52.0]]]


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=SecretStr(db_url)))) as test_client:
        yield test_client


def _zone(client: TestClient, db_url: str) -> int:
    execute(db_url, "UPDATE devices SET latitude = 52.1, longitude = 5.1")
    body = {"type": "Polygon", "coordinates": SQUARE}
    response = client.post("/v1/zones", json=body, params={"name": "centrum"})
    assert response.status_code == 201, response.text
    zone_id: int = response.json()[0]["id"]
    return zone_id


def _points(body: dict[str, Any], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(p[k] for k in keys) for p in body["points"]]


def test_wind_direction_is_a_circular_mean(client: TestClient, db_url: str) -> None:
    t = utc("2025-06-02T08:00:00Z")
    m = 60

    def at(minutes: int) -> Any:
        return t + timedelta(seconds=minutes * m)

    store(db_url, EUI, "wind_direction", [(at(10), 350.0), (at(40), 10.0)])  # 08h: 0, not 180
    store(db_url, EUI, "wind_direction", [(at(70), 80.0), (at(100), 100.0)])  # 09h: 90
    store(db_url, EUI, "wind_direction", [(at(130), 0.0), (at(160), 180.0)])  # 10h: cancel
    rolled, _ = both(client, quantity="wind_direction", **HOURS)
    assert (rolled["aggregation"], rolled["source"], rolled["unit"]) == (
        "circular_mean",
        "hourly",
        "deg",
    )
    assert _points(rolled, "time", "value", "min", "max", "count") == [
        ("2025-06-02T08:00:00Z", 0.0, 10.0, 350.0, 2),
        ("2025-06-02T09:00:00Z", 90.0, 80.0, 100.0, 2),
        ("2025-06-02T10:00:00Z", None, 0.0, 180.0, 2),
    ]
    daily, _ = both(client, quantity="wind_direction", **DAY)
    assert daily["source"] == "daily"
    # Six unit vectors: (0, 2cos10°) + (2sin80°, 0) + (0, 0): the day's mean is 45°.
    assert _points(daily, "value", "count") == [(45.0, 6)]

    # A zone adds each device's mean direction as a unit vector: 0° and 90° make 45°.
    store(db_url, OTHER, "wind_direction", [(at(20), 90.0)])
    zone = _zone(client, db_url)
    window = {**HOURS, "to": "2025-06-02T09:00:00Z"}
    for source in ("auto", "raw"):
        body = client.get(
            f"/v1/zones/{zone}/series",
            params={"quantity": "wind_direction", "source": source, **window},
        ).json()
        assert _points(body, "value", "devices", "count") == [(45.0, 2, 3)], source
    latest = client.get(f"/v1/zones/{zone}/latest", params={"quantity": "wind_direction"})
    (item,) = latest.json()["items"]
    assert (item["aggregation"], item["value"]) == ("circular_mean", 135.0)  # 180° and 90°


def test_a_meter_gives_its_last_reading_and_what_it_added(client: TestClient, db_url: str) -> None:
    t = utc("2025-06-02T08:00:00Z")

    def at(minutes: int) -> Any:
        return t + timedelta(minutes=minutes)

    readings = [
        (at(-10), 1000.0),  # before the range: the reference of its first bucket
        (at(10), 1010.0),
        (at(50), 1030.0),  # 08h: 30 added
        # 09h: nothing
        (at(140), 1100.0),  # 10h: 70 since 1030
        (at(190), 20.0),  # 11h: replaced meter, counting from zero: 50
        (at(220), 50.0),
    ]
    store(db_url, EUI, "water_volume", readings)
    rolled, _ = both(client, quantity="water_volume", **HOURS)
    assert (rolled["aggregation"], rolled["source"], rolled["unit"]) == ("counter", "hourly", "l")
    assert _points(rolled, "time", "value", "delta", "min", "max", "count") == [
        ("2025-06-02T08:00:00Z", 1030.0, 30.0, 1010.0, 1030.0, 2),
        ("2025-06-02T10:00:00Z", 1100.0, 70.0, 1100.0, 1100.0, 1),
        ("2025-06-02T11:00:00Z", 50.0, 50.0, 20.0, 50.0, 2),
    ]
    # One local day holding all six: from its first reading 1000 up to 1100, reset, 50.
    daily, _ = both(client, quantity="water_volume", **DAY)
    assert _points(daily, "value", "delta", "count") == [(50.0, 150.0, 6)]
    csv = client.get(
        f"/v1/devices/{EUI}/series", params={"quantity": "water_volume", "format": "csv", **HOURS}
    ).text.splitlines()
    assert csv[0] == "time,sensor,value,min,max,count,delta,p50,p95"
    assert csv[1] == "2025-06-02T08:00:00+00:00,0,1030.0,1010.0,1030.0,2,30.0,,"

    # A late reading in a finished hour moves that hour's delta and the next one's.
    store(db_url, EUI, "water_volume", [(at(100), 1060.0)])  # 09h40
    late, _ = both(client, quantity="water_volume", **HOURS)
    assert _points(late, "time", "delta") == [
        ("2025-06-02T08:00:00Z", 30.0),
        ("2025-06-02T09:00:00Z", 30.0),
        ("2025-06-02T10:00:00Z", 40.0),
        ("2025-06-02T11:00:00Z", 50.0),
    ]

    # A zone sums its meters: their readings and what each added.
    store(db_url, OTHER, "water_volume", [(at(-30), 500.0), (at(30), 505.0), (at(150), 512.5)])
    zone = _zone(client, db_url)
    for source in ("auto", "raw"):
        body = client.get(
            f"/v1/zones/{zone}/series",
            params={"quantity": "water_volume", "source": source, **HOURS},
        ).json()
        assert body["aggregation"] == "counter"
        assert _points(body, "time", "value", "delta", "devices") == [
            ("2025-06-02T08:00:00Z", 1030.0 + 505.0, 30.0 + 5.0, 2),
            ("2025-06-02T09:00:00Z", 1060.0, 30.0, 1),
            ("2025-06-02T10:00:00Z", 1100.0 + 512.5, 40.0 + 7.5, 2),
            ("2025-06-02T11:00:00Z", 50.0, 50.0, 1),
        ], source


def test_quantities_say_how_they_aggregate(client: TestClient) -> None:
    kinds = {q["key"]: q["aggregation"] for q in client.get("/v1/quantities").json()}
    assert kinds["wind_direction"] == kinds["direction"] == "circular_mean"
    assert kinds["water_volume"] == kinds["energy"] == kinds["gas_volume"] == "counter"
    doc = client.get("/openapi.json").json()
    described = doc["components"]["schemas"]["Quantity"]["properties"]["aggregation"]
    assert "350 and 10 give 0" in described["description"]
    series_doc = doc["paths"]["/v1/devices/{dev_eui}/series"]["get"]["description"]
    assert "circular_mean" in series_doc and "delta" in series_doc


def test_no_bucket_series_of_a_counter_is_a_mean(client: TestClient, db_url: str) -> None:
    t = utc("2025-06-02T08:00:00Z")
    store(db_url, EUI, "energy", [(t + timedelta(minutes=i * 10), 100.0 + i) for i in range(6)])
    body = series(client, quantity="energy", **{**HOURS, "to": "2025-06-02T09:00:00Z"})
    assert _points(body, "value", "delta") == [(105.0, 5.0)]  # not the mean 102.5
