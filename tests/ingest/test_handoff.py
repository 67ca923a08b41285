"""Back-pressure and acknowledgement order alone: batches committed in any order are
acknowledged in the order they were taken, and the collector waits while the writers are busy."""

from __future__ import annotations

import asyncio

from ingest.batcher import Batch
from ingest.handoff import Handoff


async def test_acknowledgements_follow_arrival_not_commit_order() -> None:
    handoff = Handoff(depth=3)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    batches = [Batch([]) for _ in range(3)]
    for batch in batches:
        await handoff.put(batch, never)
    assert [b.sequence for b in batches] == [0, 1, 2]
    acked: list[int] = []

    async def writer(delay_s: float) -> None:
        batch = await handoff.get()
        assert batch is not None
        await asyncio.sleep(delay_s)  # commits: the later batches first
        async with handoff.turn(batch):
            acked.append(batch.sequence)

    await asyncio.gather(writer(0.2), writer(0.1), writer(0.0))
    assert acked == [0, 1, 2]


async def test_the_collector_waits_while_depth_batches_wait() -> None:
    handoff = Handoff(depth=1)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await handoff.put(Batch([]), never)
    second = asyncio.create_task(handoff.put(Batch([]), never))
    await asyncio.sleep(0.05)
    assert not second.done()  # no writer took the first: the collector takes nothing more
    first = await handoff.get()
    await asyncio.wait_for(second, 1)
    assert first is not None and first.sequence == 0
    assert (await handoff.get()) is not None


async def test_a_put_gives_up_when_the_writers_ended() -> None:
    handoff = Handoff(depth=1)
    writing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await handoff.put(Batch([]), writing)
    blocked = asyncio.create_task(handoff.put(Batch([]), writing))
    await asyncio.sleep(0.01)
    writing.set_result(None)  # every writer ended (a bug, say): nobody will take it
    await asyncio.wait_for(blocked, 1)


async def test_close_tells_every_writer_there_is_no_more() -> None:
    handoff = Handoff(depth=1)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    closing = asyncio.create_task(handoff.close(3, never))
    assert [await handoff.get() for _ in range(3)] == [None, None, None]
    await asyncio.wait_for(closing, 1)
