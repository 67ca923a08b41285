"""Back-pressure between the collector and the writers, and acknowledgements in arrival order.

At most `depth` prepared batches wait for a writer; when the database is slow or down the
collector stops taking, the subscriber's unacknowledged window fills up and the broker stops
sending, so memory stays bounded and nothing is acknowledged that is not committed. Writers
finish in any order, but each acknowledges only when every earlier batch has been acknowledged
(MQTT 3.1.1 §4.6: PUBACKs in the order the PUBLISH packets arrived).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

from ingest.batcher import Batch

DEPTH = 1  # prepared batches waiting while the writers are busy


class Handoff:
    """A bounded queue of prepared batches with an acknowledgement turn for each."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._ready: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=depth)
        self._sequence = 0  # of the next batch put
        self._acked = 0  # batches whose turn is over
        self._turn = asyncio.Condition()

    async def put(self, batch: Batch, writing: asyncio.Future[Any]) -> None:
        """Hand a batch to the writers, waiting while `depth` wait already; gives up when the
        writers ended (`writing` done)."""
        batch.sequence, self._sequence = self._sequence, self._sequence + 1
        await self._put(batch, writing)

    async def close(self, writers: int, writing: asyncio.Future[Any]) -> None:
        """Tell each of `writers` writers, after the batches in hand, that there are no more."""
        for _ in range(writers):
            if not writing.done():
                await self._put(None, writing)

    async def _put(self, item: Batch | None, writing: asyncio.Future[Any]) -> None:
        put = asyncio.ensure_future(self._ready.put(item))
        await asyncio.wait({put, writing}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()

    async def get(self) -> Batch | None:
        """The next batch to write; None once there are no more."""
        return await self._ready.get()

    @contextlib.asynccontextmanager
    async def turn(self, batch: Batch) -> AsyncIterator[None]:
        """Held while acknowledging `batch`: entered once every earlier batch's turn is over."""
        async with self._turn:
            await self._turn.wait_for(functools.partial(self._is_turn, batch.sequence))
            try:
                yield
            finally:
                self._acked += 1
                self._turn.notify_all()

    def _is_turn(self, sequence: int) -> bool:
        return self._acked == sequence
