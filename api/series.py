"""Bucketed time series: which table answers (raw, hourly or daily rollups) and the SQL for it.

A series holds the buckets whose start lies in [from, to), each aggregated over its whole length,
so raw measurements and rollups give the same answer. Buckets that are whole days follow local
calendar days in the requested time zone (23 or 25 hours on DST days), N-day buckets counted
from Monday 2000-01-03 (so 7d buckets are ISO weeks); shorter buckets are fixed lengths counted
from 2000-01-01T00:00Z. Every path returns count, sum (linearised for decibels), min, max and the
newest value per bucket, the sums of sines and cosines for circular quantities, the oldest value
and the delta for counters; api/aggregation.py derives the value of the quantity's kind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg

from decoders.catalogue import Aggregation

Source = Literal["raw", "hourly", "daily"]

_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
_DAY_ORIGIN = date(2000, 1, 3)  # a Monday: 7-day buckets are ISO weeks


@dataclass(frozen=True, slots=True)
class Plan:
    """Where a bucketed series is read from and the exact range its buckets cover."""

    source: Source
    start: datetime  # first bucket start, UTC
    end: datetime  # end of the last bucket, UTC; start == end means no bucket
    bucket: timedelta
    timezone: str
    first_day: date | None = None  # day buckets: local date of the first bucket
    end_day: date | None = None  # day buckets: local date just after the last bucket

    @property
    def in_days(self) -> bool:
        return self.first_day is not None

    @property
    def buckets(self) -> int:
        if self.first_day is not None and self.end_day is not None:
            return (self.end_day - self.first_day).days // self.bucket.days
        return int((self.end - self.start) / self.bucket)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def _day_bin(day: date, days: int) -> date:
    return day - timedelta(days=(day - _DAY_ORIGIN).days % days)


def _ceil(at: datetime, bucket: timedelta) -> datetime:
    steps = math.ceil((at - _ORIGIN) / bucket)
    return _ORIGIN + steps * bucket


def plan(
    start: datetime,
    end: datetime,
    bucket: timedelta,
    timezone: str,
    city_timezone: str,
    raw_only: bool,
) -> Plan:
    """Choose the cheapest table that gives the exact answer for these buckets."""
    if bucket % _DAY == timedelta(0):
        zone = ZoneInfo(timezone)
        n = bucket.days
        first = _day_bin(start.astimezone(zone).date(), n)
        if _midnight(first, zone) < start:
            first += bucket
        last = _day_bin(end.astimezone(zone).date(), n)
        if _midnight(last, zone) < end:
            last += bucket
        last = max(last, first)
        source: Source = "raw"
        if raw_only:
            source = "raw"
        elif timezone == city_timezone:
            source = "daily"
        elif _whole_utc_hours(first, last, bucket, zone):
            source = "hourly"
        return Plan(
            source, _midnight(first, zone), _midnight(last, zone), bucket, timezone, first, last
        )
    first_at = _ceil(start, bucket)
    end_at = max(_ceil(end, bucket), first_at)
    hourly = not raw_only and bucket % _HOUR == timedelta(0)
    return Plan("hourly" if hourly else "raw", first_at, end_at, bucket, timezone)


def _whole_utc_hours(first: date, last: date, bucket: timedelta, zone: ZoneInfo) -> bool:
    """Whether every bucket boundary is a whole UTC hour, so hourly rollups add up to it."""
    day = first
    while day <= last:
        at = _midnight(day, zone)
        if at.minute or at.second or at.microsecond:
            return False
        day += bucket
    return True


# --- SQL ---------------------------------------------------------------------------------------

_TABLES: dict[Source, tuple[str, str]] = {
    # source: (FROM clause, time column)
    "raw": ("measurements r LEFT JOIN quantities q ON q.id = r.quantity_id", "r.time"),
    "hourly": ("rollup_hourly r", "r.hour"),
    "daily": ("rollup_daily r", "r.day"),
}

# Per-row aggregate columns of one source: count, sum, min, max, last (newest value).
_RAW_COLUMNS = """
    count(*) AS count, sum(rollup_addend(q.aggregation, r.value)) AS sum,
    min(r.value) AS min, max(r.value) AS max,
    (array_agg(r.value ORDER BY r.time DESC, r.sensor DESC))[1] AS last"""
_RAW_PERCENTILES = """,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY r.value) AS p50,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY r.value) AS p95"""
_ROLLUP_COLUMNS = """
    sum(r.count)::bigint AS count, sum(r.sum) AS sum, min(r.min) AS min, max(r.max) AS max,
    (array_agg(r.last_value ORDER BY r.last_time DESC, r.sensor DESC))[1] AS last"""


def _bin(plan: Plan) -> str:
    """SQL for the key of a row's bucket: $3 is the bucket, $4 the time zone (day buckets: the
    local date the bucket starts on) or the origin (date_bin, PostgreSQL 14+, for shorter ones)."""
    column = _TABLES[plan.source][1]
    if not plan.in_days:
        return f"date_bin($3::interval, {column}, $4::timestamptz)"
    local = column if plan.source == "daily" else f"({column} AT TIME ZONE $4::text)::date"
    return f"(({local}) - (({local}) - DATE '2000-01-03') % $3::integer)"


def _start(plan: Plan, key: str) -> str:
    """SQL for the start instant of the bucket with this key; once per bucket, not per row."""
    return f"({key})::timestamp AT TIME ZONE $4::text" if plan.in_days else key


def _range(plan: Plan) -> str:
    """SQL restricting rows to the plan's range; $1 and $2 are its bounds."""
    column = _TABLES[plan.source][1]
    if plan.source == "daily":
        return f"{column} >= $1::date AND {column} < $2::date"
    return f"{column} >= $1::timestamptz AND {column} < $2::timestamptz"


