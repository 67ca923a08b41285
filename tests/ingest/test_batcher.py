"""Batching alone, from an in-memory source: closed by size or by interval, and every outcome
of the pipeline sorted into the batch."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from ingest.batcher import IDLE_S, collect, prepare
from ingest.model import DeadLetter, DeviceEvent, Stage
from ingest.pipeline import Pipeline
from ingest.subscriber import Message
from tests.ingest.test_pipeline import TOPIC, _message


class MemorySource:
    """Messages that `arrive` at given moments, as a subscriber would hand them over."""

    def __init__(self) -> None:
        self.inbox: deque[Message] = deque()
        self._arrived = asyncio.Event()

    def arrive(self, *messages: Message) -> None:
        self.inbox.extend(messages)
        self._arrived.set()

    async def wait(self, timeout_s: float) -> bool:
        if not self.inbox:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
            except TimeoutError:
                return bool(self.inbox)
        return True

    def take(self, limit: int) -> list[Message]:
        return [self.inbox.popleft() for _ in range(min(limit, len(self.inbox)))]


def _messages(count: int, start: int = 0) -> list[Message]:
    return [Message(f"t/{i}", b"", i, 1, 1) for i in range(start, start + count)]


async def test_a_batch_closes_at_its_size() -> None:
    source = MemorySource()
    source.arrive(*_messages(7))
    stop = asyncio.Event()
    assert await collect(source, 3, 10.0, stop) == _messages(3)
    assert await collect(source, 3, 10.0, stop) == _messages(3, 3)
    started = time.monotonic()
    source.arrive(*_messages(2, 7))  # 6, 7, 8: full at once, no waiting for the interval
    assert await collect(source, 3, 10.0, stop) == _messages(3, 6)
    assert time.monotonic() - started < 1


async def test_a_batch_closes_its_interval_after_the_first_message() -> None:
    source = MemorySource()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, source.arrive, *_messages(1))
    loop.call_later(0.15, source.arrive, *_messages(1, 1))
    loop.call_later(0.6, source.arrive, *_messages(1, 2))  # after the interval: next batch
    started = time.monotonic()
    assert await collect(source, 100, 0.3, stop) == _messages(2)
    assert 0.3 <= time.monotonic() - started < 0.55
    assert await collect(source, 100, 0.01, stop) == _messages(1, 2)


async def test_nothing_arrived_returns_empty_after_the_idle_time() -> None:
    started = time.monotonic()
    assert await collect(MemorySource(), 100, 5.0, asyncio.Event()) == []
    assert IDLE_S <= time.monotonic() - started < IDLE_S + 0.2


async def test_stop_closes_a_batch_without_waiting_for_its_interval() -> None:
    source = MemorySource()
    source.arrive(*_messages(1))
    stop = asyncio.Event()
    stop.set()
    started = time.monotonic()
    assert await collect(source, 100, 5.0, stop) == _messages(1)
    assert time.monotonic() - started < 0.1


async def test_prepare_sorts_every_outcome_into_the_batch() -> None:
    good = _message(bytes.fromhex("016700e1"))
    undecodable = _message(bytes.fromhex("036701"))
    join = b'{"end_device_ids": {"dev_eui": "70B3D57ED0061A2B"}, "join_accept": {}, '
    join += b'"received_at": "2025-03-14T08:00:00Z"}'
    join_topic = "v3/city-air@ttn/devices/air-07/join"
    sent = [
        Message(TOPIC, good, 1, 1, 1),
        Message(TOPIC, b"{not json", 2, 1, 1),
        Message("v3/city-air@ttn/devices/air-07/down/sent", b"{}", 3, 1, 1),
        Message(join_topic, join, 4, 1, 1),
        *(Message(TOPIC, undecodable, 5 + i, 1, 1) for i in range(11)),  # past one slice
    ]
    batch = await prepare(Pipeline(), sent)
    assert batch.messages == sent
    # The good uplink, and the undecodable ones kept raw; all of one key (the writer stores it
    # once), whose raw body is the last message's.
    assert len(batch.uplinks) == 12
    assert batch.uplinks[0].measurements[0].value == 22.5
    assert all(u.decode_error is not None for u in batch.uplinks[1:])
    assert list(batch.raw_by_key.values()) == [undecodable]
    assert [letter.stage for letter in batch.letters] == [Stage.PARSE] + [Stage.DECODE] * 11
    assert all(type(letter) is DeadLetter for letter in batch.letters)
    assert [type(e) for e in batch.events] == [DeviceEvent] and batch.raw_events == [join]
    assert batch.skipped == 1
