"""The live stream and streamed exports under real use: resuming, filters, caps, and many
concurrent clients on a pool of ten connections, against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
from pydantic import SecretStr

from api.app import create_app
from api.export import PAGE_ROWS
from api.settings import ApiSettings
from tests.api.helpers import _store, utc
from tests.api.live import SseClient, get, serve, sse

EUI, OTHER = "0004A30B001C00AA", "0004A30B001C00BB"
T0 = utc("2025-06-02T08:00:00Z")


def _settings(url: str, **overrides: object) -> ApiSettings:
    return ApiSettings(database_url=SecretStr(url), api_stream_heartbeat_s=0.2, **overrides)


async def _values(client: SseClient, n: int) -> list[float]:
    values = []
    while len(values) < n:
        event = await client.event()
        assert event.name == "measurement", event
        values.append(json.loads(event.data)["value"])
    return values


async def test_events_have_ids_retry_heartbeats_and_resume_loses_nothing(db_url: str) -> None:
    async with serve(create_app(_settings(db_url))) as port:
        first = await sse(port, "/v1/stream?quantity=co2")
        assert (first.status, first.headers["content-type"]) == (
            200,
            "text/event-stream; charset=utf-8",
        )
        async with asyncio.timeout(10):
            ready = await first.event()
            assert (ready.name, first.retry) == ("ready", "3000")
            assert ready.id is not None
            await _store(
                db_url, EUI, "co2", [(T0 + timedelta(minutes=i), float(i)) for i in range(3)]
            )
            assert await _values(first, 1) == [0.0]
            seen = first.last_event_id
            first.close()
            # Stored while the client is away: one batch, and a value of another quantity.
            await _store(
                db_url, EUI, "co2", [(T0 + timedelta(minutes=i), float(i)) for i in range(3, 5)]
            )
            await _store(db_url, EUI, "pm10", [(T0, 9.0)])
            again = await sse(port, "/v1/stream?quantity=co2", last_event_id=seen)
            assert (await again.event()).name == "ready"
            assert await _values(again, 4) == [1.0, 2.0, 3.0, 4.0]
            await _store(db_url, EUI, "co2", [(T0 + timedelta(minutes=5), 5.0)])
            assert await _values(again, 1) == [5.0]
            # Nothing happens: keepalive comments reach the client.
            await asyncio.sleep(0.5)
            await _store(db_url, EUI, "co2", [(T0 + timedelta(minutes=6), 6.0)])
            assert await _values(again, 1) == [6.0]
            assert ": keepalive" in again.comments
            # Resuming from the very first id (ready) replays everything since.
            from_start = await sse(port, "/v1/stream?quantity=co2", last_event_id=ready.id)
            assert (await from_start.event()).name == "ready"
            assert await _values(from_start, 7) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        for client in (again, from_start):
            client.close()


async def test_an_id_the_server_cannot_resume_from_gets_a_reset(db_url: str) -> None:
    async with serve(create_app(_settings(db_url, api_stream_replay_s=0))) as port:
        async with asyncio.timeout(10):
            stranger = await sse(port, "/v1/stream", last_event_id="0badc0de-12")
            assert (await stranger.event()).name == "ready"
            reset = await stranger.event()
            assert reset.name == "reset"
            assert "not available from this server" in json.loads(reset.data)["detail"]
            first = await sse(port, "/v1/stream")
            await first.event()
            await _store(db_url, EUI, "co2", [(T0, 1.0)])
            await _store(db_url, EUI, "co2", [(T0 + timedelta(minutes=1), 2.0)])
            assert await _values(first, 2) == [1.0, 2.0]
            # The window is 0 s: the events are gone by now, and the client is told.
            late = await sse(port, "/v1/stream", last_event_id=first.last_event_id)
            assert (await late.event()).name == "ready"
            assert first.last_event_id is not None
            old = first.last_event_id.rsplit("-", 1)[0] + "-1"
            older = await sse(port, "/v1/stream", last_event_id=old)
            assert (await older.event()).name == "ready"
            assert "older than the 0 s" in json.loads((await older.event()).data)["detail"]
        for client in (stranger, first, late, older):
            client.close()


async def test_filters_by_device_quantity_and_zone(db_url: str) -> None:
    await _store(db_url, EUI, "co2", [(T0, 1.0)])
    await _store(db_url, OTHER, "co2", [(T0, 1.0)])
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "UPDATE devices SET latitude = 52.05, longitude = 5.05 WHERE dev_eui = $1", OTHER
        )
        zone = await conn.fetchval(
            "INSERT INTO zones (name, geometry, min_lon, min_lat, max_lon, max_lat) VALUES "
            '(\'Centrum\', \'{"type": "Polygon", "coordinates": [[[5.0, 52.0], [5.1, 52.0], '
            "[5.1, 52.1], [5.0, 52.0]]]}', 5.0, 52.0, 5.1, 52.1) RETURNING id"
        )
    finally:
        await conn.close()
    async with serve(create_app(_settings(db_url))) as port:
        paths = {
            "device": f"/v1/stream?dev_eui={EUI.lower()}",
            "quantities": "/v1/stream?quantity=pm10&quantity=noise_laeq",
            "zone": f"/v1/stream?zone={zone}",
            "device and quantity": f"/v1/stream?dev_eui={OTHER}&quantity=pm10",
        }
        async with asyncio.timeout(10):
            clients = {name: await sse(port, path) for name, path in paths.items()}
            for client in clients.values():
                assert (await client.event()).name == "ready"
            for eui, key, value in (
                (EUI, "co2", 1.0), (OTHER, "co2", 2.0), (EUI, "pm10", 3.0), (OTHER, "pm10", 4.0),
                (OTHER, "noise_laeq", 5.0),
            ):  # fmt: skip
                await _store(db_url, eui, key, [(T0 + timedelta(minutes=1), value)])
            assert await _values(clients["device"], 2) == [1.0, 3.0]
            assert await _values(clients["quantities"], 3) == [3.0, 4.0, 5.0]
            assert await _values(clients["zone"], 3) == [2.0, 4.0, 5.0]
            assert await _values(clients["device and quantity"], 1) == [4.0]
        for client in clients.values():
            client.close()
        status, _, body = await get(port, "/v1/stream?zone=999")
        assert (status, json.loads(body)) == (404, {"detail": "no zone with id 999"})


async def test_streams_are_capped_per_client_and_in_total(db_url: str) -> None:
    settings = _settings(db_url, api_stream_max_per_client=2, api_stream_max_clients=3)
    async with serve(create_app(settings)) as port:
        async with asyncio.timeout(10):
            open_ = [await sse(port, "/v1/stream") for _ in range(2)]
            refused = await sse(port, "/v1/stream")
            assert (refused.status, refused.headers["retry-after"]) == (429, "30")
            refused.close()
            # The cap is per client (address): the app sees every test client as 127.0.0.1,
            # so the total cap is reached with the per-client one lifted.
        for client in open_:
            client.close()
    settings = _settings(db_url, api_stream_max_per_client=10, api_stream_max_clients=3)
    async with serve(create_app(settings)) as port:
        async with asyncio.timeout(10):
            open_ = [await sse(port, "/v1/stream") for _ in range(3)]
            for client in open_:
                assert (await client.event()).name == "ready"
            full = await sse(port, "/v1/stream")
            assert (full.status, full.headers["retry-after"]) == (503, "30")
            full.close()
            open_[0].close()
            await asyncio.sleep(0.3)  # the server notices the closed stream
            open_[0] = await sse(port, "/v1/stream")
            assert open_[0].status == 200
        for client in open_:
            client.close()


async def test_200_streams_and_20_slow_downloads_leave_the_api_answering(db_url: str) -> None:
    """Ten pooled connections, 200 SSE clients and 20 CSV downloads whose readers stall: a
    plain GET still answers with the right body while all of them are open, every stream gets
    a new value, and every download, read to its end, has every row in order."""
    rows = 2 * PAGE_ROWS + 17
    points = [(T0 + timedelta(seconds=30 * i), float(i)) for i in range(rows)]
    await _store(db_url, EUI, "co2", points)
    settings = _settings(
        db_url, api_pool_size=10, api_stream_max_clients=250, api_stream_max_per_client=250
    )
    span = "from=2025-06-01T00:00:00Z&to=2025-06-10T00:00:00Z"
    async with serve(create_app(settings)) as port:
        async with asyncio.timeout(60):
            streams = [await sse(port, "/v1/stream?quantity=co2") for _ in range(200)]
            for stream in streams:
                assert stream.status == 200
                assert (await stream.event()).name == "ready"
            downloads = []
            for _ in range(20):
                reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
                writer.write(
                    f"GET /v1/devices/{EUI}/series?quantity=co2&{span}&format=csv HTTP/1.0\r\n"
                    "Host: 127.0.0.1\r\n\r\n".encode()
                )
                started = await reader.readexactly(1000)  # then the reader stalls
                downloads.append((started, reader, writer))
            for _ in range(20):
                status, _, body = await get(port, "/v1/devices")
                assert status == 200
                assert [d["dev_eui"] for d in json.loads(body)["items"]] == [EUI]
            # After the downloads' range: in no download.
            await _store(db_url, EUI, "co2", [(T0 + timedelta(days=30), -1.0)])
            for stream in streams:
                assert await _values(stream, 1) == [-1.0]
            expected = ["time,sensor,value"] + [
                f"{(T0 + timedelta(seconds=30 * i)).isoformat()},0,{float(i)}" for i in range(rows)
            ]
            for started, reader, writer in downloads:
                text = (started + await reader.read()).decode()
                body = text.split("\r\n\r\n", 1)[1]
                assert body.split("\r\n")[-1] == ""
                assert body.split("\r\n")[:-1] == expected
                writer.close()
        for stream in streams:
            stream.close()
