"""The ingest loop: take messages, process them in batches, commit, then acknowledge."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from ingest.model import DeadLetter, DecodedUplink
from ingest.pipeline import Pipeline, Skipped
from ingest.settings import IngestSettings
from ingest.subscriber import Message, Subscriber
from ingest.writer import TRANSIENT_ERRORS, Writer, WriteResult, store_failure

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0


@dataclass
class Stats:
    """Running totals, logged now and then; the basis of the metrics endpoint to come."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, result: WriteResult, skipped: int, received: int) -> None:
        self.counts.update(
            received=received,
            stored=result.uplinks,
            duplicates=result.duplicates,
            measurements=result.measurements,
            dead_letters=result.dead_letters,
            skipped=skipped,
        )


async def collect(
    queue: asyncio.Queue[Message], size: int, interval_s: float, idle_s: float = 0.25
) -> list[Message]:
    """Take up to `size` messages, waiting at most `interval_s` after the first one arrived.

    Returns an empty list when nothing arrived within `idle_s`, so the caller can check for stop.
    """
    if queue.empty() and idle_s <= 0:
        return []
    try:
        batch = [await asyncio.wait_for(queue.get(), idle_s) if idle_s > 0 else queue.get_nowait()]
    except TimeoutError:
        return []
    deadline = time.monotonic() + interval_s
    while len(batch) < size:
        while not queue.empty() and len(batch) < size:
            batch.append(queue.get_nowait())
        remaining = deadline - time.monotonic()
        if len(batch) >= size or remaining <= 0:
            break
        try:
            batch.append(await asyncio.wait_for(queue.get(), remaining))
        except TimeoutError:
            break
    return batch


class Ingest:
    """Wires subscriber, pipeline and writer; after `stop`, `run` finishes what is in hand."""

    def __init__(self, settings: IngestSettings, pool: asyncpg.Pool, writer: Writer) -> None:
        self._settings = settings
        self._pool = pool
        self._writer = writer
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._stop = asyncio.Event()
        self.stats = Stats()
        self._pipeline = Pipeline(default_decoder=settings.default_decoder)

    def stop(self) -> None:
        self._stop.set()

    async def refresh_registered_decoders(self) -> None:
        rows = await self._pool.fetch(
            "SELECT dev_eui, decoder FROM devices WHERE decoder IS NOT NULL"
        )
        self._pipeline = Pipeline(
            default_decoder=self._settings.default_decoder,
            registered={r["dev_eui"]: r["decoder"] for r in rows},
        )

    async def run(self) -> None:
        await self.refresh_registered_decoders()
        subscriber = Subscriber(self._settings, asyncio.get_running_loop(), self._queue)
        subscriber.start()
        size, interval_s = self._settings.batch_size, self._settings.batch_interval_ms / 1000
        try:
            while not self._stop.is_set():
                batch = await collect(self._queue, size, interval_s)
                if batch:
                    await self._handle(batch)
                    subscriber.ack(batch)
            # Stop: commit and acknowledge what is in hand, leave the rest to the session.
            subscriber.pause()
            while batch := await collect(self._queue, size, interval_s=0, idle_s=0):
                await self._handle(batch)
                subscriber.ack(batch)
        finally:
            subscriber.stop()
            logger.info("ingest stopped: %s", dict(self.stats.counts))

    async def _handle(self, batch: list[Message]) -> None:
        uplinks: list[DecodedUplink] = []
        letters: list[DeadLetter] = []
        raw_by_key: dict[str, bytes] = {}
        skipped = 0
        for message in batch:
            for outcome in self._pipeline.process(message.topic, message.payload):
                if isinstance(outcome, DecodedUplink):
                    uplinks.append(outcome)
                    raw_by_key[outcome.uplink.idempotency_key] = message.payload
                elif isinstance(outcome, DeadLetter):
                    letters.append(outcome)
                elif isinstance(outcome, Skipped):
                    skipped += 1
        result = await self._write_until_committed(uplinks, letters, raw_by_key)
        self.stats.add(result, skipped, len(batch))

    async def _write_until_committed(
        self,
        uplinks: list[DecodedUplink],
        letters: list[DeadLetter],
        raw_by_key: dict[str, bytes],
    ) -> WriteResult:
        """Retry through outages with backoff; isolate rows the database refuses as dead letters."""
        delay = 0.5
        while True:
            try:
                try:
                    return await self._writer.write(uplinks, letters)
                except TRANSIENT_ERRORS:
                    raise
                except asyncpg.PostgresError as exc:
                    logger.error("batch refused (%s); writing its uplinks one by one", exc)
                    return await self._write_one_by_one(uplinks, letters, raw_by_key)
            except TRANSIENT_ERRORS as exc:
                logger.warning(
                    "database unavailable (%s: %s); retrying in %.1fs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, _MAX_BACKOFF_S)

    async def _write_one_by_one(
        self,
        uplinks: list[DecodedUplink],
        letters: list[DeadLetter],
        raw_by_key: dict[str, bytes],
    ) -> WriteResult:
        totals = Counter[str]()
        refused: list[DeadLetter] = list(letters)
        for item in uplinks:
            try:
                result = await self._writer.write([item], [])
            except TRANSIENT_ERRORS:
                raise
            except asyncpg.PostgresError as exc:  # this uplink's data, not the connection
                raw = raw_by_key[item.uplink.idempotency_key]
                refused.append(store_failure(item, raw, exc))
                continue
            totals.update(
                uplinks=result.uplinks,
                duplicates=result.duplicates,
                measurements=result.measurements,
            )
        await self._writer.write([], refused)
        return WriteResult(
            totals["uplinks"], totals["duplicates"], totals["measurements"], len(refused)
        )
