"""New measurements as they are stored, fanned out to Server-Sent-Events clients.

announce_measurements (migrations/0040, under ingest and store_measurements) sends each committed
batch on the PostgreSQL channel `meetnet_measurements`. One connection per API process, of its
own and not from the pool, listens from the first client on; every measurement becomes one
event, rendered once, with an id `EPOCH-SEQ` (SEQ counts events in this process, EPOCH names
the listening connection). The last events are kept for a bounded window, so a client that
reconnects with `Last-Event-ID` gets what it missed; one whose id is older than the window, or
from a listening connection since lost (notifications were missed meanwhile), is told so with a
`reset` event. A client that does not keep up loses its stream (an `overflow` event) rather than
slowing the others; it can resume from its last id.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

logger = logging.getLogger(__name__)

CHANNEL = "meetnet_measurements"
LISTENER_NAME = "meetnet-stream"
QUEUE_EVENTS = 1000  # events a client may fall behind before its stream ends
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RECONNECT_S = (0.5, 1.0, 2.0, 5.0, 10.0)
OVERFLOW = b'event: overflow\ndata: {"detail": "client too slow; reconnect with Last-Event-ID"}\n\n'


def _rfc3339(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).isoformat().replace("+00:00", "Z")


def reset_frame(detail: str) -> bytes:
    return b"event: reset\ndata: " + orjson.dumps({"detail": detail}) + b"\n\n"


_LISTENER_LOST = reset_frame(
    "the server lost its database connection for a moment; values stored meanwhile are not "
    "in the stream: read them from the REST API"
)


class StreamFullError(Exception):
    """The process already serves as many streams as it allows."""


class TooManyStreamsError(Exception):
    """This client already has as many streams open as one client may."""


@dataclass(frozen=True, slots=True)
class Filter:
    """Which measurements a client wants; None: no restriction of that kind."""

    dev_euis: frozenset[str] | None = None
    quantities: frozenset[str] | None = None

    def wants(self, dev_eui: str, quantity: str) -> bool:
        return (self.quantities is None or quantity in self.quantities) and (
            self.dev_euis is None or dev_eui in self.dev_euis
        )


@dataclass(frozen=True, slots=True)
class _Event:
    seq: int
    at: float  # time.monotonic() when it arrived
    dev_eui: str
    quantity: str
    frame: bytes  # the whole SSE event, id included


@dataclass(eq=False)
class Subscription:
    client: str
    filter: Filter
    ready: bytes  # the first frames: retry, ready (with the current id), reset if any
    backlog: list[bytes]  # events missed since Last-Event-ID, to send before the queue
    queue: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_EVENTS)
    )


class Broadcaster:
    """One LISTEN connection per process; subscriptions get the measurements they filter for."""

    def __init__(
        self,
        dsn: str,
        max_clients: int,
        max_per_client: int,
        replay_events: int,
        replay_s: float,
        retry_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dsn = dsn
        self._max_clients = max_clients
        self._max_per_client = max_per_client
        self._replay_events = replay_events
        self._replay_s = replay_s
        self._retry = f"retry: {retry_ms}\n".encode()
        self._clock = clock
        self._subscriptions: set[Subscription] = set()
        self._per_client: collections.Counter[str] = collections.Counter()
        self._recent: collections.deque[_Event] = collections.deque()
        self._seq = 0
        self._epoch = ""
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @property
    def clients(self) -> int:
        return len(self._subscriptions)

    def check_room(self, client: str) -> None:
        """Raise when a new stream of this client would pass a cap (before any work for it)."""
        if self._per_client[client] >= self._max_per_client:
            raise TooManyStreamsError(
                f"this client already has {self._max_per_client} streams open, the most one "
                "client may; close one (one stream can follow several devices or quantities)"
            )
        if len(self._subscriptions) >= self._max_clients:
            raise StreamFullError(f"the stream already has {self._max_clients} clients")

    async def subscribe(
        self, client: str, wanted: Filter, last_event_id: str | None
    ) -> Subscription:
        """Register a client once the database connection listens, with what it missed."""
        self.check_room(client)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._listening.wait(), timeout=10)
        self.check_room(client)  # others may have come in while this one waited
        # From here to the end nothing awaits: no event can slip between backlog and queue.
        backlog, reset = self._missed(wanted, last_event_id)
        ready = (
            self._retry + f"id: {self._epoch}-{self._seq}\nevent: ready\ndata: {{}}\n\n".encode()
        )
        subscription = Subscription(client, wanted, ready + reset, backlog)
        self._subscriptions.add(subscription)
        self._per_client[client] += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.discard(subscription)
            self._per_client[subscription.client] -= 1
            if self._per_client[subscription.client] <= 0:
                del self._per_client[subscription.client]

    def _missed(self, wanted: Filter, last_event_id: str | None) -> tuple[list[bytes], bytes]:
        """Events after `last_event_id` that pass the filter, or a reset frame saying why not."""
        if last_event_id is None:
            return [], b""
        epoch, _, number = last_event_id.strip().rpartition("-")
        if epoch != self._epoch or not number.isdigit() or int(number) > self._seq:
            return [], reset_frame(
                f"events after {last_event_id[:40]!r} are not available from this server; read "
                "the current values from the REST API"
            )
        after = int(number)
        self._forget_old()
        oldest = self._recent[0].seq if self._recent else self._seq + 1
        if after < oldest - 1:
            return [], reset_frame(
                f"events after {last_event_id[:40]!r} are older than the {self._replay_s:g} s "
                "the server keeps; read the current values from the REST API"
            )
        return [
            e.frame for e in self._recent if e.seq > after and wanted.wants(e.dev_eui, e.quantity)
        ], b""

    def _forget_old(self) -> None:
        horizon = self._clock() - self._replay_s
        while self._recent and (
            len(self._recent) > self._replay_events or self._recent[0].at < horizon
        ):
            self._recent.popleft()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        attempt = 0
        while True:
            conn = None
            try:
                # The name tells announce_measurements (migrations/0040) that someone listens.
                conn = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": LISTENER_NAME}
                )
                await conn.add_listener(CHANNEL, self._deliver)
                if self._epoch:  # a listener before this one was lost: events were missed
                    self._recent.clear()
                    for subscription in list(self._subscriptions):
                        self._put(subscription, _LISTENER_LOST)
                self._epoch = secrets.token_hex(4)
                self._listening.set()
                attempt = 0
                # Wait for the connection to break; asyncpg delivers notifications meanwhile.
                while not conn.is_closed():
                    await asyncio.sleep(1)
                    await conn.execute("SELECT 1")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._listening.clear()
                delay = _RECONNECT_S[min(attempt, len(_RECONNECT_S) - 1)]
                attempt += 1
                logger.warning("stream listener lost the database (%s); retry in %ss", exc, delay)
                await asyncio.sleep(delay)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()

    def _deliver(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        try:
            rows = orjson.loads(payload)
        except orjson.JSONDecodeError:
            logger.warning("stream: unreadable notification skipped")
            return
        now = self._clock()
        for dev_eui, quantity, sensor, micros, value in rows:
            self._seq += 1
            data = {
                "dev_eui": dev_eui,
                "quantity": quantity,
                "sensor": sensor,
                "time": (_EPOCH + timedelta(microseconds=micros))
                .isoformat()
                .replace("+00:00", "Z"),
                "value": value,
            }
            frame = (
                f"id: {self._epoch}-{self._seq}\nevent: measurement\ndata: ".encode()
                + orjson.dumps(data)
                + b"\n\n"
            )
            self._recent.append(_Event(self._seq, now, dev_eui, quantity, frame))
            for subscription in list(self._subscriptions):
                if subscription.filter.wants(dev_eui, quantity):
                    self._put(subscription, frame)
        self._forget_old()

    def _put(self, subscription: Subscription, frame: bytes) -> None:
        try:
            subscription.queue.put_nowait(frame)
        except asyncio.QueueFull:
            logger.warning("stream: client %s too slow, its stream is ended", subscription.client)
            self.unsubscribe(subscription)
            with contextlib.suppress(asyncio.QueueEmpty):
                subscription.queue.get_nowait()
            subscription.queue.put_nowait(None)
