"""The ingest process's lifecycle: wire the parts, run them, and stop in order.

The collector takes a batch from the subscriber (`batcher`) and parses and decodes it (CPU in
this process) while `settings.writers` writer tasks commit earlier batches on their own
connections (`committer`, CPU in PostgreSQL); the `handoff` between them bounds what waits and
keeps acknowledgements in arrival order, each after its batch committed. At stop, what is in
hand is committed and acknowledged; the rest stays with the broker's session.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from datetime import timedelta

import asyncpg
import orjson

from decoders import DECODERS
from decoders.profiles import Profile, ProfileError
from decoders.profiles import parse as parse_profile
from decoders.rules import RULES
from ingest.batcher import collect, prepare
from ingest.codecs import load_js_codecs
from ingest.committer import Committer
from ingest.envelopes import Router
from ingest.folding import Folding
from ingest.handoff import Handoff
from ingest.metrics import Metrics, Stats
from ingest.model import DeadLetter
from ingest.pipeline import Pipeline
from ingest.settings import IngestSettings
from ingest.subscriber import Subscriber
from ingest.writer import Writer

logger = logging.getLogger(__name__)

# Devices whose decoder or profile an operator chose (migrations/0065), with that profile.
_CONFIGURED_DEVICES = """
SELECT d.dev_eui, d.decoder, d.profile, p.decoder AS for_decoder, p.channels::text AS channels
FROM devices d LEFT JOIN device_profiles p ON p.name = d.profile
WHERE d.decoder IS NOT NULL OR d.profile IS NOT NULL
"""
_REFRESH_S = 10.0


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
        self._stop = asyncio.Event()
        self.stats = Stats()
        self.metrics = metrics or Metrics()
        self._committer = Committer(writer, self._stop, self.metrics)
        self._folding = Folding(writer, self.metrics)
        codecs, rules = (
            load_js_codecs(settings.codecs_dir) if settings.codecs_dir else (DECODERS, RULES)
        )
        self._pipeline = Pipeline(
            default_decoder=settings.default_decoder,
            router=Router(settings.subscriptions),
            codecs=codecs,
            rules=rules,
            max_clock_skew=timedelta(seconds=settings.max_clock_skew_s),
        )

    def stop(self) -> None:
        self._stop.set()

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline

    async def refresh_registered_decoders(self) -> None:
        """Take up the decoders and device profiles operators set on devices."""
        rows = await self._pool.fetch(_CONFIGURED_DEVICES)
        profiles: dict[str, Profile] = {}
        for r in rows:
            if r["profile"] is None:
                continue
            try:
                channels = orjson.loads(r["channels"])
                profiles[r["dev_eui"]] = parse_profile(r["profile"], r["for_decoder"], channels)
            except (ProfileError, orjson.JSONDecodeError) as exc:  # say so, decode without it
                reason = exc.reason if isinstance(exc, ProfileError) else str(exc)
                logger.error("device profile not used: %s", reason, extra={"dev_eui": r["dev_eui"]})
        self._pipeline = dataclasses.replace(
            self._pipeline,
            registered={r["dev_eui"]: r["decoder"] for r in rows if r["decoder"] is not None},
            device_profiles=profiles,
        )

    async def _keep_refreshing(self) -> None:
        """A decoder or profile set through the API applies within `_REFRESH_S` seconds."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), _REFRESH_S)
            if self._stop.is_set():
                return
            try:
                await self.refresh_registered_decoders()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("could not reload device configuration: %s", exc)

    async def run(self) -> None:
        await self.refresh_registered_decoders()
        refreshing = asyncio.create_task(self._keep_refreshing())
        subscriber = Subscriber(
            self._settings,
            asyncio.get_running_loop(),
            on_connected=lambda up: self.metrics.connected.set(1 if up else 0),
        )
        self.metrics.watch_held(lambda: subscriber.held)
        subscriber.start()
        self._folding.start()
        handoff = Handoff()
        writers = self._settings.writers
        writing = asyncio.gather(*(self._write_loop(handoff, subscriber) for _ in range(writers)))
        size = self._settings.batch_size
        interval_s = self._settings.batch_interval_ms / 1000
        try:
            while not self._stop.is_set() and not writing.done():
                messages = await collect(subscriber, size, interval_s, self._stop)
                if messages:
                    await handoff.put(await prepare(self._pipeline, messages), writing)
            # Stop: commit and acknowledge what is in hand, leave the rest to the session.
            subscriber.pause()
            while (messages := subscriber.take(size)) and not writing.done():
                await handoff.put(await prepare(self._pipeline, messages), writing)
            await handoff.close(writers, writing)
            await writing
        finally:
            if not writing.done():
                writing.cancel()
            subscriber.stop()
            refreshing.cancel()
            await self._folding.close()
            logger.info("ingest stopped: %s", dict(self.stats.counts))

    async def _write_loop(self, handoff: Handoff, subscriber: Subscriber) -> None:
        """One of `settings.writers` concurrent writers; acknowledgements still go out in the
        order the messages arrived, each after its own batch committed."""
        while (batch := await handoff.get()) is not None:
            started = time.perf_counter()
            result = await self._committer.commit(batch)
            self._folding.committed(result)
            async with handoff.turn(batch):
                if result is None:  # stopping while the database is away: the broker keeps it
                    subscriber.release(len(batch.messages))
                else:
                    subscriber.ack(batch.messages)
            if result is None:
                return
            seconds = time.perf_counter() - started
            self.metrics.account(batch, result, seconds)
            self.stats.add(batch, result, seconds)
            _log_dead_letters(batch.letters)


def _log_dead_letters(letters: list[DeadLetter]) -> None:
    """One warning per distinct message of a committed batch."""
    seen: set[bytes] = set()
    for letter in letters:
        if letter.fingerprint not in seen:
            seen.add(letter.fingerprint)
            logger.warning(
                "dead letter (%s): %s",
                letter.stage.value,
                letter.reason,
                extra={"dev_eui": letter.dev_eui, "topic": letter.topic},
            )
