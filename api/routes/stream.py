"""GET /v1/stream: new measurements as Server-Sent Events, so dashboards need not poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api import queries, zones
from api.deps import connection
from api.errors import ApiError, BadParameterError, NotFoundError
from api.settings import ApiSettings
from api.stream import Broadcaster, StreamFullError, Subscription
from decoders import QUANTITIES

router = APIRouter(prefix="/v1/stream", tags=["live"])


class StreamBusyError(ApiError):
    status = 503


@router.get(
    "",
    summary="New measurements as Server-Sent Events (text/event-stream)",
    description=(
        "First an `event: ready` once the server listens, then one `event: measurement` per "
        "stored value (`data`: dev_eui, quantity, sensor, time, value), and a `: keepalive` "
        "comment when nothing happens. Filter by `quantity` and/or `zone` (its devices when "
        "the stream starts). A client that falls 1000 events behind gets `event: overflow` "
        "and the stream ends; reconnect."
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream(
    request: Request,
    conn: Annotated[asyncpg.Connection, Depends(connection)],
    quantity: Annotated[str | None, Query(description="Quantity key, see /v1/quantities")] = None,
    zone: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Zone id")] = None,
) -> StreamingResponse:
    settings: ApiSettings = request.app.state.settings
    broadcaster: Broadcaster = request.app.state.broadcaster
    if quantity is not None and quantity not in QUANTITIES:
        raise BadParameterError(f"unknown quantity {quantity!r}; /v1/quantities lists them")
    dev_euis = None
    if zone is not None:
        await zones.place_moved_devices(conn)
        if await queries.zone(conn, zone) is None:
            raise NotFoundError(f"no zone with id {zone}")
        dev_euis = await queries.zone_dev_euis(conn, zone)
    try:
        subscription = await broadcaster.subscribe(quantity, dev_euis)
    except StreamFullError as exc:
        raise StreamBusyError(f"{exc}; try again later") from None
    return StreamingResponse(
        _events(subscription, broadcaster, settings.api_stream_heartbeat_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    subscription: Subscription, broadcaster: Broadcaster, heartbeat_s: float
) -> AsyncIterator[bytes]:
    try:
        yield b"event: ready\ndata: {}\n\n"
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), heartbeat_s)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if event is None:
                yield b'event: overflow\ndata: {"detail": "client too slow; reconnect"}\n\n'
                return
            yield b"event: measurement\ndata: " + orjson.dumps(event) + b"\n\n"
    finally:
        broadcaster.unsubscribe(subscription)
