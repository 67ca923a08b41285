"""Writes a batch of outcomes to PostgreSQL in one transaction.

Uplinks and measurements go in by binary COPY into staging tables and from there by a plain
INSERT, or `ON CONFLICT DO NOTHING` when a key exists already (migrations/0042), so a
re-delivered message changes nothing: its uplink key exists already, and measurements are
written only for uplinks new in this batch. They are queued in the same transaction; `fold`
applies the queue to latest and the rollups in a short transaction of its own (migrations/0040).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter

import asyncpg

from ingest.model import (
    DeadLetter,
    DecodedUplink,
    DeviceEvent,
    EventKind,
    IngestError,
    Stage,
    Uplink,
)

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


class UnstorableError(IngestError):
    """A row holds a value its column cannot: found while this process encoded the rows for
    COPY (asyncpg raises OverflowError for an integer beyond bigint or smallint, ValueError for
    a float beyond real)."""


# Errors that say a batch's data cannot be stored as it is: the database refused a value (22xxx)
# or a row (23xxx), a value is larger than it can index or hold (54xxx), or a value did not fit
# its column's type before it left. Caught after TRANSIENT_ERRORS, so a lost connection is never
# taken for bad data; anything else (a TypeError, an undefined column) is a bug and propagates.
DATA_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.exceptions.ProgramLimitExceededError,
    UnstorableError,
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    uplinks: int = 0
    duplicates: int = 0
    measurements: int = 0
    dead_letters: int = 0
    events: int = 0


_UPSERT_DEVICES = """
INSERT INTO devices AS d (dev_eui, name, network_name, application_id, model, latitude, longitude,
                          network_latitude, network_longitude, location_source, location_at,
                          first_seen_at, last_seen_at, device_profile)
SELECT e.dev_eui, e.name, e.name, e.application_id, e.model, e.latitude, e.longitude,
       e.latitude, e.longitude, CASE WHEN e.latitude IS NOT NULL THEN 'uplink' END,
       CASE WHEN e.latitude IS NOT NULL THEN e.last_seen_at END, e.first_seen_at,
       e.last_seen_at, e.device_profile
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[],
            $7::timestamptz[], $8::timestamptz[], $9::text[])
     AS e(dev_eui, name, application_id, model, latitude, longitude, first_seen_at,
          last_seen_at, device_profile)
-- What an operator set (operator_set, migrations/0070) is never overwritten; the network's own
-- name and position are kept beside it, a position only when it is the newest (network time).
ON CONFLICT (dev_eui) DO UPDATE SET
    network_name = COALESCE(EXCLUDED.network_name, d.network_name),
    name = CASE WHEN 'name' = ANY(d.operator_set) THEN d.name
                ELSE COALESCE(EXCLUDED.name, d.name) END,
    application_id = COALESCE(EXCLUDED.application_id, d.application_id),
    model = COALESCE(EXCLUDED.model, d.model),
    device_profile = COALESCE(EXCLUDED.device_profile, d.device_profile),
    network_latitude = CASE WHEN EXCLUDED.location_at >= COALESCE(d.location_at, '-infinity')
                            THEN EXCLUDED.network_latitude ELSE d.network_latitude END,
    network_longitude = CASE WHEN EXCLUDED.location_at >= COALESCE(d.location_at, '-infinity')
                             THEN EXCLUDED.network_longitude ELSE d.network_longitude END,
    latitude = CASE WHEN EXCLUDED.location_at >= COALESCE(d.location_at, '-infinity')
                         AND NOT 'location' = ANY(d.operator_set)
                    THEN EXCLUDED.latitude ELSE d.latitude END,
    longitude = CASE WHEN EXCLUDED.location_at >= COALESCE(d.location_at, '-infinity')
                          AND NOT 'location' = ANY(d.operator_set)
                     THEN EXCLUDED.longitude ELSE d.longitude END,
    location_source = CASE WHEN EXCLUDED.location_at >= COALESCE(d.location_at, '-infinity')
                           THEN EXCLUDED.location_source ELSE d.location_source END,
    location_at = GREATEST(d.location_at, EXCLUDED.location_at),
    first_seen_at = LEAST(d.first_seen_at, EXCLUDED.first_seen_at),
    last_seen_at = GREATEST(d.last_seen_at, EXCLUDED.last_seen_at)
