"""Re-decoding stored raw uplinks and retrying dead letters after a decoder change.

Idempotent: an uplink already decoded by the decoder and version that would be chosen now is left
alone, so a second run changes nothing. An uplink decoded by another decoder or an older version
(or not decodable then) has its measurements replaced: the rows at its time are deleted, the new
ones stored through `store_measurements`, `latest` recomputed for the device and
`refresh_rollups(device, from, to)` called for the range (migrations/0004).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ingest.model import DeadLetter, DecodedUplink, DeviceEvent, Radio, Stage, Uplink
from ingest.pipeline import Pipeline
from ingest.writer import Writer

logger = logging.getLogger(__name__)

_SELECT_UPLINKS = """
SELECT u.received_at, u.idempotency_key, u.device_id, u.f_port, u.f_cnt, u.payload, u.topic,
       u.decoder, u.decoder_version, u.decode_error, d.dev_eui, d.model, d.device_profile
FROM uplinks u JOIN devices d ON d.id = u.device_id
WHERE ($1::text IS NULL OR d.dev_eui = $1)
  AND ($2::text IS NULL OR d.model = $2 OR d.decoder = $2 OR u.decoder = $2)
  AND ($3::timestamptz IS NULL OR u.received_at >= $3)
  AND ($4::timestamptz IS NULL OR u.received_at < $4)
  AND ($5::timestamptz IS NULL OR (u.received_at, u.idempotency_key) > ($5, $6::text))
ORDER BY u.received_at, u.idempotency_key
LIMIT $7
"""

_DELETE_AT = """
DELETE FROM measurements m
USING unnest($1::int[], $2::timestamptz[]) AS x(device_id, time)
WHERE m.device_id = x.device_id AND m.time = x.time
"""

_MARK = """
UPDATE uplinks u SET decoder = x.decoder, decoder_version = x.version, decode_error = x.error,
                     state = x.state::jsonb
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[])
     AS x(key, received_at, decoder, version, error, state)