def _bounds(plan: Plan) -> list[Any]:
    if plan.source == "daily":
        return [plan.first_day, plan.end_day, plan.bucket.days, plan.timezone]
    if plan.in_days:
        return [plan.start, plan.end, plan.bucket.days, plan.timezone]
    return [plan.start, plan.end, plan.bucket, _ORIGIN]


# What circular quantities add: the sums of sines and cosines (angles in degrees).
_RAW_CIRCULAR = """,
    sum(sind(r.value)) AS sum_sin, sum(cosd(r.value)) AS sum_cos"""
_ROLLUP_CIRCULAR = """,
    sum(r.sum_sin) AS sum_sin, sum(r.sum_cos) AS sum_cos"""
# What counters add: the oldest reading of the bucket (a group holds one series).
_RAW_FIRST = """,
    (array_agg(r.value ORDER BY r.time))[1] AS first"""
_ROLLUP_FIRST = """,
    (array_agg(r.first_value ORDER BY r.first_time))[1] AS first"""


def _columns(plan: Plan, percentiles: bool, kind: Aggregation) -> str:
    raw = plan.source == "raw"
    columns = _RAW_COLUMNS if raw else _ROLLUP_COLUMNS
    if kind is Aggregation.CIRCULAR_MEAN:
        columns += _RAW_CIRCULAR if raw else _ROLLUP_CIRCULAR
    elif kind is Aggregation.COUNTER:
        columns += _RAW_FIRST if raw else _ROLLUP_FIRST
    return columns + (_RAW_PERCENTILES if raw and percentiles else "")


def _with_deltas(buckets: str, series: str) -> str:
    """Counter buckets with `delta`, what the meter added in the bucket. The reference is the
    reading before the bucket: the previous bucket's last, else the newest measurement before the
    bucket's start, else the bucket's own first. A decrease is a reset to zero: the readings are
    taken to climb to the bucket's max, reset at most once after it and climb to its last, so

        delta = (max - reference if max >= reference else max) + (last if last < max else 0)

    exact while a meter resets at most once within a bucket and, after a reset, stays below its
    reading before it until the bucket ends (otherwise what was counted between is lost; a reset
    that shows as no drop at all cannot be seen). `series` are the key columns of one meter (device,
    sensor); $6 is the quantity."""
    before = """(SELECT m.value FROM measurements m
                 WHERE m.device_id = b.device_id AND m.quantity_id = $6 AND m.sensor = b.sensor
                   AND m.time < b.time ORDER BY m.time DESC LIMIT 1)"""
    reference = f"""coalesce(lag(b.last) OVER (PARTITION BY {series} ORDER BY b.time),
                             {before}, b.first)"""
    return f"""
        SELECT b.*, CASE WHEN b.max >= ref THEN b.max - ref ELSE b.max END
                    + CASE WHEN b.last < b.max THEN b.last ELSE 0 END AS delta
        FROM (SELECT b.*, {reference} AS ref FROM ({buckets}) b) b"""


def device_sql(plan: Plan, percentiles: bool, kind: Aggregation = Aggregation.MEAN) -> str:
    """Buckets per sensor of one device: $5 device id, $6 quantity id, $7 sensor or null."""
    table = _TABLES[plan.source][0]
    key = _bin(plan)
    buckets = f"""
        SELECT {_start(plan, key)} AS time, r.sensor, $5::int AS device_id,
               {_columns(plan, percentiles, kind)}
        FROM {table}
        WHERE r.device_id = $5 AND r.quantity_id = $6
          AND ($7::smallint IS NULL OR r.sensor = $7) AND {_range(plan)}
        GROUP BY {key}, r.sensor"""
    if kind is Aggregation.COUNTER:
        buckets = _with_deltas(buckets, "b.sensor")
    return f"SELECT * FROM ({buckets}) s ORDER BY time, sensor"