RETURNING id, dev_eui, first_seen_at, last_seen_at
"""

# A batch's uplinks and measurements reach the server by binary COPY into these session-local
# staging tables, emptied at every commit: COPY costs this process less than half the CPU of
# encoding the same rows as `unnest` arrays (measured on batches of 500: 5 against 13 us per
# uplink). Created once per connection, when `open_pool` opens it.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS uplink_stage (
    received_at timestamptz, idempotency_key text, device_id integer, f_port integer,
    f_cnt bigint, payload bytea, rssi real, snr real, spreading_factor smallint,
    frequency bigint, gateway_count smallint, topic text, decoder text, decoder_version text,
    decode_error text, state jsonb
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS measurement_stage (
    device_id integer, quantity_id smallint, sensor smallint, time_us bigint,
    value double precision,
    time timestamptz GENERATED ALWAYS AS (timezone('UTC', timestamp 'epoch'
        + (time_us / 1000000) * interval '1 second' + (time_us % 1000000) * interval '1 us'))
        STORED
) ON COMMIT DELETE ROWS
"""
# Measurement times travel as microseconds since 1970, which asyncpg's COPY encodes for ~0.1 us
# where a timestamptz costs ~0.9 us, and a batch has ~4.5 of them per uplink; the staging table
# turns them back into `time`. Exact: whole seconds times 10^6 stay integers in a double up to
# the year 20000, and the microseconds are added apart.
_MEASUREMENT_STAGE_COLUMNS = ("device_id", "quantity_id", "sensor", "time_us", "value")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# NULL when every staged uplink was new, else the keys of those that were (migrations/0042).
_INSERT_UPLINKS = "SELECT insert_staged_uplinks()"

# Inserts the new measurements and queues them for the fold (migrations/0040).
_QUEUE_MEASUREMENTS = """
SELECT queue_measurements($1::int[], $2::smallint[], $3::smallint[], $4::timestamptz[],
                          $5::float8[])
"""

# The same for the measurements staged by COPY, without ON CONFLICT unless a key exists already
# (migrations/0042).
_QUEUE_STAGED_MEASUREMENTS = "SELECT queue_staged_measurements()"

# Applies everything queued to latest and the rollups; returns how many measurements.
_FOLD_ROLLUPS = "SELECT fold_rollups()"

# Joins, positions and battery states; each only replaces an older one (by network time), and a
# position never the operator's (migrations/0070).
_APPLY_EVENTS = """
UPDATE devices AS d SET
    joined_at = GREATEST(d.joined_at, e.joined_at),
    network_latitude = CASE WHEN e.location_at >= COALESCE(d.location_at, '-infinity')
                            THEN e.latitude ELSE d.network_latitude END,
    network_longitude = CASE WHEN e.location_at >= COALESCE(d.location_at, '-infinity')
                             THEN e.longitude ELSE d.network_longitude END,
    latitude = CASE WHEN e.location_at >= COALESCE(d.location_at, '-infinity')
                         AND NOT 'location' = ANY(d.operator_set)
                    THEN e.latitude ELSE d.latitude END,
    longitude = CASE WHEN e.location_at >= COALESCE(d.location_at, '-infinity')
                          AND NOT 'location' = ANY(d.operator_set)
                     THEN e.longitude ELSE d.longitude END,
    location_source = CASE WHEN e.location_at >= COALESCE(d.location_at, '-infinity')
                           THEN e.location_source ELSE d.location_source END,
    location_at = GREATEST(d.location_at, e.location_at),
    battery_level = CASE WHEN e.battery_at >= COALESCE(d.battery_at, '-infinity')
                         THEN e.battery_level ELSE d.battery_level END,
    external_power = CASE WHEN e.battery_at >= COALESCE(d.battery_at, '-infinity')
                          THEN e.external_power ELSE d.external_power END,
    battery_at = GREATEST(d.battery_at, e.battery_at)
FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::float8[], $5::text[],
            $6::timestamptz[], $7::real[], $8::bool[], $9::timestamptz[])
     AS e(dev_eui, joined_at, latitude, longitude, location_source, location_at,
          battery_level, external_power, battery_at)
WHERE d.dev_eui = e.dev_eui
"""

