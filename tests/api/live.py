"""A real API server (uvicorn on 127.0.0.1) and plain-socket HTTP and SSE clients for tests
that need many concurrent connections or never-ending responses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from tests.conftest import free_port


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[int]:
    """Run `app` in this event loop on a free port; yields the port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", backlog=2048)
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await serving


async def _head(
    reader: asyncio.StreamReader,
) -> tuple[int, dict[str, str]]:
    status = await reader.readline()
    if not status:
        raise ConnectionError("the server closed the connection")
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status.split()[1]), headers


def _request(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding") != "chunked":
        return await reader.read()
    chunks = []
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET on a connection of its own: status, headers (lower-case names), body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_request(path))
        status, headers = await _head(reader)
        return status, headers, await _body(reader, headers)
    finally:
        writer.close()


@dataclass
class Event:
    id: str | None
    name: str
    data: str


@dataclass
class SseClient:
    """An EventSource as a browser has it: reads events, remembers the last id."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int
    headers: dict[str, str]
    last_event_id: str | None = None
    retry: str | None = None
    comments: list[str] = field(default_factory=list)

    async def event(self) -> Event:
        """The next event (W3C EventSource parsing); comments such as keepalives are kept
        aside."""
        name, data, event_id = "message", [], None
        while True:
            line = await self._line()
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("retry:"):
                self.retry = line[6:].strip()
            elif line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and (data or event_id):
                if event_id is not None:
                    self.last_event_id = event_id
                return Event(event_id, name, "\n".join(data))

    async def _line(self) -> str:
        raw = await self.reader.readline()
        if not raw:
            raise ConnectionError("the stream ended")
        return raw.decode().rstrip("\r\n")

    def close(self) -> None:
        self.writer.close()


async def sse(port: int, path: str, last_event_id: str | None = None) -> SseClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    # HTTP/1.0: the server sends the body unchunked, so the SSE lines are the bytes read.
    writer.write(_request(path, headers).replace(b"HTTP/1.1", b"HTTP/1.0", 1))
    status, response_headers = await _head(reader)
    return SseClient(reader, writer, status, response_headers)
