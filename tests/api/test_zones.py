"""Zones: GeoJSON upload, membership on borders and after moves, maps and exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from tests.api.helpers import execute, store, utc

WEST_EUI, EAST_EUI, BORDER_EUI, FAR_EUI = (f"00000000000000A{i}" for i in range(1, 5))


def square(lon: float, lat: float, size: float = 0.1) -> list[list[list[float]]]:
    return [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size],
             [lon, lat]]]  # fmt: skip


def feature(name: str, geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"name": name}, "geometry": geometry}


DISTRICTS = {
    "type": "FeatureCollection",
    "features": [
        feature("West", {"type": "Polygon", "coordinates": square(5.0, 52.0)}),
        feature("East", {"type": "Polygon", "coordinates": square(5.1, 52.0)}),
        # Two islands: a MultiPolygon, one far away.
        feature(
            "Islands",
            {"type": "MultiPolygon", "coordinates": [square(4.0, 51.0), square(6.0, 53.0)]},
        ),
    ],
}


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    t = utc("2025-06-02T08:00:00Z")
    located = {
        WEST_EUI: (52.05, 5.05, 10.0),
        EAST_EUI: (52.05, 5.15, 20.0),
        BORDER_EUI: (52.05, 5.1, 30.0),  # exactly on the West/East border
        FAR_EUI: (53.05, 6.05, 40.0),  # in the far island of the MultiPolygon
    }
    for eui, (lat, lon, value) in located.items():
        store(db_url, eui, "air_temperature", [(t, value)])
        execute(db_url, "UPDATE devices SET latitude = $1, longitude = $2 WHERE dev_eui = $3",
                lat, lon, eui)  # fmt: skip
    with TestClient(create_app(ApiSettings(database_url=SecretStr(db_url)))) as test_client:
        yield test_client


def upload(client: TestClient) -> dict[str, int]:
    response = client.post("/v1/zones", json=DISTRICTS)
    assert response.status_code == 201, response.text
    return {z["name"]: z["id"] for z in response.json()}


def members(client: TestClient, zone_id: int) -> list[str]:
    body = client.get("/v1/latest", params={"quantity": "air_temperature", "zone": zone_id})
    return [i["dev_eui"] for i in body.json()["items"]]


def test_border_multipolygon_and_counts(client: TestClient) -> None:
    ids = upload(client)
    assert members(client, ids["West"]) == [WEST_EUI, BORDER_EUI]
    assert members(client, ids["East"]) == [EAST_EUI, BORDER_EUI]
    assert members(client, ids["Islands"]) == [FAR_EUI]
    listed = client.get("/v1/zones").json()
    assert [(z["name"], z["devices"]) for z in listed["items"]] == [
        ("West", 2),
        ("East", 2),
        ("Islands", 1),
    ]
    assert listed["items"][0]["bbox"] == [5.0, 52.0, 5.1, 52.1]
    geo = client.get("/v1/zones", params={"format": "geojson"})
    assert geo.headers["content-type"] == "application/geo+json"
    assert geo.json()["features"][2]["geometry"]["type"] == "MultiPolygon"


def test_device_moved_between_zones(client: TestClient, db_url: str) -> None:
    ids = upload(client)
    moved = client.patch(
        f"/v1/devices/{WEST_EUI}", json={"location": {"latitude": 52.05, "longitude": 5.19}}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["zones"] == [ids["East"]]
    assert members(client, ids["West"]) == [BORDER_EUI]
    # Moved by ingest (a network-server location), not through the API.
    execute(db_url, "UPDATE devices SET longitude = 5.01 WHERE dev_eui = $1", EAST_EUI)
    assert members(client, ids["West"]) == [EAST_EUI, BORDER_EUI]
    assert members(client, ids["East"]) == [WEST_EUI, BORDER_EUI]
    gone = client.patch(f"/v1/devices/{WEST_EUI}", json={"location": None})
    assert (gone.json()["location"], gone.json()["zones"]) == (None, [])


def test_zone_latest_and_series(client: TestClient) -> None:
    ids = upload(client)
    body = client.get(f"/v1/zones/{ids['West']}/latest").json()
    assert body["items"] == [
        {
            "quantity": "air_temperature",
            "unit": "Cel",
            "aggregation": "mean",
            "value": 20.0,
            "min": 10.0,
            "max": 30.0,
            "devices": 2,
            "oldest": "2025-06-02T08:00:00Z",
            "newest": "2025-06-02T08:00:00Z",
        }
    ]
    series = client.get(
        f"/v1/zones/{ids['East']}/series",
        params={
            "quantity": "air_temperature",
            "bucket": "1d",
            "from": "2025-06-01T22:00:00Z",
            "to": "2025-06-02T22:00:00Z",
            "format": "csv",
        },
    )
    assert series.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(series.text)))
    assert rows[0][:6] == ["time", "value", "min", "max", "count", "devices"]
    assert rows[1][:6] == ["2025-06-01T22:00:00+00:00", "25.0", "20.0", "30.0", "2", "2"]


def test_latest_as_geojson_csv_bbox_and_pages(client: TestClient) -> None:
    geo = client.get("/v1/latest", params={"quantity": "air_temperature", "format": "geojson"})
    assert geo.headers["content-type"] == "application/geo+json"
    first = geo.json()["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": [5.05, 52.05]}
    assert first["properties"]["value"] == 10.0
    boxed = client.get(
        "/v1/latest", params={"quantity": "air_temperature", "bbox": "5.09,52.0,5.2,52.1"}
    ).json()
    assert [i["dev_eui"] for i in boxed["items"]] == [EAST_EUI, BORDER_EUI]
    page = client.get("/v1/latest", params={"quantity": "air_temperature", "limit": 3}).json()
    assert page["next_cursor"] == f"{BORDER_EUI}.0"
    rest = client.get(
        "/v1/latest",
        params={"quantity": "air_temperature", "limit": 3, "cursor": page["next_cursor"]},
    ).json()
    assert ([i["dev_eui"] for i in rest["items"]], rest["next_cursor"]) == ([FAR_EUI], None)
    exported = client.get("/v1/latest", params={"quantity": "air_temperature", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["dev_eui"], r["value"]) for r in rows] == [
        (WEST_EUI, "10.0"),
        (EAST_EUI, "20.0"),
        (BORDER_EUI, "30.0"),
        (FAR_EUI, "40.0"),
    ]


@pytest.mark.parametrize(
    ("body", "params", "detail"),
    [
        ({"type": "Point", "coordinates": [5, 52]}, {"name": "x"},
         "the body must be a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection, "
         "not type 'Point'"),
        ({"type": "Polygon", "coordinates": square(5, 52)}, {},
         "a bare geometry needs the query parameter 'name'"),
        ({"type": "Polygon", "coordinates": [[[5, 52], [5.1, 52], [5, 52]]]}, {"name": "x"},
         "the geometry ring 0 must be a list of at least 4 positions"),
        ({"type": "Polygon", "coordinates": [[[52, 5], [52.1, 5], [52.1, 95], [52, 5]]]},
         {"name": "x"},
         "the geometry ring 0: position [52.1, 95.0] is outside longitude -180..180, "
         "latitude -90..90 (GeoJSON puts longitude first)"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
         {"name": "bowtie"},
         "the geometry is not a valid polygon (Self-intersection[0.5 0.5]); repair it first"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
          "geometry": {"type": "Polygon", "coordinates": square(5, 52)}}]}, {},
         "feature 0 has no text property 'name' to name the zone; choose another with "
         "name_property="),
    ],
    ids=["point", "no name", "short ring", "lat/lon swapped", "self-intersecting", "unnamed"],
)  # fmt: skip
def test_bad_geojson_says_what_to_fix(
    client: TestClient, body: dict[str, Any], params: dict[str, str], detail: str
) -> None:
    response = client.post("/v1/zones", params=params, json=body)
    assert (response.status_code, response.json()) == (400, {"detail": detail})


def test_zone_not_found_and_deleted(client: TestClient) -> None:
    ids = upload(client)
    assert client.delete(f"/v1/zones/{ids['West']}").status_code == 204
    response = client.get(f"/v1/zones/{ids['West']}/series", params={"quantity": "co2"})
    assert (response.status_code, response.json()) == (
        404,
        {"detail": f"no zone with id {ids['West']}"},
    )


def test_a_zone_never_combines_a_generic_quantity(client: TestClient, db_url: str) -> None:
    """Analog input 4 of one device may be NO2 in ppb, of another a sound level in dB: a zone
    mean of both would mix units, so it is refused, and left out of the zone's latest values."""
    ids = upload(client)
    t = utc("2025-06-02T08:00:00Z")
    store(db_url, WEST_EUI, "analog_input", [(t, 41.0, 4)])
    store(db_url, BORDER_EUI, "analog_input", [(t, 63.0, 4)])
    for path, params in (
        ("series", {"quantity": "analog_input", "bucket": "1h"}),
        ("latest", {"quantity": "analog_input"}),
    ):
        response = client.get(f"/v1/zones/{ids['West']}/{path}", params=params)
        assert response.status_code == 400
        assert response.json()["detail"].startswith(
            "analog_input is a generic quantity whose meaning and unit depend on each device"
        )
    latest = client.get(f"/v1/zones/{ids['West']}/latest").json()["items"]
    assert [i["quantity"] for i in latest] == ["air_temperature"]
    # One device's own series of it stays available: one channel of one device means one thing.
    own = client.get(
        f"/v1/devices/{WEST_EUI}/series",
        params={"quantity": "analog_input", "from": "2025-06-02T07:00:00Z",
                "to": "2025-06-02T09:00:00Z"},
    )  # fmt: skip
    assert own.json()["points"] == [{"time": "2025-06-02T08:00:00Z", "sensor": 4, "value": 41.0}]


