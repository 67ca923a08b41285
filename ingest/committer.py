"""Writing a prepared batch until it is committed: retried through outages, bad rows isolated.

After OpenTelemetry's `BatchProcessor`: a flush that fails because the database is away is
retried with exponential backoff (and jitter) without stopping the subscriber; a batch the
database refuses for its data is written uplink by uplink, and what cannot be stored becomes a
store-stage dead letter. Any other error is a bug and propagates: it stops ingest, and the
broker keeps the unacknowledged messages. The sink is anything with the `Writer.write`
signature (the PostgreSQL writer, or an in-memory fake in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from ingest.batcher import Batch
from ingest.metrics import Metrics
from ingest.model import DeadLetter, DecodedUplink, DeviceEvent
from ingest.writer import (
    DATA_ERRORS,
    TRANSIENT_ERRORS,
    WriteResult,
    event_store_failure,
    store_failure,
)

logger = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0


class Sink(Protocol):
    """Where batches go: all of it in one transaction, or an exception."""

    async def write(
        self,
        uplinks: Sequence[DecodedUplink],
        dead_letters: Sequence[DeadLetter],
        events: Sequence[DeviceEvent] = (),
    ) -> WriteResult: ...


class Committer:
    """Commits batches to `sink`; gives up only when `stop` is set while the database is away."""

    def __init__(
        self,
        sink: Sink,
        stop: asyncio.Event,
        metrics: Metrics,
        first_backoff_s: float = FIRST_BACKOFF_S,
    ) -> None:
        self._sink = sink
        self._stop = stop
        self._metrics = metrics
        self._first_backoff_s = first_backoff_s

    async def commit(self, batch: Batch) -> WriteResult | None:
        """Retry through outages with backoff; isolate rows the database refuses as dead letters.

        None when asked to stop while the database is unavailable: nothing committed, nothing
        acknowledged, the broker keeps the messages for the next run.
        """
        delay = self._first_backoff_s
        while True:
            try:
                try:
                    return await self._sink.write(batch.uplinks, batch.letters, batch.events)
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
                self._metrics.write_retries.inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, MAX_BACKOFF_S)

    async def _write_one_by_one(self, batch: Batch) -> WriteResult:
        totals = Counter[str]()
        refused: list[DeadLetter] = list(batch.letters)
        for item in batch.uplinks:
            try:
                result = await self._sink.write([item], [])
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
                events += (await self._sink.write([], [], [event])).events
            except TRANSIENT_ERRORS:
                raise
            except DATA_ERRORS as exc:
                refused.append(event_store_failure(event, raw, exc))
        await self._sink.write([], refused)
        batch.letters = refused
        return WriteResult(
            totals["uplinks"], totals["duplicates"], totals["measurements"], len(refused), events
        )
