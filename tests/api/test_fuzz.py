"""schemathesis against the app's own /openapi.json: whatever it sends, no answer is a 5xx.

The API runs in uvicorn on a database with a few devices, values and a zone, so that generated
requests reach real queries. /v1/stream is left out: it answers with a never-ending stream (its
parameters are checked in tests/api/test_stream.py). Examples per operation are bounded to keep
the run to well under a minute.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis.generation import GenerationMode

from api.app import create_app
from api.settings import ApiSettings
from tests.api.helpers import execute, store, utc
from tests.conftest import _admin, database_url, free_port


@pytest.fixture(scope="module")
def api_schema(template_database: str) -> Iterator[schemathesis.BaseSchema]:
    name = f"meetnet_fuzz_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    url = database_url(name)
    t = utc("2025-06-02T08:00:00Z")
    store(url, "0004A30B001C0001", "air_temperature", [(t, 12.5), (t.replace(hour=9), 13.0)])
    store(url, "0004A30B001C0002", "noise_laeq", [(t, 55.0)])
    execute(url, "UPDATE devices SET latitude = 52.05, longitude = 5.05")
    execute(
        url,
        "INSERT INTO zones (name, geometry, min_lon, min_lat, max_lon, max_lat) VALUES "
        '(\'Centrum\', \'{"type": "Polygon", "coordinates": [[[5.0, 52.0], [5.1, 52.0], '
        "[5.1, 52.1], [5.0, 52.0]]]}', 5.0, 52.0, 5.1, 52.1)",
    )
    port = free_port()
    app = create_app(ApiSettings(database_url=SecretStr(url), api_statement_timeout_ms=5000))
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json")
    yield schema.exclude(path="/v1/stream")
    server.should_exit = True
    thread.join(timeout=10)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_no_server_errors(api_schema: schemathesis.BaseSchema) -> None:
    # Driven through hypothesis directly (schemathesis' pytest plugin does not run on pytest 9),
    # with valid and invalid requests per operation.
    failures: list[str] = []
    answered: set[int] = set()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GenerationMode):

        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            response = case.call()
            answered.add(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {case.as_curl_command()}")

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing to get wrong, as for /healthz
    assert failures == []
    assert {200, 400, 404, 422} <= answered  # the generated requests reach real answers