def test_uploading_the_same_zones_twice_leaves_one_zone_per_feature(client: TestClient) -> None:
    first = upload(client)
    again = upload(client)
    assert again == first
    listed = client.get("/v1/zones").json()["items"]
    assert [(z["id"], z["name"], z["devices"]) for z in listed] == [
        (first["West"], "West", 2),
        (first["East"], "East", 2),
        (first["Islands"], "Islands", 1),
    ]
    assert members(client, first["West"]) == [WEST_EUI, BORDER_EUI]


def test_a_new_geometry_replaces_the_zone_and_re_places_its_devices(client: TestClient) -> None:
    ids = upload(client)
    moved = {
        "type": "FeatureCollection",
        "features": [feature("West", {"type": "Polygon", "coordinates": square(5.1, 52.0)})],
    }
    response = client.post("/v1/zones", json=moved)
    assert response.status_code == 201, response.text
    assert [z["id"] for z in response.json()] == [ids["West"]]
    assert response.json()[0]["bbox"] == [5.1, 52.0, 5.1 + 0.1, 52.1]
    assert members(client, ids["West"]) == [EAST_EUI, BORDER_EUI]
    assert client.get(f"/v1/devices/{WEST_EUI}").json()["zones"] == []
    assert client.get(f"/v1/devices/{EAST_EUI}").json()["zones"] == [ids["West"], ids["East"]]


def test_a_feature_id_keeps_the_zone_across_a_rename(client: TestClient) -> None:
    def upload_as(name: str) -> dict[str, Any]:
        body = {**feature(name, {"type": "Polygon", "coordinates": square(5.0, 52.0)}), "id": 7}
        response = client.post("/v1/zones", json=body)
        assert response.status_code == 201, response.text
        (zone,) = response.json()
        return dict(zone)

    first = upload_as("West")
    renamed = upload_as("Westside")
    assert (renamed["id"], renamed["name"], renamed["feature_id"]) == (first["id"], "Westside", "7")
    assert [z["name"] for z in client.get("/v1/zones").json()["items"]] == ["Westside"]


def test_an_upload_names_each_zone_once(client: TestClient) -> None:
    twice = {
        "type": "FeatureCollection",
        "features": [
            feature("West", {"type": "Polygon", "coordinates": square(5.0, 52.0)}),
            feature("West", {"type": "Polygon", "coordinates": square(5.1, 52.0)}),
        ],
    }
    response = client.post("/v1/zones", json=twice)
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "two features have the name 'West'; each zone must appear once"},
    )
    assert client.get("/v1/zones").json()["items"] == []
