"""Re-decoding, dead-letter retry, JSON Lines import and Storage Integration backfill, all
through the same idempotent path, against a real PostgreSQL."""

from __future__ import annotations

import base64
import dataclasses
import itertools
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson
import pytest

from decoders import DECODERS
from ingest.backfill import backfill, store_lines, store_messages
from ingest.pipeline import Pipeline
from ingest.reprocess import Selection, reprocess
from ingest.writer import Writer
from meetnet.replay import recorded_messages
from simulator import Fleet
from simulator.storage_api import StorageApi

START = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)


def _bodies(count: int, app: str = "city-air") -> list[bytes]:
    stream = Fleet(4, seed=5, application_id=app).stream(start=START, interval_s=60)
    return [u.body for u in itertools.islice(stream, count)]


async def test_import_is_idempotent_and_dead_letters_bad_lines(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    bodies = _bodies(20)
    path = tmp_path / "uplinks.jsonl"
    lines = [*bodies[:10], orjson.dumps({"result": orjson.loads(bodies[10])}), b"{broken"]
    lines += [orjson.dumps({"topic": "v3/x@ttn/devices/d/up", "payload": orjson.loads(b)})
              for b in bodies[11:]]  # fmt: skip
    path.write_bytes(b"\n".join(lines) + b"\n")
    writer = await Writer.connect(pool)
    first = await store_messages(recorded_messages(str(path)), Pipeline(), writer, "import:test")
    again = await store_messages(recorded_messages(str(path)), Pipeline(), writer, "import:test")
    assert (first.read, first.stored, first.dead_letters) == (21, 20, 1)
    assert (again.stored, again.duplicates) == (0, 20)
    assert await pool.fetchval("SELECT count(*) FROM uplinks") == 20
    assert await pool.fetchval("SELECT count(*) FROM measurements") == 60
    assert await pool.fetchval("SELECT sum(count) FROM dead_letters") == 2


async def test_backfill_pages_through_the_storage_api(pool: asyncpg.Pool) -> None:
    bodies = _bodies(25)
    writer = await Writer.connect(pool)
    with StorageApi("city-air", "NNSXS.KEY", bodies) as api:
        result = await backfill(
            api.url, "city-air", "NNSXS.KEY", START, Pipeline(), writer, limit=10
        )
        assert len(api.requests) == 3  # 10 + 10 + 5
        assert "after=" in api.requests[1] and "limit=10" in api.requests[0]
        again = await backfill(api.url, "city-air", "NNSXS.KEY", START, Pipeline(), writer)
        with pytest.raises(OSError, match="401"):
            await backfill(api.url, "city-air", "wrong", START, Pipeline(), writer)
    assert (result.read, result.stored) == (25, 25)
    assert (again.stored, again.duplicates) == (0, 25)
    assert await pool.fetchval("SELECT count(*) FROM measurements") == 75


async def test_reprocess_replaces_measurements_of_an_older_decoder_version(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = await Writer.connect(pool)
    await store_lines(_bodies(8), Pipeline(), writer, "import:test")
    # A frame the decoder could not read when it arrived: stored raw and dead-lettered.
    doc = orjson.loads(_bodies(9)[8])
    doc["uplink_message"]["frm_payload"] = base64.b64encode(b"\x01\x67\x00").decode()
    await store_lines([orjson.dumps(doc)], Pipeline(), writer, "import:test")
    assert await pool.fetchval("SELECT count(*) FROM dead_letters WHERE stage='decode'") == 1

    # Same decoder and version: nothing to do, twice.
    first = await reprocess(pool, Pipeline(), Selection())
    assert (first.examined, first.redecoded) == (9, 1)  # only the failed one is tried
    assert first.still_failing == 1

    # A new decoder version that reads every value 1 higher.
    codec = DECODERS["cayenne_lpp"]

    def decode(payload: bytes, f_port: int):  # type: ignore[no-untyped-def]
        decoded = codec.decode(payload, f_port)
        shifted = tuple(dataclasses.replace(m, value=m.value + 1) for m in decoded.measurements)
        return dataclasses.replace(decoded, measurements=shifted)

    monkeypatch.setitem(
        DECODERS, "cayenne_lpp", dataclasses.replace(codec, version="9.9.9", decode=decode)
    )
    before = await pool.fetchval("SELECT sum(value) FROM measurements")
    second = await reprocess(pool, Pipeline(), Selection(since=START))
    assert second.redecoded == 9
    assert await pool.fetchval("SELECT count(*) FROM measurements") == 24
    assert await pool.fetchval("SELECT sum(value) FROM measurements") == pytest.approx(before + 24)
    assert await pool.fetchval("SELECT count(*) FROM uplinks WHERE decoder_version = '9.9.9'") == 9
    latest = await pool.fetchval("SELECT sum(value) FROM latest")
    newest = await pool.fetchval(
        "SELECT sum(value) FROM measurements m WHERE time = (SELECT max(time) FROM measurements "
        "WHERE device_id = m.device_id AND quantity_id = m.quantity_id AND sensor = m.sensor)"
    )
    assert latest == pytest.approx(newest)
    third = await reprocess(pool, Pipeline(), Selection())
    assert third.redecoded == 1  # only the still undecodable frame is tried again


async def test_parse_dead_letter_retried_after_the_parser_learned(pool: asyncpg.Pool) -> None:
    writer = await Writer.connect(pool)
    body = _bodies(1)[0]
    from ingest.model import DeadLetter, Stage

    topic = "v3/city-air@ttn/devices/climate-0000/up"
    await writer.write([], [DeadLetter(topic, body, Stage.PARSE, "parser bug of old")])
    result = await reprocess(pool, Pipeline(), Selection())
    assert result.letters_resolved == 1
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    assert await pool.fetchval("SELECT count(*) FROM uplinks") == 1
