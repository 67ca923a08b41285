"""The ingest loop: take messages, process them in batches, commit, then acknowledge.

The collector takes a batch from the subscriber and parses and decodes it (CPU in this process)
while `settings.writers` writer tasks commit earlier batches on their own connections (CPU in
PostgreSQL); acknowledgements go out in arrival order, each after its batch committed. At most
`_PIPELINE_DEPTH` prepared batches wait for a writer; when the database is slow or down the
collector stops taking, the unacknowledged window fills up and the
broker stops sending — memory stays bounded and nothing is acknowledged that is not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from decoders import DECODERS
from decoders.rules import RULES
from ingest.codecs import load_js_codecs
from ingest.envelopes import Router
from ingest.folding import Folding
from ingest.metrics import Metrics
from ingest.model import DeadLetter, DecodedUplink, DeviceEvent, Stage
from ingest.pipeline import Pipeline, Skipped
from ingest.settings import IngestSettings
from ingest.subscriber import Message, Subscriber
from ingest.writer import DATA_ERRORS, TRANSIENT_ERRORS, Writer, WriteResult, store_failure

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0
_PIPELINE_DEPTH = 1  # prepared batches waiting while one is being written


@dataclass
class Stats:
    """Running totals, logged at stop (the metrics endpoint has them live)."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, result: WriteResult, skipped: int, received: int) -> None:
        self.counts.update(
            received=received,
            stored=result.uplinks,
            duplicates=result.duplicates,
            measurements=result.measurements,
            dead_letters=result.dead_letters,
            events=result.events,
            skipped=skipped,
        )


@dataclass(slots=True)
class Batch:
    """Messages taken together and what the pipeline made of them."""

    messages: list[Message]
    uplinks: list[DecodedUplink] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    events: list[DeviceEvent] = field(default_factory=list)
    raw_events: list[bytes] = field(default_factory=list)
    raw_by_key: dict[str, bytes] = field(default_factory=dict)
    skipped: int = 0
    sequence: int = 0  # acknowledgement order


# Messages parsed and decoded between two turns of the event loop. Decoding a whole batch at
# once held the loop for tens of milliseconds, during which the writers' database round trips
# waited: the database sat idle and every commit, hence every acknowledgement, came later. Each
# round trip still waits for the slice in hand (~0.6 ms for 10 messages); a turn of the loop
# costs ~3 us, so small slices are cheap.
_PREPARE_SLICE = 10


async def prepare(pipeline: Pipeline, messages: list[Message]) -> Batch:
    """Parse and decode every message of a batch, letting the writers run in between."""
    batch = Batch(messages)
    for start in range(0, len(messages), _PREPARE_SLICE):
        if start:
            await asyncio.sleep(0)
        _prepare_slice(pipeline, messages[start : start + _PREPARE_SLICE], batch)
    return batch


def _prepare_slice(pipeline: Pipeline, messages: list[Message], batch: Batch) -> None:
    """The hot path: keep it lean."""
    uplinks, letters, events = batch.uplinks, batch.letters, batch.events
    raw_by_key = batch.raw_by_key
    process = pipeline.process
    for message in messages:
        for outcome in process(message.topic, message.payload):
            if type(outcome) is DecodedUplink:
                uplinks.append(outcome)
                raw_by_key[outcome.uplink.idempotency_key] = message.payload
            elif type(outcome) is DeadLetter:
                letters.append(outcome)
            elif type(outcome) is DeviceEvent:
                events.append(outcome)
                batch.raw_events.append(message.payload)
            elif type(outcome) is Skipped:
                batch.skipped += 1


