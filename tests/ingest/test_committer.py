"""Committing alone, into an in-memory sink: outages retried with backoff, rows the database
refuses isolated as dead letters, and anything else a bug that stops ingest loudly."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from ingest.batcher import Batch, prepare
from ingest.committer import Committer
from ingest.metrics import Metrics
from ingest.model import DeadLetter, DecodedUplink, DeviceEvent, Stage
from ingest.pipeline import Pipeline
from ingest.subscriber import Message
from ingest.writer import UnstorableError, WriteResult
from tests.ingest.test_pipeline import TOPIC, _message

JOIN_TOPIC = "v3/city-air@ttn/devices/air-07/join"
JOIN = (
    b'{"end_device_ids": {"dev_eui": "70B3D57ED0061A2B"}, "join_accept": {}, '
    b'"received_at": "2025-03-14T08:00:00Z"}'
)


class MemorySink:
    """Keeps what it is given; `failures` are raised, one per write, before anything is kept."""

    def __init__(self, *failures: BaseException, refuse: str | None = None) -> None:
        self.failures = list(failures)
        self.refuse = refuse  # a dev_eui whose uplinks and events it cannot store
        self.uplinks: list[DecodedUplink] = []
        self.letters: list[DeadLetter] = []
        self.events: list[DeviceEvent] = []
        self.writes = 0

    async def write(
        self,
        uplinks: Sequence[DecodedUplink],
        dead_letters: Sequence[DeadLetter],
        events: Sequence[DeviceEvent] = (),
    ) -> WriteResult:
        self.writes += 1
        if self.failures:
            raise self.failures.pop(0)
        devices = {u.uplink.dev_eui for u in uplinks} | {e.dev_eui for e in events}
        if self.refuse in devices:
            raise UnstorableError("OverflowError: value out of int64 range")
        self.uplinks += uplinks
        self.letters += dead_letters
        self.events += events
        measurements = sum(len(u.measurements) for u in uplinks)
        return WriteResult(len(uplinks), 0, measurements, len(dead_letters), len(events))


def _body(dev_eui: str, f_cnt: int) -> bytes:
    return (
        _message(bytes.fromhex("016700e1"), f_cnt=f_cnt)
        .replace(b"70B3D57ED0061A2B", dev_eui.encode())
        .replace(b"01J9Z0B7Q3T4K8WQ1N5H2C6D7E", f"{dev_eui}{f_cnt:010d}".encode())
    )


async def _batch() -> Batch:
    messages = [
        Message(TOPIC, _body("70B3D57ED0061A01", 1), 1, 1, 1),
        Message(TOPIC, _body("70B3D57ED0061A02", 2), 2, 1, 1),
        Message(TOPIC, b"{not json", 3, 1, 1),
        Message(JOIN_TOPIC, JOIN, 4, 1, 1),
    ]
    return await prepare(Pipeline(), messages)


def _retries(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("meetnet_ingest_write_retries_total")


async def test_an_outage_is_retried_until_the_batch_commits() -> None:
    sink = MemorySink(ConnectionResetError("gone"), asyncpg.CannotConnectNowError("starting"))
    metrics = Metrics()
    result = await Committer(sink, asyncio.Event(), metrics, first_backoff_s=0.01).commit(
        await _batch()
    )
    assert result == WriteResult(2, 0, 2, 1, 1)
    assert sink.writes == 3
    assert _retries(metrics) == 2


async def test_stopping_during_an_outage_commits_nothing() -> None:
    stop = asyncio.Event()
    stop.set()
    sink = MemorySink(ConnectionResetError("gone"))
    assert await Committer(sink, stop, Metrics()).commit(await _batch()) is None
    assert sink.uplinks == [] and sink.writes == 1


async def test_a_refused_row_becomes_a_store_dead_letter_and_its_neighbours_are_stored() -> None:
    batch = await _batch()
    (unparsable,) = batch.letters
    sink = MemorySink(refuse="70B3D57ED0061A2B")  # the join event's device
    sink.failures.append(UnstorableError("OverflowError: value out of int64 range"))
    result = await Committer(sink, asyncio.Event(), Metrics()).commit(batch)
    assert result == WriteResult(2, 0, 2, 2, 0)
    assert [u.uplink.dev_eui for u in sink.uplinks] == ["70B3D57ED0061A01", "70B3D57ED0061A02"]
    assert sink.letters[0] is unparsable and unparsable.stage is Stage.PARSE
    reason = "could not store the join event: OverflowError: value out of int64 range"
    assert sink.letters[1] == DeadLetter(JOIN_TOPIC, JOIN, Stage.STORE, reason, "70B3D57ED0061A2B")
    assert len(sink.letters) == 2
    assert batch.letters == sink.letters


@pytest.mark.parametrize(
    "bug",
    [
        ValueError("a bug"),
        TypeError("expected str, got int"),
        KeyError("quantity"),
        asyncpg.exceptions.UndefinedColumnError("column x does not exist"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_anything_but_a_named_data_error_propagates(bug: Exception) -> None:
    sink = MemorySink(bug)
    with pytest.raises(type(bug)):
        await Committer(sink, asyncio.Event(), Metrics()).commit(await _batch())
    assert sink.writes == 1 and sink.letters == []
