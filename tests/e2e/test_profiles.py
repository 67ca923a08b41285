"""The demo's CayenneLPP devices through a real broker, `meetnet ingest` and PostgreSQL: with
their device profiles set, NO2, PM, noise and occupancy come out of the API as what they are."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from decoders.profiles import PROFILES
from meetnet.demo import demo_fleet, register_profiles
from simulator import Fleet, publish, stored
from tests.conftest import Broker
from tests.e2e.test_spine import START, IngestProcess, _count, _wait

pytestmark = pytest.mark.slow


def test_the_demo_serves_no2_pm_noise_and_occupancy_of_its_lpp_devices(
    db_url: str, broker: Broker, tmp_path: Path
) -> None:
    app = f"e2e-{uuid.uuid4().hex[:8]}"
    fleet = Fleet(spec=dataclasses.replace(demo_fleet(20), application_id=app))
    assert asyncio.run(register_profiles(db_url, fleet)) == len(fleet.profiles()) > 0
    ingest = IngestProcess(db_url, broker, app, tmp_path / "ingest.log")
    ingest.start()
    try:
        uplinks = list(fleet.timeline(START, START + timedelta(hours=1)))
        assert publish(uplinks, "127.0.0.1", broker.port) == len(uplinks)
        _wait(
            lambda: _count(db_url, "SELECT count(*) FROM uplinks") == len(uplinks), 30, ingest.log
        )
        _wait(lambda: _count(db_url, "SELECT count(*) FROM rollup_queue") == 0, 10, ingest.log)
    finally:
        ingest.signal(signal.SIGTERM)
    assert _count(db_url, "SELECT count(*) FROM dead_letters") == 0

    newest = {u.device.dev_eui: u for u in uplinks}  # the timeline is in time order
    air_quality = sorted(e for e, u in newest.items() if u.model == "air-quality")
    assert len(air_quality) >= 2
    client_app = create_app(ApiSettings(database_url=SecretStr(db_url)))
    with TestClient(client_app) as client:
        for quantity, model in (
            ("no2", "air-quality"),
            ("pm2_5", "air-quality"),
            ("pm10", "air-quality"),
            ("co2", "air-quality"),
            ("noise_laeq", "noise"),
            ("noise_lamax", "noise"),
            ("parking_occupied", "parking"),
            ("people_count", "people-counter"),
            ("fill_level", "bin"),
        ):
            body = client.get("/v1/latest", params={"quantity": quantity}).json()
            got = {(i["dev_eui"], i["sensor"]): i["value"] for i in body["items"]}
            expected = {
                (eui, m.sensor): m.value
                for eui, u in newest.items()
                if u.model == model
                for m in stored(u)
                if m.quantity == quantity
            }
            assert expected, quantity
            of_model = {k: v for k, v in got.items() if newest[k[0]].model == model}
            assert of_model == expected, quantity
            if quantity in ("no2", "pm2_5"):  # no other device of the demo measures these
                assert got == expected
        # Nothing is left as a generic LPP quantity, and zones refuse to combine those anyway.
        for generic in ("analog_input", "generic", "presence", "concentration", "percentage"):
            assert client.get("/v1/latest", params={"quantity": generic}).json()["items"] == []
        device = client.get(f"/v1/devices/{air_quality[0]}").json()
        profile = PROFILES["lpp-air-quality"]
        assert device["profile"] == "lpp-air-quality"
        assert device["decoded_by"] == f"cayenne_lpp@1.0.0+lpp-air-quality.{profile.fingerprint}"

    async def units() -> set[tuple[str, str]]:
        conn = await asyncpg.connect(db_url)
        try:
            rows = await conn.fetch(
                "SELECT DISTINCT q.key, q.unit FROM measurements m "
                "JOIN quantities q ON q.id = m.quantity_id"
            )
        finally:
            await conn.close()
        return {(r["key"], r["unit"]) for r in rows}

    assert ("no2", "ppb") in asyncio.run(units())
