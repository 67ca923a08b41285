"""Operator metadata wins: a name or location set through the API survives the network-server
metadata of later uplinks and location events; the network's position is shown beside it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from ingest.model import DecodedUplink, DeviceEvent
from ingest.pipeline import Pipeline
from ingest.writer import Writer, open_pool

EUI = "70B3D57ED0061A2B"
APP = "v3/city-air@ttn/devices/air-07"


def _uplink(received_at: str, latitude: float, longitude: float, key: str) -> bytes:
    return orjson.dumps(
        {
            "end_device_ids": {"device_id": "air-07", "dev_eui": EUI},
            "correlation_ids": [f"as:up:{key}"],
            "uplink_message": {
                "f_port": 1,
                "f_cnt": 1,
                "frm_payload": base64.b64encode(bytes.fromhex("016700e1")).decode(),
                "received_at": received_at,
                "locations": {"user": {"latitude": latitude, "longitude": longitude}},
            },
        }
    )


def _solved(received_at: str) -> bytes:
    return orjson.dumps(
        {
            "end_device_ids": {"device_id": "air-07", "dev_eui": EUI},
            "received_at": received_at,
            "location_solved": {
                "location": {"latitude": 52.2, "longitude": 5.2, "source": "SOURCE_GPS"}
            },
        }
    )


def _ingest(db_url: str, topic: str, body: bytes) -> None:
    """Through the pipeline and a writer of its own, which always upserts the device row."""

    async def run() -> None:
        pool = await open_pool(db_url, max_size=2)
        try:
            outcomes = Pipeline().process(topic, body)
            uplinks = [o for o in outcomes if isinstance(o, DecodedUplink)]
            events = [o for o in outcomes if isinstance(o, DeviceEvent)]
            assert uplinks or events, outcomes
            await (await Writer.connect(pool)).write(uplinks, [], events)
        finally:
            await pool.close()

    asyncio.run(run())


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=SecretStr(db_url)))) as test_client:
        yield test_client


def test_operator_name_and_location_survive_network_metadata(
    client: TestClient, db_url: str
) -> None:
    _ingest(db_url, f"{APP}/up", _uplink("2025-03-14T08:00:00Z", 52.09, 5.12, "01A"))
    patched = client.patch(
        f"/v1/devices/{EUI}",
        json={"name": "Stadhuisplein NO2", "location": {"latitude": 52.0907, "longitude": 5.1214}},
    )
    assert patched.status_code == 200, patched.text

    # Two minutes later the network says its own name and position again, then solves another.
    _ingest(db_url, f"{APP}/up", _uplink("2025-03-14T08:02:00Z", 52.1, 5.13, "01B"))
    device = client.get(f"/v1/devices/{EUI}").json()
    assert device["name"] == "Stadhuisplein NO2"
    assert device["location"] == {"latitude": 52.0907, "longitude": 5.1214}
    assert device["network_location"] == {
        "latitude": 52.1,
        "longitude": 5.13,
        "source": "uplink",
        "at": "2025-03-14T08:02:00Z",
    }
    assert device["operator_set"] == ["location", "name"]
    _ingest(db_url, f"{APP}/location/solved", _solved("2025-03-14T08:03:00Z"))
    device = client.get(f"/v1/devices/{EUI}").json()
    assert device["location"] == {"latitude": 52.0907, "longitude": 5.1214}
    assert device["network_location"] == {
        "latitude": 52.2,
        "longitude": 5.2,
        "source": "SOURCE_GPS",
        "at": "2025-03-14T08:03:00Z",
    }
    # An older uplink arriving late does not move the network position back.
    _ingest(db_url, f"{APP}/up", _uplink("2025-03-14T08:01:00Z", 52.0, 5.0, "01C"))
    assert client.get(f"/v1/devices/{EUI}").json()["network_location"]["source"] == "SOURCE_GPS"

    # null hands a field back to the network.
    back = client.patch(f"/v1/devices/{EUI}", json={"location": None}).json()
    assert back["location"] == {"latitude": 52.2, "longitude": 5.2}
    assert (back["name"], back["operator_set"]) == ("Stadhuisplein NO2", ["name"])
    back = client.patch(f"/v1/devices/{EUI}", json={"name": None}).json()
    assert (back["name"], back["operator_set"]) == ("air-07", [])
    _ingest(db_url, f"{APP}/up", _uplink("2025-03-14T08:04:00Z", 52.3, 5.3, "01D"))
    device = client.get(f"/v1/devices/{EUI}").json()
    assert device["location"] == {"latitude": 52.3, "longitude": 5.3}
