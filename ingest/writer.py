"""Writes a batch of outcomes to PostgreSQL in one transaction.

Rows go in through `unnest` arrays with `ON CONFLICT`, so a re-delivered message changes nothing:
its uplink key exists already, and measurements are written only for uplinks new in this batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ingest.model import DeadLetter, DecodedUplink, Stage

logger = logging.getLogger(__name__)

# Errors after which the same batch may well succeed later: the connection, the server going
# away, lock conflicts. Anything else from PostgreSQL is a problem with the data itself.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # 57xxx: admin shutdown, crash recovery
    asyncpg.exceptions.TransactionRollbackError,  # 40xxx: serialization failure, deadlock
    asyncpg.exceptions.InsufficientResourcesError,  # 53xxx: disk full, too many connections
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    uplinks: int = 0
    duplicates: int = 0
    measurements: int = 0
    dead_letters: int = 0


_UPSERT_DEVICES = """
INSERT INTO devices AS d (dev_eui, name, application_id, model, latitude, longitude,
                          first_seen_at, last_seen_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[],
                     $7::timestamptz[], $8::timestamptz[])
ON CONFLICT (dev_eui) DO UPDATE SET
    name = COALESCE(EXCLUDED.name, d.name),
    application_id = COALESCE(EXCLUDED.application_id, d.application_id),
    model = COALESCE(EXCLUDED.model, d.model),
    latitude = CASE WHEN EXCLUDED.latitude IS NULL THEN d.latitude ELSE EXCLUDED.latitude END,
    longitude = CASE WHEN EXCLUDED.latitude IS NULL THEN d.longitude ELSE EXCLUDED.longitude END,
    first_seen_at = LEAST(d.first_seen_at, EXCLUDED.first_seen_at),
    last_seen_at = GREATEST(d.last_seen_at, EXCLUDED.last_seen_at)
RETURNING id, dev_eui
"""

_INSERT_UPLINKS = """
INSERT INTO uplinks (received_at, idempotency_key, device_id, f_port, f_cnt, payload, rssi, snr,
                     spreading_factor, frequency, gateway_count, topic, decoder, decoder_version,
                     decode_error)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::int[], $5::bigint[],
                     $6::bytea[], $7::real[], $8::real[], $9::smallint[], $10::bigint[],
                     $11::smallint[], $12::text[], $13::text[], $14::text[], $15::text[])
ON CONFLICT DO NOTHING
RETURNING idempotency_key
"""

# Inserts the new measurements and maintains what derives from them (migrations/0003).
_STORE_MEASUREMENTS = """
SELECT store_measurements($1::int[], $2::smallint[], $3::smallint[], $4::timestamptz[],
                          $5::float8[])
"""

_UPSERT_DEAD_LETTERS = """
INSERT INTO dead_letters AS x (fingerprint, topic, payload, stage, reason, dev_eui, count)
SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[],
                     $7::int[])
ON CONFLICT (fingerprint) DO UPDATE SET
    count = x.count + EXCLUDED.count,
    reason = EXCLUDED.reason,
    last_seen_at = now()
