"""Prometheus metrics of one ingest process, in a registry of its own (no import-time globals),
and the running totals it logs at stop.

Updated once per batch, not per message, so they cost nothing measurable on the hot path.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from ingest.batcher import Batch
    from ingest.writer import WriteResult

logger = logging.getLogger(__name__)

_BATCH_SIZES = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000)
_LATENCIES_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.received = Counter(
            "meetnet_ingest_messages_received", "MQTT messages taken from the broker", registry=r
        )
        self.stored = Counter(
            "meetnet_ingest_uplinks_stored", "Uplinks stored for the first time", registry=r
        )
        self.duplicates = Counter(
            "meetnet_ingest_uplinks_duplicate",
            "Uplinks already stored (re-deliveries), recognised by idempotency key",
            registry=r,
        )
        self.measurements = Counter(
            "meetnet_ingest_measurements_stored", "Measurement rows inserted", registry=r
        )
        self.events = Counter(
            "meetnet_ingest_device_events", "Joins, locations and statuses recorded", registry=r
        )
        self.skipped = Counter(
            "meetnet_ingest_messages_skipped",
            "Recognised messages with nothing to store (downlink events, logs...)",
            registry=r,
        )
        self.dead_lettered = Counter(
            "meetnet_ingest_dead_lettered",
            "Messages kept as dead letters, by pipeline stage",
            ["stage"],
            registry=r,
        )
        for stage in ("parse", "decode", "store"):
            self.dead_lettered.labels(stage)
        self.write_retries = Counter(
            "meetnet_ingest_write_retries",
            "Batches retried because the database was unavailable",
            registry=r,
        )
        self.batch_size = Histogram(
            "meetnet_ingest_batch_size",
            "Messages per committed batch",
            buckets=_BATCH_SIZES,
            registry=r,
        )
        self.commit_latency = Histogram(
            "meetnet_ingest_commit_seconds",
            "Time to write and commit one batch",
            buckets=_LATENCIES_S,
            registry=r,
        )
        self.folded = Counter(
            "meetnet_ingest_measurements_folded",
            "Queued measurements applied to latest and the rollups",
            registry=r,
        )
        self.fold_latency = Histogram(
            "meetnet_ingest_fold_seconds",
            "Time to fold the queued measurements into latest and the rollups (one transaction)",
            buckets=_LATENCIES_S,
            registry=r,
        )
        self.fold_pending = Gauge(
            "meetnet_ingest_fold_pending_batches",
            "Batches committed by this process whose measurements no fold has applied yet",
            registry=r,
        )
        self.fold_retries = Counter(
            "meetnet_ingest_fold_retries",
            "Folds retried because the database was unavailable or refused them",
            registry=r,
        )
        self.queue_depth = Gauge(
            "meetnet_ingest_queue_depth",
            "Messages taken from the broker and not yet acknowledged",
            registry=r,
        )
        self.lag = Gauge(
            "meetnet_ingest_lag_seconds",
            "Now minus the network server's received_at of the newest uplink just committed",
            registry=r,
        )
        self.connected = Gauge(
            "meetnet_ingest_broker_connected", "1 while connected to the MQTT broker", registry=r
        )

    def watch_held(self, held: Callable[[], int]) -> None:
        """`queue_depth` reads `held` whenever it is scraped, so it is never stale."""
        self.queue_depth.set_function(held)

    def account(self, batch: Batch, result: WriteResult, seconds: float) -> None:
        """Count a committed batch: once per batch, not per message."""
        self.received.inc(len(batch.messages))
        self.stored.inc(result.uplinks)
        self.duplicates.inc(result.duplicates)
        self.measurements.inc(result.measurements)
        self.events.inc(result.events)
        self.skipped.inc(batch.skipped)
        self.batch_size.observe(len(batch.messages))
        self.commit_latency.observe(seconds)
        if batch.uplinks:
            newest = max(u.uplink.received_at for u in batch.uplinks)
            self.lag.set((datetime.now(UTC) - newest).total_seconds())
        for letter in batch.letters:
            self.dead_lettered.labels(letter.stage.value).inc()

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics from a daemon thread (port 0: not at all)."""
        if not port:
            return
        try:
            start_http_server(port, host, registry=self.registry)
        except OSError as exc:  # metrics are not worth refusing to ingest over
            logger.error("cannot serve metrics on %s:%d: %s", host, port, exc)
            return
        logger.info("metrics on http://%s:%d/metrics", host, port)


@dataclass
class Stats:
    """Running totals, logged at stop (the metrics endpoint has them live)."""

    counts: Tally[str] = field(default_factory=Tally)

    def add(self, batch: Batch, result: WriteResult, seconds: float) -> None:
        self.counts.update(
            received=len(batch.messages),
            stored=result.uplinks,
            duplicates=result.duplicates,
            measurements=result.measurements,
            dead_letters=result.dead_letters,
            events=result.events,
            skipped=batch.skipped,
            batches=1,
            commit_ms=round(seconds * 1000),
        )
