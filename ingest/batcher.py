"""Batching: take messages from a source by size or interval, and parse and decode them.

After OpenTelemetry's `BatchProcessor`: a batch closes when it holds `size` messages or
`interval_s` after its first message arrived, whichever comes first. The source is anything with
`wait` and `take` (the MQTT subscriber, or an in-memory fake in tests).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

from ingest.model import DeadLetter, DecodedUplink, DeviceEvent
from ingest.pipeline import Pipeline, Skipped
from ingest.subscriber import Message

# How long `collect` waits for a first message before it returns empty-handed, so its caller
# can look whether it should stop.
IDLE_S = 0.25


class Source(Protocol):
    """Where messages come from."""

    async def wait(self, timeout_s: float) -> bool:
        """True once a message is there; False if none came within `timeout_s`."""
        ...

    def take(self, limit: int) -> list[Message]:
        """Up to `limit` messages that have arrived, without waiting."""
        ...


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


async def collect(
    source: Source, size: int, interval_s: float, stop: asyncio.Event
) -> list[Message]:
    """Up to `size` messages, waiting at most `interval_s` after the first one arrived; empty
    when nothing arrived for `IDLE_S` (so the caller can check for stop)."""
    if not await source.wait(IDLE_S):
        return []
    batch = source.take(size)
    deadline = time.monotonic() + interval_s
    while len(batch) < size and not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not await source.wait(remaining):
            break
        batch += source.take(size - len(batch))
    return batch


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
