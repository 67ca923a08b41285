"""The batch writer against a real PostgreSQL: idempotency, latest by measurement time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from decoders import Measurement
from ingest.model import DeadLetter, DecodedUplink, Radio, Stage, Uplink
from ingest.writer import Writer, WriteResult

T0 = datetime(2025, 3, 14, 8, 0, tzinfo=UTC)
EUI = "70B3D57ED0061A2B"


def _uplink(key: str, at: datetime, temperature: float, eui: str = EUI) -> DecodedUplink:
    uplink = Uplink(
        idempotency_key=key,
        dev_eui=eui,
        received_at=at,
        f_port=2,
        f_cnt=1,
        payload=b"\x01",
        device_name="air-07",
        radio=Radio(rssi=-97, snr=6.25, spreading_factor=9, frequency=867300000, gateway_count=2),
    )
    measurements = (Measurement("air_temperature", temperature, sensor=1),)
    return DecodedUplink(uplink, "v3/a@ttn/devices/air-07/up", "cayenne_lpp", "1.0.0", measurements)


async def test_duplicate_delivery_creates_no_second_row(pool: asyncpg.Pool) -> None:
    writer = await Writer.connect(pool)
    first = await writer.write([_uplink("k1", T0, 20.5)], [])
    again = await writer.write([_uplink("k1", T0, 20.5), _uplink("k1", T0, 20.5)], [])
    assert first == WriteResult(uplinks=1, duplicates=0, measurements=1)
    assert again == WriteResult(uplinks=0, duplicates=2, measurements=0)
    assert await pool.fetchval("SELECT count(*) FROM uplinks") == 1
    assert await pool.fetchval("SELECT count(*) FROM measurements") == 1
    assert await pool.fetchval("SELECT count(*) FROM devices") == 1


async def test_a_batch_mixing_a_redelivered_uplink_with_new_ones_stores_only_the_new(
    pool: asyncpg.Pool,
) -> None:
    writer = await Writer.connect(pool)
    await writer.write([_uplink("k2", T0 + timedelta(minutes=2), 20.5)], [])
    batch = [
        _uplink("k1", T0, 19.0),
        _uplink("k2", T0 + timedelta(minutes=2), 20.5),
        _uplink("k3", T0 + timedelta(minutes=3), 21.0),
    ]
    assert await writer.write(batch, []) == WriteResult(uplinks=2, duplicates=1, measurements=2)
    keys = await pool.fetch("SELECT idempotency_key FROM uplinks ORDER BY 1")
    assert [r["idempotency_key"] for r in keys] == ["k1", "k2", "k3"]
    assert await writer.fold() == 3
    assert await pool.fetchval("SELECT sum(count) FROM rollup_hourly") == 3


async def test_a_measurement_stored_already_under_another_uplink_is_not_stored_twice(
    pool: asyncpg.Pool,
) -> None:
    """The batch's plain insert meets an existing key, falls back to ON CONFLICT DO NOTHING:
    the other rows of the batch are still stored and folded, the existing one counted once."""
    writer = await Writer.connect(pool)
    await writer.write([_uplink("first", T0, 20.5)], [])
    # Another uplink of the same device at the same time (one frame reaching us under two
    # keys), in a batch with a new value of another device and a value repeated in the batch.
    batch = [
        _uplink("second", T0, 99.0),
        _uplink("other", T0, 18.0, eui="70B3D57ED0061A2C"),
        _uplink("later", T0 + timedelta(minutes=5), 21.0),
        _uplink("later-again", T0 + timedelta(minutes=5), 22.0),
    ]
    result = await writer.write(batch, [])
    assert result == WriteResult(uplinks=4, duplicates=0, measurements=2)
    assert await writer.fold() == 3
    rows = await pool.fetch(
        "SELECT d.dev_eui, m.time, m.value FROM measurements m JOIN devices d ON d.id = m.device_id"
        " ORDER BY 1, 2"
    )
    assert [tuple(r) for r in rows] == [
        (EUI, T0, 20.5),
        (EUI, T0 + timedelta(minutes=5), 21.0),
        ("70B3D57ED0061A2C", T0, 18.0),
    ]
    hourly = await pool.fetch(
        "SELECT d.dev_eui, r.count, r.sum, r.last_value FROM rollup_hourly r"
        " JOIN devices d ON d.id = r.device_id ORDER BY 1"
    )
    assert [tuple(r) for r in hourly] == [(EUI, 2, 41.5, 21.0), ("70B3D57ED0061A2C", 1, 18.0, 18.0)]


async def test_a_batch_of_new_keys_takes_the_plain_insert(pool: asyncpg.Pool) -> None:
    """Several new measurements of several devices: all stored, queued and folded once."""
    writer = await Writer.connect(pool)
    batch = [
        _uplink(f"k{i}", T0 + timedelta(minutes=i), float(i), eui=f"70B3D57ED0061A{i:02X}")
        for i in range(6)
    ]
    assert await writer.write(batch, []) == WriteResult(uplinks=6, duplicates=0, measurements=6)
    assert await pool.fetchval("SELECT count(*) FROM rollup_queue") == 1
    assert await writer.fold() == 6
    values = await pool.fetch("SELECT value FROM latest ORDER BY value")
    assert [r["value"] for r in values] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize(
    "at",
    [
        datetime(2025, 3, 14, 8, 0, 0, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC),
    ],
)
async def test_measurement_times_are_stored_to_the_microsecond(
    pool: asyncpg.Pool, at: datetime
) -> None:
    """Staged as microseconds since 1970 and turned back by the staging table: exact over the
    whole range of a datetime, before 1970 included."""
    item = _uplink("k-time", T0, 20.5)
    own_time = (Measurement("air_temperature", 20.5, sensor=1, time=at),)
    writer = await Writer.connect(pool)
    await writer.write([dataclasses.replace(item, measurements=own_time)], [])
    assert await pool.fetchval("SELECT time FROM measurements") == at


async def test_uplinks_at_the_end_of_the_calendar_are_stored(pool: asyncpg.Pool) -> None:
    """A network server's clock at 9999-12-31: stored like any other time, also once the
    device is known (checking its last-seen slack must not overflow)."""
    writer = await Writer.connect(pool)
    end = datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC)
    await writer.write([_uplink("k-end-1", end, 20.5)], [])
    later = end + timedelta(seconds=29)
    assert await writer.write([_uplink("k-end-2", later, 20.6)], []) == WriteResult(1, 0, 1)
    assert await pool.fetchval("SELECT max(received_at) FROM uplinks") == later
    # Within LAST_SEEN_SLACK of the known last_seen_at: the device row is left as it was.
    assert await pool.fetchval("SELECT last_seen_at FROM devices") == end


async def test_latest_follows_measurement_time_not_arrival(pool: asyncpg.Pool) -> None:
    writer = await Writer.connect(pool)
    await writer.write([_uplink("new", T0 + timedelta(minutes=10), 21.0)], [])
    await writer.write([_uplink("late", T0, 19.0)], [])  # arrives later, measured earlier
    assert await writer.fold() == 2
    row = await pool.fetchrow("SELECT time, value FROM latest")
    assert (row["time"], row["value"]) == (T0 + timedelta(minutes=10), 21.0)
    assert await pool.fetchval("SELECT count(*) FROM measurements") == 2


async def test_device_is_registered_with_first_and_last_seen(pool: asyncpg.Pool) -> None:
    writer = await Writer.connect(pool)
    await writer.write([_uplink("a", T0 + timedelta(hours=1), 20.0)], [])
    await writer.write([_uplink("b", T0, 20.0)], [])
    row = await pool.fetchrow("SELECT dev_eui, name, first_seen_at, last_seen_at FROM devices")
    assert dict(row) == {
        "dev_eui": EUI,
        "name": "air-07",
        "first_seen_at": T0,
        "last_seen_at": T0 + timedelta(hours=1),
    }


async def test_uplink_row_keeps_radio_summary(pool: asyncpg.Pool) -> None:
    writer = await Writer.connect(pool)
    await writer.write([_uplink("k", T0, 20.0)], [])
    row = await pool.fetchrow(
        "SELECT f_port, f_cnt, payload, rssi, snr, spreading_factor, frequency, gateway_count, "
        "decoder, decoder_version FROM uplinks"
    )
    assert dict(row) == {
        "f_port": 2,
        "f_cnt": 1,
        "payload": b"\x01",
        "rssi": -97.0,
        "snr": 6.25,
        "spreading_factor": 9,
        "frequency": 867300000,
        "gateway_count": 2,
        "decoder": "cayenne_lpp",
        "decoder_version": "1.0.0",
    }


async def test_repeated_dead_letter_is_counted(pool: asyncpg.Pool) -> None:
    writer = await Writer.connect(pool)
    letter = DeadLetter("t/up", b"{not json", Stage.PARSE, "not JSON")
    await writer.write([], [letter, letter])
    await writer.write([], [letter])
    rows = await pool.fetch("SELECT topic, payload, stage, reason, count FROM dead_letters")
    assert [dict(r) for r in rows] == [
        {
            "topic": "t/up",
            "payload": b"{not json",
            "stage": "parse",
            "reason": "not JSON",
            "count": 3,
        }
    ]


async def test_device_events_update_the_device_and_battery_series(pool: asyncpg.Pool) -> None:
    from ingest.model import DeviceEvent, EventKind

    writer = await Writer.connect(pool)
    later = T0 + timedelta(hours=1)
    events = [
        DeviceEvent(EventKind.STATUS, EUI, later, "t", battery_level=80.0, external_power=False),
        DeviceEvent(EventKind.STATUS, EUI, T0, "t", battery_level=95.0),  # older: loses
        DeviceEvent(
            EventKind.LOCATION,
            EUI,
            T0,
            "t",
            latitude=52.1,
            longitude=5.1,
            location_source="SOURCE_GPS",
        ),
        DeviceEvent(EventKind.JOIN, "70B3D57ED0061A2C", T0, "t", device_name="new-one"),
    ]
    result = await writer.write([], [], events)
    assert result.events == 4
    await writer.write([], [], [DeviceEvent(EventKind.STATUS, EUI, T0, "t", battery_level=10.0)])
    row = await pool.fetchrow(
        "SELECT battery_level, battery_at, latitude, location_source FROM devices "
        "WHERE dev_eui = $1",
        EUI,
    )
    assert dict(row) == {
        "battery_level": 80.0,
        "battery_at": later,
        "latitude": 52.1,
        "location_source": "SOURCE_GPS",
    }
    joined = await pool.fetchval("SELECT joined_at FROM devices WHERE name = 'new-one'")
    assert joined == T0
    series = await pool.fetch(
        "SELECT m.time, m.value FROM measurements m JOIN quantities q ON q.id = m.quantity_id "
        "WHERE q.key = 'battery_level' ORDER BY m.time"
    )
    assert [(r["time"], r["value"]) for r in series] == [(T0, 95.0), (later, 80.0)]