class Ingest:
    """Wires subscriber, pipeline and writer; after `stop`, `run` finishes what is in hand."""

    def __init__(
        self,
        settings: IngestSettings,
        pool: asyncpg.Pool,
        writer: Writer,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._writer = writer
        self._stop = asyncio.Event()
        self.stats = Stats()
        self.metrics = metrics or Metrics()
        self._folding = Folding(writer, self.metrics)
        self._router = Router(settings.subscriptions)
        codecs, rules = (
            load_js_codecs(settings.codecs_dir) if settings.codecs_dir else (DECODERS, RULES)
        )
        self._pipeline = Pipeline(
            default_decoder=settings.default_decoder,
            router=self._router,
            codecs=codecs,
            rules=rules,
        )

    def stop(self) -> None:
        self._stop.set()

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline

    async def refresh_registered_decoders(self) -> None:
        rows = await self._pool.fetch(
            "SELECT dev_eui, decoder FROM devices WHERE decoder IS NOT NULL"
        )
        self._pipeline = dataclasses.replace(
            self._pipeline, registered={r["dev_eui"]: r["decoder"] for r in rows}
        )

    async def run(self) -> None:
        await self.refresh_registered_decoders()
        subscriber = Subscriber(
            self._settings,
            asyncio.get_running_loop(),
            on_connected=lambda up: self.metrics.connected.set(1 if up else 0),
        )
        subscriber.start()
        self._folding.start()
        ready: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=_PIPELINE_DEPTH)
        writers = self._settings.writers
        self._acked = 0
        self._turn = asyncio.Condition()
        writing = asyncio.gather(*(self._write_loop(ready, subscriber) for _ in range(writers)))
        sequence = 0
        size = self._settings.batch_size
        interval_s = self._settings.batch_interval_ms / 1000
        try:
            while not self._stop.is_set() and not writing.done():
                messages = await self._collect(subscriber, size, interval_s)
                if messages:
                    batch = await prepare(self._pipeline, messages)
                    batch.sequence, sequence = sequence, sequence + 1
                    await self._put(ready, batch, writing)
            # Stop: commit and acknowledge what is in hand, leave the rest to the session.
            subscriber.pause()
            while (messages := subscriber.take(size)) and not writing.done():
                batch = await prepare(self._pipeline, messages)
                batch.sequence, sequence = sequence, sequence + 1
                await self._put(ready, batch, writing)
            for _ in range(writers):
                if not writing.done():
                    await self._put(ready, None, writing)
            await writing
        finally:
            if not writing.done():
                writing.cancel()
            subscriber.stop()
            await self._folding.close()
            logger.info("ingest stopped: %s", dict(self.stats.counts))

    @staticmethod
    async def _put(
        ready: asyncio.Queue[Batch | None], batch: Batch | None, writing: asyncio.Future[Any]
    ) -> None:
        put = asyncio.ensure_future(ready.put(batch))
        await asyncio.wait({put, writing}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()

    async def _collect(self, subscriber: Subscriber, size: int, interval_s: float) -> list[Message]:
        """Up to `size` messages, waiting at most `interval_s` after the first one arrived;
        empty when nothing arrived for a quarter second (so the caller can check for stop)."""
        if not await subscriber.wait(0.25):
            return []
        batch = subscriber.take(size)
        deadline = time.monotonic() + interval_s
        while len(batch) < size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await subscriber.wait(remaining):
                break
            batch += subscriber.take(size - len(batch))
        self.metrics.queue_depth.set(subscriber.held)
        return batch

    async def _write_loop(self, ready: asyncio.Queue[Batch | None], subscriber: Subscriber) -> None:
        """One of `settings.writers` concurrent writers; acknowledgements still go out in the
        order the messages arrived (MQTT 3.1.1 §4.6), each after its own batch committed."""
        while (batch := await ready.get()) is not None:
            started = time.perf_counter()
            result = await self._write_until_committed(batch)
            self._folding.committed(result)
            async with self._turn:
                await self._turn.wait_for(functools.partial(self._is_turn, batch.sequence))
                if result is None:  # stopping while the database is away: the broker keeps it
                    subscriber.release(len(batch.messages))
                else:
                    subscriber.ack(batch.messages)
                self._acked += 1
                self._turn.notify_all()
            if result is None:
                return
            self._account(batch, result, time.perf_counter() - started)

    def _is_turn(self, sequence: int) -> bool:
        return self._acked == sequence

    def _account(self, batch: Batch, result: WriteResult, seconds: float) -> None:
        m = self.metrics
        m.received.inc(len(batch.messages))
        m.stored.inc(result.uplinks)
        m.duplicates.inc(result.duplicates)
        m.measurements.inc(result.measurements)
        m.events.inc(result.events)
        m.skipped.inc(batch.skipped)
        m.batch_size.observe(len(batch.messages))
        m.commit_latency.observe(seconds)
        if batch.uplinks:
            newest = max(u.uplink.received_at for u in batch.uplinks)
            m.lag.set((datetime.now(UTC) - newest).total_seconds())
        self.stats.add(result, batch.skipped, len(batch.messages))
        self.stats.counts.update(batches=1, commit_ms=round(seconds * 1000))
        seen: set[bytes] = set()
        for letter in batch.letters:
            m.dead_lettered.labels(letter.stage.value).inc()
            if letter.fingerprint not in seen:
                seen.add(letter.fingerprint)
                logger.warning(
                    "dead letter (%s): %s",
                    letter.stage.value,
                    letter.reason,
                    extra={"dev_eui": letter.dev_eui, "topic": letter.topic},
                )

    async def _write_until_committed(self, batch: Batch) -> WriteResult | None:
        """Retry through outages with backoff; isolate rows the database refuses as dead letters.

        None when asked to stop while the database is unavailable: nothing committed, nothing
        acknowledged, the broker keeps the messages for the next run.
        """
        delay = 0.5
        while True:
            try:
                try:
                    return await self._writer.write(batch.uplinks, batch.letters, batch.events)
                except TRANSIENT_ERRORS:
                    raise
                except DATA_ERRORS as exc:
                    logger.error("batch refused (%s); writing its uplinks one by one", exc)
                    return await self._write_one_by_one(batch)
            except TRANSIENT_ERRORS as exc:
                if self._stop.is_set():
                    logger.warning("stopping while the database is unavailable (%s)", exc)
                    return None
                logger.warning(
                    "database unavailable (%s: %s); retrying in %.1fs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                self.metrics.write_retries.inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, _MAX_BACKOFF_S)

    async def _write_one_by_one(self, batch: Batch) -> WriteResult:
        totals = Counter[str]()
        refused: list[DeadLetter] = list(batch.letters)
        for item in batch.uplinks:
            try:
                result = await self._writer.write([item], [])
            except TRANSIENT_ERRORS:
                raise
            except DATA_ERRORS as exc:  # this uplink's data, not the connection
                raw = batch.raw_by_key[item.uplink.idempotency_key]
                refused.append(store_failure(item, raw, exc))
                continue
            totals.update(
                uplinks=result.uplinks,
                duplicates=result.duplicates,
                measurements=result.measurements,
            )
        events = 0
        for event, raw in zip(batch.events, batch.raw_events, strict=True):
            try:
                events += (await self._writer.write([], [], [event])).events
            except TRANSIENT_ERRORS:
                raise
            except DATA_ERRORS as exc:
                reason = f"could not store the {event.kind} event: {type(exc).__name__}: {exc}"
                refused.append(DeadLetter(event.topic, raw, Stage.STORE, reason, event.dev_eui))
        await self._writer.write([], refused)
        batch.letters = refused
        return WriteResult(
            totals["uplinks"], totals["duplicates"], totals["measurements"], len(refused), events
        )