# How one device's bucket becomes one value `v`, and how a zone combines the devices' values.
_DEVICE_VALUE: dict[Aggregation, str] = {
    Aggregation.MEAN: "sum / count",
    Aggregation.SUM: "sum",
    Aggregation.ENERGY_MEAN: "sum / count",  # linear energy; 10*log10 after the zone mean
    Aggregation.MAX: "max",
    Aggregation.STATE: "last",
    Aggregation.CIRCULAR_MEAN: "NULL",  # the zone adds the devices' unit vectors instead
    Aggregation.COUNTER: "last",
}
_ZONE_VALUE: dict[Aggregation, str] = {
    Aggregation.MEAN: "avg(v) AS value",
    Aggregation.SUM: "sum(v) AS value",
    Aggregation.ENERGY_MEAN: "avg(v) AS value",
    Aggregation.MAX: "max(v) AS value",
    Aggregation.STATE: "avg(v) AS value",  # the share of devices in state 1 for on/off states
    # Each device's mean direction as a unit vector (none where its directions cancel), added:
    # the zone's value is the direction of the sum (api/aggregation.py).
    Aggregation.CIRCULAR_MEAN: """
               sum(sum_sin / NULLIF(sqrt(sum_sin ^ 2 + sum_cos ^ 2), 0)) AS sum_sin,
               sum(sum_cos / NULLIF(sqrt(sum_sin ^ 2 + sum_cos ^ 2), 0)) AS sum_cos""",
    # The sum of the meters' last readings, and of what each added in the bucket.
    Aggregation.COUNTER: "sum(v) AS value, sum(delta) AS delta",
}


def zone_sql(plan: Plan, kind: Aggregation, percentiles: bool) -> str:
    """Buckets of a zone, each device counted once (each meter of a device, for counters):
    $5 zone id, $6 quantity id."""
    table = _TABLES[plan.source][0]
    members = "r.device_id IN (SELECT device_id FROM zone_members WHERE zone_id = $5)"
    sensor = ", r.sensor" if kind is Aggregation.COUNTER else ""
    per_device = f"""
        SELECT {_bin(plan)} AS bin, r.device_id{sensor}, {_columns(plan, False, kind)}
        FROM {table}
        WHERE r.quantity_id = $6 AND {members} AND {_range(plan)}
        GROUP BY 1, 2{", 3" if sensor else ""}"""
    if kind is Aggregation.COUNTER:
        per_device = _with_deltas(
            f"SELECT *, {_start(plan, 'bin')} AS time FROM ({per_device}) p",
            "b.device_id, b.sensor",
        )
    combined = f"""
        SELECT bin, {_start(plan, "bin")} AS time, count(DISTINCT device_id) AS devices,
               sum(count)::bigint AS count, min(min) AS min, max(max) AS max,
               {_ZONE_VALUE[kind]}
        FROM (SELECT *, {_DEVICE_VALUE[kind]} AS v FROM per_device) d
        GROUP BY bin"""
    if not percentiles:
        return f"WITH per_device AS ({per_device}) {combined} ORDER BY bin"
    spread = f"""
        SELECT {_bin(plan)} AS bin {_RAW_PERCENTILES}
        FROM {table}
        WHERE r.quantity_id = $6 AND {members} AND {_range(plan)}
        GROUP BY 1"""
    return f"""
        WITH per_device AS ({per_device}), combined AS ({combined}), spread AS ({spread})
        SELECT c.*, s.p50, s.p95 FROM combined c JOIN spread s USING (bin) ORDER BY c.bin"""


async def device_buckets(
    conn: asyncpg.Connection,
    plan: Plan,
    device_id: int,
    quantity_id: int,
    sensor: int | None,
    percentiles: bool,
    kind: Aggregation = Aggregation.MEAN,
) -> Sequence[Any]:
    if plan.start >= plan.end:
        return []
    sql = device_sql(plan, percentiles, kind)
    return list(await conn.fetch(sql, *_bounds(plan), device_id, quantity_id, sensor))


async def zone_buckets(
    conn: asyncpg.Connection,
    plan: Plan,
    kind: Aggregation,
    zone_id: int,
    quantity_id: int,
    percentiles: bool,
) -> Sequence[Any]:
    if plan.start >= plan.end:
        return []
    sql = zone_sql(plan, kind, percentiles)
    return list(await conn.fetch(sql, *_bounds(plan), zone_id, quantity_id))
