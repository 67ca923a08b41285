"""Folding queued measurements into latest and the rollups, soon after each commit.

A batch's transaction only inserts its measurements and queues them (migrations/0040); this loop
applies the queue in a short transaction of its own after a batch committed: at once when the
last fold started `interval_s` or longer ago, else when it is that old. So a quiet fleet's values
are folded within milliseconds, and under load one fold covers every batch of the last second,
updating each (device, quantity, sensor, hour) once for all of them (bench/fold.py: under half
the database's CPU and WAL). The queue is in the database: a fold that fails is retried
with backoff and loses nothing meanwhile, and what a stopped or crashed process left queued is
folded by the next fold of any process (each folds once at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import asyncpg

from ingest.metrics import Metrics
from ingest.writer import TRANSIENT_ERRORS, Writer, WriteResult

logger = logging.getLogger(__name__)

INTERVAL_S = 1.0  # between the starts of two folds
_MIN_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 10.0
_CLOSE_TIMEOUT_S = 30.0  # for the fold in progress and the last one at stop


class Folding:
    """The fold loop of one ingest process: `start`, `committed` after each commit, `close`."""

    def __init__(self, writer: Writer, metrics: Metrics, interval_s: float = INTERVAL_S) -> None:
        self._writer = writer
        self._metrics = metrics
        self._interval_s = interval_s
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._pending = 0  # batches committed by this process that no fold has covered yet
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._wake.set()  # at start: whatever an earlier process committed and did not fold
        self._task = asyncio.create_task(self._run())

    def committed(self, result: WriteResult | None) -> None:
        """Called after each write: a batch that queued measurements wakes the fold."""
        if result is not None and result.measurements:
            self._pending += 1
            self._metrics.fold_pending.set(self._pending)
            self._wake.set()

    async def close(self) -> None:
        """Let the fold in progress finish, then fold once more for the last batches."""
        if self._task is None:
            return
        self._stop.set()
        self._wake.set()
        try:
            await asyncio.wait_for(self._task, _CLOSE_TIMEOUT_S)
        except TimeoutError:
            logger.warning("stopped before the last fold finished; the next fold applies it")
        self._task = None

    async def _fold(self) -> bool:
        """One fold; False (logged and counted) when it could not be committed."""
        covered = self._pending  # every batch committed so far is visible to this fold
        started = time.perf_counter()
        try:
            folded = await self._writer.fold()
        except TRANSIENT_ERRORS as exc:
            logger.warning("fold failed, database unavailable (%s: %s)", type(exc).__name__, exc)
        except asyncpg.PostgresError as exc:
            # Not the connection: a fault in the fold itself. Ingest goes on storing measurements
            # (they stay queued) rather than stopping over derived data.
            logger.error("fold refused by the database (%s: %s)", type(exc).__name__, exc)
        else:
            m = self._metrics
            m.fold_latency.observe(time.perf_counter() - started)
            m.folded.inc(folded)
            self._pending -= covered
            m.fold_pending.set(self._pending)
            return True
        self._metrics.fold_retries.inc()
        return False

    async def _run(self) -> None:
        delay = _MIN_BACKOFF_S
        due = 0.0  # when the next fold may start
        while True:
            await self._wake.wait()
            if (early := due - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):  # stopping does not wait
                    await asyncio.wait_for(self._stop.wait(), early)
            self._wake.clear()
            last = self._stop.is_set()
            due = time.monotonic() + self._interval_s
            if await self._fold():
                delay = _MIN_BACKOFF_S
            elif not last:
                self._wake.set()  # again after a pause, commits or not
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, _MAX_BACKOFF_S)
            if last:
                if self._pending:
                    logger.warning(
                        "stopping with %d batches not folded; the next fold applies them",
                        self._pending,
                    )
                return
