"""New measurements as they are stored, fanned out to Server-Sent-Events clients.

announce_measurements (migrations/0040, under ingest and store_measurements) sends each committed
batch on the PostgreSQL channel `meetnet_measurements`; one listening connection per API process,
opened with the first client, hands every measurement to the queues of the clients whose filter
it passes. Measurements are sent on the channel only while such a connection exists, so a
stream starts with the first batch that began after it listened. A client that does not keep up
loses its stream (told by an `overflow` event) rather than slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

logger = logging.getLogger(__name__)

CHANNEL = "meetnet_measurements"
LISTENER_NAME = "meetnet-stream"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RECONNECT_S = (0.5, 1.0, 2.0, 5.0, 10.0)


class StreamFullError(Exception):
    """Too many clients already follow the stream."""


@dataclass(eq=False)
class Subscription:
    quantity: str | None
    dev_euis: frozenset[str] | None  # None: every device
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=1000)
    )

    def wants(self, dev_eui: str, quantity: str) -> bool:
        return (self.quantity is None or quantity == self.quantity) and (
            self.dev_euis is None or dev_eui in self.dev_euis
        )


class Broadcaster:
    """One LISTEN connection per process; subscriptions get the measurements they filter for."""

    def __init__(self, dsn: str, max_clients: int) -> None:
        self._dsn = dsn
        self._max_clients = max_clients
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def subscribe(
        self, quantity: str | None, dev_euis: frozenset[str] | None
    ) -> Subscription:
        """Register a client; returns once the database connection listens."""
        if len(self._subscriptions) >= self._max_clients:
            raise StreamFullError(f"the stream already has {self._max_clients} clients")
        subscription = Subscription(quantity, dev_euis)
        self._subscriptions.add(subscription)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._listening.wait(), timeout=10)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

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
        for dev_eui, quantity, sensor, micros, value in rows:
            event = None
            for subscription in list(self._subscriptions):
                if not subscription.wants(dev_eui, quantity):
                    continue
                if event is None:
                    event = {
                        "dev_eui": dev_eui,
                        "quantity": quantity,
                        "sensor": sensor,
                        "time": (_EPOCH + timedelta(microseconds=micros))
                        .isoformat()
                        .replace("+00:00", "Z"),
                        "value": value,
                    }
                try:
                    subscription.queue.put_nowait(event)
                except asyncio.QueueFull:
                    logger.warning("stream: client too slow, its stream is ended")
                    self._subscriptions.discard(subscription)
                    with contextlib.suppress(asyncio.QueueEmpty):
                        subscription.queue.get_nowait()
                    subscription.queue.put_nowait(None)
