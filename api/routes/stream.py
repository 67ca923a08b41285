"""GET /v1/stream: new measurements as Server-Sent Events, so dashboards need not poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api import params, queries
from api.deps import Conn
from api.errors import BadParameterError, BusyError, NotFoundError, TooManyRequestsError
from api.settings import ApiSettings
from api.stream import (
    OVERFLOW,
    Broadcaster,
    Filter,
    StreamFullError,
    Subscription,
    TooManyStreamsError,
)
from decoders import QUANTITIES

router = APIRouter(prefix="/v1/stream", tags=["live"])

_RETRY_AFTER_S = 30
_MAX_FILTER_VALUES = 1000
_FRAMES_PER_WRITE = 200  # events already queued go out in one write


@router.get(
    "",
    summary="New measurements as Server-Sent Events (text/event-stream)",
    description=(
        "First `retry:` and an `event: ready` whose `id` marks the start, then one "
        "`event: measurement` per stored value (`id`, `data`: dev_eui, quantity, sensor, time, "
        "value), and a `: keepalive` comment when nothing happens, so proxies keep the "
        "connection. Filter by `dev_eui`, `quantity` and `zone` (each may repeat; the devices "
        "of the zones when the stream starts): a value passes when it matches every kind "
        "given. A client that reconnects with `Last-Event-ID` (EventSource does; or the query "
        "parameter `last_event_id`) first gets what it missed, if that is within the window "
        "the server keeps (`api_stream_replay_s`); else `event: reset` says to re-read the "
        "current values. A client that falls 1000 events behind gets `event: overflow` and "
        "the stream ends. 429 when a client has too many streams open, 503 when the server "
        "serves its most; both with Retry-After."
    ),
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        429: {"description": "This client has too many streams open"},
        503: {"description": "The server serves as many streams as it allows"},
    },
)
async def stream(
    request: Request,
    conn: Conn,
    dev_eui: Annotated[list[str] | None, Query(description="Only these devices")] = None,
    quantity: Annotated[
        list[str] | None, Query(description="Only these quantity keys, see /v1/quantities")
    ] = None,
    zone: Annotated[
        list[int] | None, Query(description="Only the devices in these zones (ids)")
    ] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(alias="last_event_id", max_length=100, description="Resume after this event id"),
    ] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=100, include_in_schema=False)
    ] = None,
) -> StreamingResponse:
    settings: ApiSettings = request.app.state.settings
    broadcaster: Broadcaster = request.app.state.broadcaster
    client = request.client.host if request.client else "unknown"
    try:
        broadcaster.check_room(client)
        wanted = await _filter(conn, dev_eui, quantity, zone)
        subscription = await broadcaster.subscribe(
            client, wanted, last_event_id or last_event_id_query
        )
    except TooManyStreamsError as exc:
        raise TooManyRequestsError(str(exc), retry_after_s=_RETRY_AFTER_S) from None
    except StreamFullError as exc:
        raise BusyError(f"{exc}; try again later", retry_after_s=_RETRY_AFTER_S) from None
    return StreamingResponse(
        _events(subscription, broadcaster, settings.api_stream_heartbeat_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _filter(
    conn: Conn, dev_euis: list[str] | None, keys: list[str] | None, zone_ids: list[int] | None
) -> Filter:
    for name, given in (("dev_eui", dev_euis), ("quantity", keys), ("zone", zone_ids)):
        if given is not None and len(given) > _MAX_FILTER_VALUES:
            raise BadParameterError(f"at most {_MAX_FILTER_VALUES} values of {name}")
    for zone_id in zone_ids or ():
        if not 1 <= zone_id < 2**31:
            raise BadParameterError(f"zone {zone_id} is not a zone id")
    for key in keys or ():
        if key not in QUANTITIES:
            raise BadParameterError(f"unknown quantity {key!r}; /v1/quantities lists them")
    devices = frozenset(params.dev_eui(e) for e in dev_euis) if dev_euis else None
    if zone_ids:
        in_zones: set[str] = set()
        for zone_id in zone_ids:
            if await queries.zone(conn, zone_id) is None:
                raise NotFoundError(f"no zone with id {zone_id}")
            in_zones |= await queries.zone_dev_euis(conn, zone_id)
        devices = frozenset(in_zones) if devices is None else devices & in_zones
    return Filter(devices, frozenset(keys) if keys else None)


async def _events(
    subscription: Subscription, broadcaster: Broadcaster, heartbeat_s: float
) -> AsyncIterator[bytes]:
    try:
        yield subscription.ready
        for frame in subscription.backlog:
            yield frame
        subscription.backlog.clear()
        queue = subscription.queue
        while True:
            frames = []
            if queue.empty():
                try:
                    frames.append(await asyncio.wait_for(queue.get(), heartbeat_s))
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
            while not queue.empty() and len(frames) < _FRAMES_PER_WRITE:
                frames.append(queue.get_nowait())
            if None in frames:
                yield b"".join(f for f in frames[: frames.index(None)] if f) + OVERFLOW
                return
            yield b"".join(f for f in frames if f)
    finally:
        broadcaster.unsubscribe(subscription)
