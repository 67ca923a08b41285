"""Reads only read: every GET route answers for a role whose transactions are read-only, as on a
PostgreSQL read replica (the stream's LISTEN included)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from tests.api.helpers import _execute, _store, utc
from tests.api.live import get, serve, sse
from tests.conftest import _admin

EUI = "0004A30B001C0001"
T = utc("2025-06-02T08:00:00Z")
WINDOW = "from=2025-06-02T00:00:00Z&to=2025-06-03T00:00:00Z"


@pytest.fixture
def reader_url(db_url: str) -> Iterator[str]:
    role = f"meetnet_reader_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE ROLE "{role}" LOGIN IN ROLE pg_read_all_data'))
    asyncio.run(_admin(f'ALTER ROLE "{role}" SET default_transaction_read_only = on'))
    parts = urlsplit(db_url)
    yield urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{parts.path[1:]}" WITH (FORCE)'))
    asyncio.run(_admin(f'DROP ROLE "{role}"'))


async def _fill(url: str) -> None:
    await _store(url, EUI, "air_temperature", [(T, 12.5), (T.replace(hour=9), 13.0)])
    await _execute(url, "UPDATE devices SET latitude = 52.05, longitude = 5.05")
    await _execute(
        url,
        "INSERT INTO zones (name, geometry, min_lon, min_lat, max_lon, max_lat) VALUES "
        '(\'Centrum\', \'{"type": "Polygon", "coordinates": [[[5.0, 52.0], [5.1, 52.0], '
        "[5.1, 52.1], [5.0, 52.0]]]}', 5.0, 52.0, 5.1, 52.1)",
    )


# One request per GET route with the options that reach other queries (formats, buckets).
REQUESTS = {
    "/v1/devices": ["", "?format=geojson"],
    "/v1/devices/{dev_eui}": [""],
    "/v1/devices/{dev_eui}/series": [
        f"?quantity=air_temperature&{WINDOW}",
        f"?quantity=air_temperature&{WINDOW}&format=csv",
        f"?quantity=air_temperature&{WINDOW}&bucket=1h&percentiles=true",
        f"?quantity=air_temperature&{WINDOW}&bucket=1d&format=csv",
    ],
    "/v1/zones": ["", "?format=geojson"],
    "/v1/zones/{zone_id}": ["", "?format=geojson"],
    "/v1/zones/{zone_id}/series": [
        f"?quantity=air_temperature&{WINDOW}",
        f"?quantity=air_temperature&{WINDOW}&format=csv&percentiles=true",
    ],
    "/v1/zones/{zone_id}/latest": [""],
    "/v1/latest": [
        "?quantity=air_temperature",
        "?quantity=air_temperature&zone={zone_id}&format=geojson",
        "?quantity=air_temperature&format=csv",
    ],
    "/v1/quantities": [""],
    "/healthz": [""],
    "/readyz": [""],
    "/v1/stream": [],  # below: it never ends
}


async def test_every_get_route_answers_on_a_read_only_role(db_url: str, reader_url: str) -> None:
    await _fill(db_url)
    zone_id = 1
    app = create_app(ApiSettings(database_url=SecretStr(reader_url)))
    routes = {p for p, ops in app.openapi()["paths"].items() if "get" in ops}
    assert routes == set(REQUESTS)
    async with serve(app) as port:
        for route, queries in REQUESTS.items():
            for query in queries:
                path = (route + query).format(dev_eui=EUI, zone_id=zone_id)
                status, _, body = await get(port, path)
                assert status == 200, (path, body)
        status, _, body = await get(port, f"/v1/devices/{EUI}")
        assert json.loads(body)["zones"] == [zone_id]
        async with asyncio.timeout(10):
            stream = await sse(port, f"/v1/stream?zone={zone_id}")
            assert (await stream.event()).name == "ready"
            await _store(db_url, EUI, "air_temperature", [(T.replace(hour=10), 14.0)])
            event = await stream.event()
            assert (event.name, json.loads(event.data)["value"]) == ("measurement", 14.0)
            stream.close()
    # The role really cannot write.
    with pytest.raises(Exception, match="read-only transaction"):
        await _execute(reader_url, "UPDATE devices SET name = 'x'")