"""


class Writer:
    """Knows the quantity ids and turns outcomes into the rows of one transaction."""

    def __init__(self, pool: asyncpg.Pool, quantity_ids: Mapping[str, int]) -> None:
        self._pool = pool
        self._quantity_ids = quantity_ids

    @classmethod
    async def connect(cls, pool: asyncpg.Pool) -> Writer:
        rows = await pool.fetch("SELECT key, id FROM quantities")
        return cls(pool, {r["key"]: r["id"] for r in rows})

    async def write(
        self, uplinks: Sequence[DecodedUplink], dead_letters: Sequence[DeadLetter]
    ) -> WriteResult:
        """Store everything in one transaction; raises if it could not be committed."""
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await self._write_uplinks(conn, uplinks)
            letters = await self._write_dead_letters(conn, dead_letters)
        return WriteResult(stored[0], stored[1], stored[2], letters)

    async def _write_uplinks(
        self, conn: asyncpg.Connection, batch: Sequence[DecodedUplink]
    ) -> tuple[int, int, int]:
        unique: dict[str, DecodedUplink] = {}
        for item in batch:
            unique.setdefault(item.uplink.idempotency_key, item)
        if not unique:
            return 0, 0, 0
        device_ids = await self._upsert_devices(conn, list(unique.values()))
        items = list(unique.values())
        rows = await conn.fetch(
            _INSERT_UPLINKS,
            [i.uplink.received_at for i in items],
            [i.uplink.idempotency_key for i in items],
            [device_ids[i.uplink.dev_eui] for i in items],
            [i.uplink.f_port for i in items],
            [i.uplink.f_cnt for i in items],
            [i.uplink.payload for i in items],
            [i.uplink.radio.rssi for i in items],
            [i.uplink.radio.snr for i in items],
            [i.uplink.radio.spreading_factor for i in items],
            [i.uplink.radio.frequency for i in items],
            [i.uplink.radio.gateway_count for i in items],
            [i.topic for i in items],
            [i.decoder for i in items],
            [i.decoder_version for i in items],
            [i.decode_error for i in items],
        )
        new_keys = {r["idempotency_key"] for r in rows}
        points: dict[tuple[int, int, int, datetime], float] = {}
        for item in items:
            if item.uplink.idempotency_key not in new_keys:
                continue
            device_id = device_ids[item.uplink.dev_eui]
            for m in item.measurements:
                key = (
                    device_id,
                    self._quantity_ids[m.quantity],
                    m.sensor,
                    m.time or item.uplink.received_at,
                )
                points.setdefault(key, m.value)
        stored = await conn.fetchval(_STORE_MEASUREMENTS, *_columns(points)) if points else 0
        return len(new_keys), len(batch) - len(new_keys), int(stored)

    async def _upsert_devices(
        self, conn: asyncpg.Connection, items: Sequence[DecodedUplink]
    ) -> dict[str, int]:
        merged: dict[str, list[DecodedUplink]] = {}
        for item in items:
            merged.setdefault(item.uplink.dev_eui, []).append(item)
        # Sorted so concurrent ingest processes lock device rows in the same order.
        eui_order = sorted(merged)
        newest = [max(merged[e], key=lambda i: i.uplink.received_at).uplink for e in eui_order]
        oldest = [min(i.uplink.received_at for i in merged[e]) for e in eui_order]
        rows = await conn.fetch(
            _UPSERT_DEVICES,
            eui_order,
            [u.device_name for u in newest],
            [u.application_id for u in newest],
            [u.model for u in newest],
            [u.latitude for u in newest],
            [u.longitude for u in newest],
            oldest,
            [u.received_at for u in newest],
        )
        return {r["dev_eui"]: r["id"] for r in rows}

    async def _write_dead_letters(
        self, conn: asyncpg.Connection, letters: Sequence[DeadLetter]
    ) -> int:
        if not letters:
            return 0
        merged: dict[bytes, tuple[DeadLetter, int]] = {}
        for letter in letters:
            _, seen = merged.get(letter.fingerprint, (letter, 0))
            merged[letter.fingerprint] = (letter, seen + 1)
        values = list(merged.items())
        await conn.execute(
            _UPSERT_DEAD_LETTERS,
            [fp for fp, _ in values],
            [dl.topic for _, (dl, _) in values],
            [dl.payload for _, (dl, _) in values],
            [dl.stage.value for _, (dl, _) in values],
            [dl.reason for _, (dl, _) in values],
            [dl.dev_eui for _, (dl, _) in values],
            [count for _, (_, count) in values],
        )
        return len(letters)


def store_failure(item: DecodedUplink, payload: bytes, error: Exception) -> DeadLetter:
    """The dead letter for an uplink the database refused (its data, not the connection)."""
    reason = f"database refused the uplink: {type(error).__name__}: {error}"
    return DeadLetter(item.topic, payload, Stage.STORE, reason, item.uplink.dev_eui)


def _columns(
    points: Mapping[tuple[int, int, int, datetime], float],
) -> tuple[list[int], list[int], list[int], list[datetime], list[float]]:
    keys = list(points)
    return (
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [points[k] for k in keys],
    )
