"""The live stream: a client connected to GET /v1/stream receives a value stored afterwards."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import uvicorn
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from api.stream import CHANNEL, LISTENER_NAME
from tests.api.helpers import _store, utc
from tests.conftest import free_port


async def _event(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The next SSE event (name, data), skipping comments such as keepalives."""
    name, data = "message", ""
    while True:
        line = (await reader.readline()).decode().rstrip("\r\n")
        if line.startswith(":"):
            continue
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif line == "" and data:
            return name, data


async def test_client_receives_a_value_stored_after_it_connected(db_url: str) -> None:
    port = free_port()
    settings = ApiSettings(database_url=SecretStr(db_url), api_stream_heartbeat_s=0.2)
    config = uvicorn.Config(create_app(settings), port=port, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.02)
        await _store(db_url, "0004A30B001C00AA", "co2", [(utc("2025-06-02T07:00:00Z"), 1.0)])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /v1/stream?quantity=co2 HTTP/1.1\r\nHost: test\r\n"
            b"Accept: text/event-stream\r\n\r\n"
        )
        async with asyncio.timeout(10):
            status = await reader.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            while (await reader.readline()) not in (b"\r\n", b""):
                pass  # headers
            assert await _event(reader) == ("ready", "{}")
            # Stored after the client connected; another quantity is filtered out.
            await _store(db_url, "0004A30B001C00AA", "pm10", [(utc("2025-06-02T08:00:00Z"), 9.0)])
            await _store(db_url, "0004A30B001C00AA", "co2", [(utc("2025-06-02T08:00:00Z"), 412.5)])
            name, data = await _event(reader)
        assert name == "measurement"
        assert json.loads(data) == {
            "dev_eui": "0004A30B001C00AA",
            "quantity": "co2",
            "sensor": 0,
            "time": "2025-06-02T08:00:00Z",
            "value": 412.5,
        }
        writer.close()
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await serving


async def test_measurements_are_sent_on_the_channel_only_while_the_stream_listens(
    db_url: str,
) -> None:
    """announce_measurements builds the NOTIFY payloads only when a session named like the API's
    listener is connected to the database; any other listener hears nothing."""
    heard: list[str] = []
    arrived = asyncio.Event()

    def hear(*args: object) -> None:
        heard.append(str(args[3]))
        arrived.set()

    plain = await asyncpg.connect(db_url)
    await plain.add_listener(CHANNEL, hear)
    try:
        await _store(
            db_url, "70B3D5E75E000001", "air_temperature", [(utc("2026-03-01T10:00:00Z"), 1.5)]
        )
        await asyncio.sleep(0.2)
        assert heard == []
        named = await asyncpg.connect(db_url, server_settings={"application_name": LISTENER_NAME})
        try:
            await _store(
                db_url, "70B3D5E75E000001", "air_temperature", [(utc("2026-03-01T10:05:00Z"), 2.5)]
            )
            await asyncio.wait_for(arrived.wait(), 5)
        finally:
            await named.close()
        assert json.loads(heard[0]) == [
            ["70B3D5E75E000001", "air_temperature", 0, 1772359500000000, 2.5]
        ]
    finally:
        await plain.close()