# How far a device's last_seen_at may lag behind its newest uplink before ingest rewrites the
# device row; without this slack every batch would update every active device's row.
LAST_SEEN_SLACK = timedelta(seconds=60)

_UPSERT_DEAD_LETTERS = """
INSERT INTO dead_letters AS x (fingerprint, topic, payload, stage, reason, dev_eui, count)
SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[],
                     $7::int[])
ON CONFLICT (fingerprint) DO UPDATE SET
    count = x.count + EXCLUDED.count,
    reason = EXCLUDED.reason,
    last_seen_at = now()
"""


async def open_pool(dsn: str, min_size: int = 1, max_size: int = 4) -> asyncpg.Pool:
    """The connection pool a `Writer` needs: its connections hold the staging tables.

    They are created once per connection instead of in every batch, and a connection goes back
    to the pool without asyncpg's reset query (advisory locks, cursors, LISTEN, settings), as
    nothing here leaves any of those behind; an open transaction is still rolled back. That is
    two round trips less per batch, each waiting for the event loop between two slices of
    parsing.
    """
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_create_staging, reset=_keep_session
    )
    return pool


async def _create_staging(conn: asyncpg.Connection) -> None:
    await conn.execute(_STAGING)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset (asyncpg has already rolled back a transaction left open)."""


@dataclass(frozen=True, slots=True)
class _KnownDevice:
    """A device row as this process last wrote it; unchanged devices need no upsert."""

    id: int
    attributes: tuple[object, ...]  # name, application, model, profile, latitude, longitude
    first_seen: datetime
    last_seen: datetime


_RECEIVED_AT = attrgetter("received_at")


def _attributes(u: Uplink) -> tuple[object, ...]:
    return (u.device_name, u.application_id, u.model, u.device_profile, u.latitude, u.longitude)


class Writer:
    """Knows the quantity ids and turns outcomes into the rows of one transaction; its pool
    comes from `open_pool`."""

    def __init__(self, pool: asyncpg.Pool, quantity_ids: Mapping[str, int]) -> None:
        self._pool = pool
        self._quantity_ids = quantity_ids
        self._battery_id = quantity_ids.get("battery_level")
        self._devices: dict[str, _KnownDevice] = {}

    @classmethod
    async def connect(cls, pool: asyncpg.Pool) -> Writer:
        rows = await pool.fetch("SELECT key, id FROM quantities")
        return cls(pool, {r["key"]: r["id"] for r in rows})

    async def write(
        self,
        uplinks: Sequence[DecodedUplink],
        dead_letters: Sequence[DeadLetter],
        events: Sequence[DeviceEvent] = (),
    ) -> WriteResult:
        """Store everything in one transaction; raises if it could not be committed."""
        learned: dict[str, _KnownDevice] = {}
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await self._write_uplinks(conn, uplinks, learned)
            applied = await self._apply_events(conn, events, learned)
            letters = await self._write_dead_letters(conn, dead_letters)
        # Only what committed may be remembered.
        self._devices.update(learned)
        return WriteResult(stored[0], stored[1], stored[2] + applied[1], letters, applied[0])

    async def fold(self) -> int:
        """Apply the queued measurements of every committed batch to latest and the rollups, in
        a transaction of its own; returns how many measurements that was."""
        return int(await self._pool.fetchval(_FOLD_ROLLUPS))

    async def _write_uplinks(
        self,
        conn: asyncpg.Connection,
        batch: Sequence[DecodedUplink],
        learned: dict[str, _KnownDevice],
    ) -> tuple[int, int, int]:
        unique: dict[str, DecodedUplink] = {}
        for item in batch:
            unique.setdefault(item.uplink.idempotency_key, item)
        if not unique:
            return 0, 0, 0
        # In key order, so concurrent writers holding the same re-delivered uplinks wait for each
        # other instead of deadlocking (a deadlock would still only cost a retry).
        items = [unique[k] for k in sorted(unique)]
        device_ids = await self._upsert_devices(conn, [i.uplink for i in items], learned)
        records = []
        for i in items:
            u, radio = i.uplink, i.uplink.radio
            records.append(
                (u.received_at, u.idempotency_key, device_ids[u.dev_eui], u.f_port, u.f_cnt,
                 u.payload, radio.rssi, radio.snr, radio.spreading_factor, radio.frequency,
                 radio.gateway_count, i.topic, i.decoder, i.decoder_version, i.decode_error,
                 i.state_json)
            )  # fmt: skip
        await _copy(conn, "uplink_stage", records)
        inserted = await conn.fetchval(_INSERT_UPLINKS)
        new_keys = None if inserted is None else set(inserted)
        # A value repeated within the batch (same device, quantity, sensor and time) is stored
        # once, the first one, by the ON CONFLICT DO NOTHING the insert then falls back to.
        points: list[tuple[int, int, int, int, float]] = []
        add = points.append
        quantity_ids = self._quantity_ids
        for item in items:
            uplink = item.uplink
            if new_keys is not None and uplink.idempotency_key not in new_keys:
                continue
            device_id = device_ids[uplink.dev_eui]
            received_us = (uplink.received_at - _EPOCH) // _MICROSECOND
            for m in item.measurements:
                us = received_us if m.time is None else (m.time - _EPOCH) // _MICROSECOND
                add((device_id, quantity_ids[m.quantity], m.sensor, us, m.value))
        stored = 0
        if points:
            await _copy(conn, "measurement_stage", points, _MEASUREMENT_STAGE_COLUMNS)
            stored = await conn.fetchval(_QUEUE_STAGED_MEASUREMENTS)
        new = len(items) if new_keys is None else len(new_keys)
        return new, len(batch) - new, int(stored)

    async def _upsert_devices(
        self,
        conn: asyncpg.Connection,
        uplinks: Sequence[Uplink],
        learned: dict[str, _KnownDevice],
    ) -> dict[str, int]:
        merged: dict[str, list[Uplink]] = {}
        for uplink in uplinks:
            merged.setdefault(uplink.dev_eui, []).append(uplink)
        ids: dict[str, int] = {}
        stale: dict[str, tuple[Uplink, datetime]] = {}  # newest uplink, oldest reception
        for eui, seen in merged.items():
            known = learned.get(eui) or self._devices.get(eui)
            if len(seen) == 1:  # the common case: one uplink of the device in the batch
                newest = seen[0]
                oldest = newest.received_at
            else:
                newest = max(seen, key=_RECEIVED_AT)
                oldest = min(u.received_at for u in seen)
            if (
                known is not None
                and known.attributes == _attributes(newest)
                and oldest >= known.first_seen
                and newest.received_at - known.last_seen <= LAST_SEEN_SLACK  # no overflow
            ):
                ids[eui] = known.id
            else:
                stale[eui] = (newest, oldest)
        if not stale:
            return ids
        # Sorted so concurrent ingest processes lock device rows in the same order.
        euis = sorted(stale)
        newest_of = [stale[e][0] for e in euis]
        oldest_of = [stale[e][1] for e in euis]
        rows = await conn.fetch(
            _UPSERT_DEVICES,
            euis,
            [u.device_name for u in newest_of],
            [u.application_id for u in newest_of],
            [u.model for u in newest_of],
            [u.latitude for u in newest_of],
            [u.longitude for u in newest_of],
            oldest_of,
            [u.received_at for u in newest_of],
            [u.device_profile for u in newest_of],
        )
        by_eui = {r["dev_eui"]: r for r in rows}
        for eui, newest in zip(euis, newest_of, strict=True):
            row = by_eui[eui]
            ids[eui] = row["id"]
            learned[eui] = _KnownDevice(
                row["id"], _attributes(newest), row["first_seen_at"], row["last_seen_at"]
            )
        return ids

    async def _apply_events(
        self,
        conn: asyncpg.Connection,
        events: Sequence[DeviceEvent],
        learned: dict[str, _KnownDevice],
    ) -> tuple[int, int]:
        """Register unknown devices, then record joins, positions and battery states."""
        if not events:
            return 0, 0
        euis = sorted({e.dev_eui for e in events})
        named = {e.dev_eui: e for e in events}
        rows = await conn.fetch(
            _UPSERT_DEVICES,
            euis,
            [named[e].device_name for e in euis],
            [named[e].application_id for e in euis],
            [None] * len(euis),
            [None] * len(euis),
            [None] * len(euis),
            [None] * len(euis),
            [None] * len(euis),
            [None] * len(euis),
        )
        device_ids = {r["dev_eui"]: r["id"] for r in rows}
        for eui in euis:  # the row changed under the cache: re-read it next time
            self._devices.pop(eui, None)
            learned.pop(eui, None)
        newest: dict[tuple[str, EventKind], DeviceEvent] = {}
        for event in events:
            key = (event.dev_eui, event.kind)
            if key not in newest or newest[key].at < event.at:
                newest[key] = event
        columns: list[list[object]] = [[] for _ in range(9)]
        for eui in euis:
            join = newest.get((eui, EventKind.JOIN))
            where = newest.get((eui, EventKind.LOCATION))
            status = newest.get((eui, EventKind.STATUS))
            values = (
                eui,
                join.at if join else None,
                where.latitude if where else None,
                where.longitude if where else None,
                where.location_source if where else None,
                where.at if where else None,
                status.battery_level if status else None,
                status.external_power if status else None,
                status.at if status else None,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        await conn.execute(_APPLY_EVENTS, *columns)
        # Battery levels are also a time series (catalogue `battery_level`, %EL).
        points: dict[tuple[int, int, int, datetime], float] = {}
        for e in events:
            if e.kind is EventKind.STATUS and e.battery_level is not None and self._battery_id:
                points[(device_ids[e.dev_eui], self._battery_id, 0, e.at)] = e.battery_level
        stored = await conn.fetchval(_QUEUE_MEASUREMENTS, *_columns(points)) if points else 0
        return len(events), int(stored)

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


async def _copy(
    conn: asyncpg.Connection,
    table: str,
    records: Sequence[tuple[object, ...]],
    columns: Sequence[str] | None = None,
) -> None:
    try:
        await conn.copy_records_to_table(table, records=records, columns=columns)
    except (OverflowError, ValueError) as exc:  # a value beyond its column type's range
        raise UnstorableError(f"{type(exc).__name__}: {exc}") from exc


def _why(error: Exception) -> str:
    return str(error) if isinstance(error, UnstorableError) else f"{type(error).__name__}: {error}"


def store_failure(item: DecodedUplink, payload: bytes, error: Exception) -> DeadLetter:
    """The dead letter for an uplink that could not be stored (its data, not the connection)."""
    reason = f"could not store the uplink: {_why(error)}"
    return DeadLetter(item.topic, payload, Stage.STORE, reason, item.uplink.dev_eui)


def event_store_failure(event: DeviceEvent, payload: bytes, error: Exception) -> DeadLetter:
    """The dead letter for a device event that could not be stored."""
    reason = f"could not store the {event.kind} event: {_why(error)}"
    return DeadLetter(event.topic, payload, Stage.STORE, reason, event.dev_eui)


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