WHERE u.idempotency_key = x.key AND u.received_at = x.received_at
"""

# latest may hold a value this run deleted or replaced at the same time: rebuild it per device.
_CLEAR_LATEST = "DELETE FROM latest WHERE device_id = ANY($1::int[])"
_REBUILD_LATEST = """
INSERT INTO latest (device_id, quantity_id, sensor, time, value)
SELECT DISTINCT ON (device_id, quantity_id, sensor) device_id, quantity_id, sensor, time, value
FROM measurements WHERE device_id = ANY($1::int[])
ORDER BY device_id, quantity_id, sensor, time DESC
"""


@dataclass(frozen=True, slots=True)
class Selection:
    dev_eui: str | None = None
    model: str | None = None  # Device Repository brand/model, or a decoder key
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class ReprocessResult:
    examined: int = 0
    redecoded: int = 0
    measurements: int = 0
    still_failing: int = 0
    letters_resolved: int = 0


async def reprocess(
    pool: asyncpg.Pool,
    pipeline: Pipeline,
    selection: Selection,
    force: bool = False,
    chunk: int = 1000,
) -> ReprocessResult:
    """Retry dead letters, then re-decode the selected uplinks."""
    writer = await Writer.connect(pool)
    result = ReprocessResult()
    result.letters_resolved = await _retry_dead_letters(pool, pipeline, writer, selection)
    quantity_ids = {r["key"]: r["id"] for r in await pool.fetch("SELECT key, id FROM quantities")}
    after: tuple[datetime | None, str] = (None, "")
    while True:
        rows = await pool.fetch(
            _SELECT_UPLINKS,
            selection.dev_eui,
            selection.model,
            selection.since,
            selection.until,
            after[0],
            after[1],
            chunk,
        )
        if not rows:
            return result
        after = (rows[-1]["received_at"], rows[-1]["idempotency_key"])
        result.examined += len(rows)
        await _redecode(pool, pipeline, rows, quantity_ids, force, result)


async def _redecode(
    pool: asyncpg.Pool,
    pipeline: Pipeline,
    rows: Sequence[asyncpg.Record],
    quantity_ids: dict[str, int],
    force: bool,
    result: ReprocessResult,
) -> None:
    changed: list[tuple[asyncpg.Record, DecodedUplink]] = []
    for row in rows:
        uplink = Uplink(
            idempotency_key=row["idempotency_key"],
            dev_eui=row["dev_eui"],
            received_at=row["received_at"],
            f_port=row["f_port"] or 0,
            f_cnt=row["f_cnt"] or 0,
            payload=row["payload"],
            model=row["model"],
            device_profile=row["device_profile"],
            radio=Radio(),
        )
        outcome = pipeline.decode(uplink, row["topic"], row["payload"])[0]
        assert isinstance(outcome, DecodedUplink)
        same = (
            outcome.decoder == row["decoder"]
            and outcome.decoder_version == row["decoder_version"]
            and row["decode_error"] is None
        )
        if same and not force:
            continue
        if outcome.decode_error:
            result.still_failing += 1
        changed.append((row, outcome))
    if not changed:
        return
    points: dict[tuple[int, int, int, datetime], float] = {}
    for row, outcome in changed:
        for m in outcome.measurements:
            time = m.time or row["received_at"]
            points.setdefault((row["device_id"], quantity_ids[m.quantity], m.sensor, time), m.value)
    stale = {(row["device_id"], row["received_at"]) for row, _ in changed}
    stale |= {(k[0], k[3]) for k in points}
    devices = sorted({d for d, _ in stale})
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_DELETE_AT, [d for d, _ in stale], [t for _, t in stale])
        if points:
            keys = list(points)
            stored = await conn.fetchval(
                "SELECT store_measurements($1::int[], $2::smallint[], $3::smallint[], "
                "$4::timestamptz[], $5::float8[])",
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [k[3] for k in keys],
                [points[k] for k in keys],
            )
            result.measurements += int(stored)
        await conn.execute(
            _MARK,
            [r["idempotency_key"] for r, _ in changed],
            [r["received_at"] for r, _ in changed],
            [o.decoder for _, o in changed],
            [o.decoder_version for _, o in changed],
            [o.decode_error for _, o in changed],
            [o.state_json for _, o in changed],
        )
        await conn.execute(_CLEAR_LATEST, devices)
        await conn.execute(_REBUILD_LATEST, devices)
        for device in devices:
            times = [t for d, t in stale if d == device]
            await conn.execute("SELECT refresh_rollups($1, $2, $3)", device, min(times), max(times))
    result.redecoded += len(changed)
    logger.info("re-decoded %d uplinks of %d devices", len(changed), len(devices))


async def _retry_dead_letters(
    pool: asyncpg.Pool, pipeline: Pipeline, writer: Writer, selection: Selection
) -> int:
    """Parse- and decode-stage dead letters that go through now are written and removed."""
    rows = await pool.fetch(
        "SELECT id, topic, payload, stage FROM dead_letters "
        "WHERE stage IN ('parse', 'decode') AND ($1::text IS NULL OR dev_eui = $1) ORDER BY id",
        selection.dev_eui,
    )
    resolved = 0
    for row in rows:
        outcomes = pipeline.process(row["topic"], row["payload"])
        if any(isinstance(o, DeadLetter) for o in outcomes):
            continue
        uplinks = [o for o in outcomes if isinstance(o, DecodedUplink)]
        events = [o for o in outcomes if isinstance(o, DeviceEvent)]
        # A decode-stage letter's raw uplink is stored already; the re-decoding pass that
        # follows replaces its measurements.
        if row["stage"] == Stage.PARSE.value:
            await writer.write(uplinks, [], events)
        await pool.execute("DELETE FROM dead_letters WHERE id = $1", row["id"])
        resolved += 1
    await writer.fold()  # what the writes queued, into latest and the rollups
    return resolved
