"""The HTTP API against a real database filled through the ingest writer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from decoders import Measurement
from ingest.model import DecodedUplink, Radio, Uplink
from ingest.writer import Writer, open_pool
from tests.conftest import Backend

T0 = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)
EUI = "70B3D57ED0061A2B"
OTHER = "70B3D57ED0061A2C"


def _uplink(eui: str, minutes: int, temperature: float, humidity: float) -> DecodedUplink:
    at = T0 + timedelta(minutes=minutes)
    uplink = Uplink(
        f"{eui}:{minutes}",
        eui,
        at,
        2,
        minutes,
        b"",
        device_name=f"dev-{eui[-1]}",
        latitude=52.09,
        longitude=5.12,
        radio=Radio(),
    )
    return DecodedUplink(
        uplink,
        "t",
        "cayenne_lpp",
        "1.0.0",
        (
            Measurement("air_temperature", temperature, sensor=1),
            Measurement("relative_humidity", humidity, sensor=2),
        ),
    )


async def _fill(url: str) -> None:
    pool = await open_pool(url, max_size=1)
    try:
        writer = await Writer.connect(pool)
        # EUI: four readings, 15 minutes apart; the last one arrives first (late data).
        await writer.write([_uplink(EUI, 45, 14.0, 60.0)], [])
        await writer.write(
            [
                _uplink(EUI, 0, 10.0, 70.0),
                _uplink(EUI, 15, 11.0, 69.0),
                _uplink(EUI, 30, 13.0, 65.0),
            ],
            [],
        )
        await writer.write([_uplink(OTHER, 5, 20.0, 50.0)], [])
        await writer.fold()
    finally:
        await pool.close()


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    asyncio.run(_fill(db_url))
    app = create_app(ApiSettings(database_url=SecretStr(db_url), api_max_buckets=100))
    with TestClient(app) as test_client:
        yield test_client


RANGE = {"from": "2025-03-14T07:00:00Z", "to": "2025-03-14T10:00:00Z"}


def test_devices_list_and_paging(client: TestClient) -> None:
    first = client.get("/v1/devices", params={"limit": 1}).json()
    assert [d["dev_eui"] for d in first["items"]] == [EUI]
    assert first["next_cursor"] == EUI
    assert first["items"][0]["location"] == {"latitude": 52.09, "longitude": 5.12}
    assert first["items"][0]["last_seen_at"] == "2025-03-14T08:45:00Z"
    second = client.get("/v1/devices", params={"limit": 1, "cursor": EUI}).json()
    assert [d["dev_eui"] for d in second["items"]] == [OTHER]
    assert second["next_cursor"] is None


def test_device_in_either_case_with_latest_values(client: TestClient) -> None:
    body = client.get(f"/v1/devices/{EUI.lower()}").json()
    assert body["dev_eui"] == EUI
    assert body["latest"] == [
        {
            "quantity": "air_temperature",
            "unit": "Cel",
            "sensor": 1,
            "time": "2025-03-14T08:45:00Z",
            "value": 14.0,
        },
        {
            "quantity": "relative_humidity",
            "unit": "%RH",
            "sensor": 2,
            "time": "2025-03-14T08:45:00Z",
            "value": 60.0,
        },
    ]


def test_unknown_device_is_404(client: TestClient) -> None:
    response = client.get("/v1/devices/0000000000000001")
    assert response.status_code == 404
    assert response.json() == {"detail": "no device with dev_eui 0000000000000001"}


def test_raw_series_has_exact_values_and_times(client: TestClient) -> None:
    body = client.get(
        f"/v1/devices/{EUI}/series", params={"quantity": "air_temperature", **RANGE}
    ).json()
    assert body["unit"] == "Cel"
    assert body["points"] == [
        {"time": "2025-03-14T08:00:00Z", "sensor": 1, "value": 10.0},
        {"time": "2025-03-14T08:15:00Z", "sensor": 1, "value": 11.0},
        {"time": "2025-03-14T08:30:00Z", "sensor": 1, "value": 13.0},
        {"time": "2025-03-14T08:45:00Z", "sensor": 1, "value": 14.0},
    ]
    assert body["next_from"] is None


def test_bucketed_series(client: TestClient) -> None:
    body = client.get(
        f"/v1/devices/{EUI}/series",
        params={"quantity": "air_temperature", "bucket": "30m", **RANGE},
    ).json()
    assert (body["aggregation"], body["source"]) == ("mean", "raw")
    common = {"sensor": 1, "count": 2, "p50": None, "p95": None, "delta": None}
    assert body["points"] == [
        {"time": "2025-03-14T08:00:00Z", "value": 10.5, "min": 10.0, "max": 11.0, **common},
        {"time": "2025-03-14T08:30:00Z", "value": 13.5, "min": 13.0, "max": 14.0, **common},
    ]


def test_latest_for_a_quantity(client: TestClient) -> None:
    body = client.get("/v1/latest", params={"quantity": "air_temperature"}).json()
    assert [(i["dev_eui"], i["time"], i["value"]) for i in body["items"]] == [
        (EUI, "2025-03-14T08:45:00Z", 14.0),
        (OTHER, "2025-03-14T08:05:00Z", 20.0),
    ]


def test_quantities(client: TestClient) -> None:
    body = client.get("/v1/quantities").json()
    by_key = {q["key"]: q for q in body}
    assert by_key["air_temperature"] == {
        "key": "air_temperature",
        "unit": "Cel",
        "aggregation": "mean",
        "description": "Air temperature",
        "generic": False,
    }
    assert by_key["analog_input"]["generic"] is True
    assert by_key["no2"]["unit"] == "ppb"


@pytest.mark.parametrize(
    ("path", "params", "status", "detail"),
    [
        (
            "/v1/latest",
            {"quantity": "nope"},
            400,
            "unknown quantity 'nope'; /v1/quantities lists them",
        ),
        (
            f"/v1/devices/{EUI}/series",
            {"quantity": "air_temperature", "bucket": "1y"},
            400,
            "bucket '1y' must be a number and a unit s, m, h or d, such as 15m, 1h or 1d",
        ),
        (
            f"/v1/devices/{EUI}/series",
            {
                "quantity": "air_temperature",
                "from": "2025-03-14T10:00:00Z",
                "to": "2025-03-14T09:00:00Z",
            },
            400,
            "from (2025-03-14T10:00:00+00:00) must be before to (2025-03-14T09:00:00+00:00)",
        ),
        (
            f"/v1/devices/{EUI}/series",
            {
                "quantity": "air_temperature",
                "from": "2020-01-01T00:00:00Z",
                "to": "2025-01-01T00:00:00Z",
            },
            400,
            "the range from 2020-01-01T00:00:00+00:00 to 2025-01-01T00:00:00+00:00 is longer "
            "than the limit of 366 days; split it into several requests",
        ),
        (
            f"/v1/devices/{EUI}/series",
            {"quantity": "air_temperature", "bucket": "1m", **RANGE},
            400,
            "bucket 1m over this range gives 180 buckets, more than the limit of 100; "
            "widen the bucket or narrow the range",
        ),
        (
            "/v1/devices/xyz/series",
            {"quantity": "air_temperature"},
            400,
            "dev_eui 'xyz' must be 16 hexadecimal digits",
        ),
        (
            "/v1/devices",
            {"cursor": "'; DROP TABLE devices; --"},
            400,
            'dev_eui "\'; DROP TABLE devices; --" must be 16 hexadecimal digits',
        ),
    ],
    ids=[
        "unknown quantity",
        "bad bucket",
        "inverted range",
        "range too long",
        "too many buckets",
        "bad dev_eui",
        "hostile cursor",
    ],
)
def test_bad_parameters_say_what_to_fix(
    client: TestClient, path: str, params: dict[str, str], status: int, detail: str
) -> None:
    response = client.get(path, params=params)
    assert (response.status_code, response.json()) == (status, {"detail": detail})


@pytest.mark.parametrize(
    "params",
    [
        {},  # quantity missing
        {"quantity": "air_temperature", "from": "2025-03-14T08:00:00"},  # no UTC offset
        {"quantity": "air_temperature", "from": "yesterday"},
        {"quantity": "air_temperature", "sensor": "-1"},
    ],
    ids=["missing quantity", "naive time", "not a time", "negative sensor"],
)
def test_validation_errors_are_422(client: TestClient, params: dict[str, str]) -> None:
    response = client.get(f"/v1/devices/{EUI}/series", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_health_and_readiness(client: TestClient, backend: Backend) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "storage": backend}


def test_readiness_without_database() -> None:
    app = create_app(ApiSettings(database_url=SecretStr("postgresql://postgres@127.0.0.1:1/none")))
    with TestClient(app) as test_client:
        response = test_client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        devices = test_client.get("/v1/devices")
        assert devices.status_code == 503
        assert devices.json() == {"detail": "the database is unavailable; try again shortly"}


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/devices/{dev_eui}/series" in spec["paths"]
    assert client.get("/docs").status_code == 200


NO_DECODER = "70B3D57ED0061A2D"


async def _write_raw(url: str) -> None:
    pool = await open_pool(url, max_size=1)
    try:
        writer = await Writer.connect(pool)
        raw = Uplink("raw:1", NO_DECODER, T0, 2, 1, b"\x01\x02", radio=Radio())
        await writer.write([DecodedUplink(raw, "t", None, None, ())], [])
        await writer.fold()
    finally:
        await pool.close()


def test_devices_without_a_decoder_are_visible_as_such(client: TestClient, db_url: str) -> None:
    asyncio.run(_write_raw(db_url))
    items = client.get("/v1/devices").json()["items"]
    assert {d["dev_eui"]: d["decoded_by"] for d in items} == {
        EUI: "cayenne_lpp@1.0.0",
        OTHER: "cayenne_lpp@1.0.0",
        NO_DECODER: None,
    }
    assert client.get(f"/v1/devices/{NO_DECODER}").json()["latest"] == []


async def _write_with_state(url: str) -> None:
    pool = await open_pool(url, max_size=1)
    try:
        writer = await Writer.connect(pool)
        uplink = Uplink("state:1", NO_DECODER, T0, 2, 1, b"\x01", radio=Radio())
        decoded = DecodedUplink(
            uplink,
            "t",
            "dragino_lht65",
            "1.0.0",
            (Measurement("battery_voltage", 3.062),),
            state_json='{"battery_status": 3, "ext_sensor": "Temperature Sensor"}',
        )
        await writer.write([decoded], [])
        await writer.fold()
    finally:
        await pool.close()


def test_device_shows_the_state_its_newest_uplink_reported(client: TestClient, db_url: str) -> None:
    asyncio.run(_write_with_state(db_url))
    body = client.get(f"/v1/devices/{NO_DECODER}").json()
    assert body["decoded_by"] == "dragino_lht65@1.0.0"
    assert body["state"] == {"battery_status": 3, "ext_sensor": "Temperature Sensor"}
    assert client.get(f"/v1/devices/{EUI}").json()["state"] is None


def test_a_device_profile_is_set_and_removed_through_patch(client: TestClient) -> None:
    set_ = client.patch(f"/v1/devices/{EUI}", json={"profile": "lpp-air-quality"})
    assert set_.status_code == 200, set_.text
    assert set_.json()["profile"] == "lpp-air-quality"
    assert client.get(f"/v1/devices/{EUI}").json()["profile"] == "lpp-air-quality"
    unknown = client.patch(f"/v1/devices/{EUI}", json={"profile": "lpp-toaster"})
    assert unknown.status_code == 400
    assert unknown.json()["detail"].startswith(
        "no device profile named 'lpp-toaster'; known: lpp-air-quality, lpp-bin, "
    )
    renamed = client.patch(f"/v1/devices/{EUI}", json={"name": "Stadhuis"})
    assert (renamed.json()["name"], renamed.json()["profile"]) == ("Stadhuis", "lpp-air-quality")
    cleared = client.patch(f"/v1/devices/{EUI}", json={"profile": None})
    assert cleared.json()["profile"] is None
