"""Aggregation semantics with exact numbers, on the rollup paths and on raw data alike."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from tests.api.helpers import execute, store, utc

EUI = "0004A30B001C0001"
OTHER = "0004A30B001C0002"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=SecretStr(db_url)))) as test_client:
        yield test_client


def series(client: TestClient, eui: str = EUI, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/devices/{eui}/series", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def both(client: TestClient, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rollup answer and the raw answer; their points must agree."""
    rolled = series(client, **params)
    raw = series(client, source="raw", **params)
    assert raw["source"] == "raw"
    assert _close(rolled, raw)
    return rolled, raw


def _close(a: dict[str, Any], b: dict[str, Any]) -> bool:
    assert len(a["points"]) == len(b["points"])
    for p, q in zip(a["points"], b["points"], strict=True):
        assert p.keys() == q.keys()
        for key in p:
            if isinstance(p[key], float):
                assert math.isclose(p[key], q[key], rel_tol=1e-12), (key, p, q)
            else:
                assert p[key] == q[key], (key, p, q)
    return True


def hourly_ones(start: str, hours: int) -> list[tuple[Any, float]]:
    t0 = utc(start)
    return [(t0 + timedelta(hours=h, minutes=30), 1.0) for h in range(hours)]


@pytest.mark.parametrize(
    ("first_local_day", "start_utc", "hours", "expected"),
    [
        # 2025-03-30: clocks go 02:00 -> 03:00 in Amsterdam, the day has 23 hours.
        ("2025-03-29", "2025-03-28T23:00:00Z", 24 + 23 + 24, [24, 23, 24]),
        # 2025-10-26: clocks go 03:00 -> 02:00, the day has 25 hours.
        ("2025-10-25", "2025-10-24T22:00:00Z", 24 + 25 + 24, [24, 25, 24]),
    ],
    ids=["spring forward 23h", "fall back 25h"],
)
def test_dst_days_in_the_city_time_zone(
    client: TestClient,
    db_url: str,
    first_local_day: str,
    start_utc: str,
    hours: int,
    expected: list[int],
) -> None:
    # One person counted every hour: each local day's sum is its length in hours.
    assert store(db_url, EUI, "people_count", hourly_ones(start_utc, hours)) == hours
    end = utc(start_utc) + timedelta(hours=hours)
    rolled, _ = both(
        client, quantity="people_count", bucket="1d", **{"from": start_utc, "to": end.isoformat()}
    )
    assert rolled["source"] == "daily"
    assert rolled["timezone"] == "Europe/Amsterdam"
    assert [p["value"] for p in rolled["points"]] == expected
    assert [p["count"] for p in rolled["points"]] == expected
    first = rolled["points"][0]["time"]
    assert first == start_utc  # local midnight of the first day, in UTC
    # The same hours in UTC days: the hourly rollups answer, every full day has 24.
    in_utc = series(
        client,
        quantity="people_count",
        bucket="1d",
        tz="UTC",
        **{"from": start_utc, "to": end.isoformat()},
    )
    assert in_utc["source"] == "hourly"
    # The hours before the first UTC midnight are in no whole UTC day of the range; then two
    # full days and what is left of the range.
    lead = (24 - utc(start_utc).hour) % 24
    utc_days = [24, 24, hours - lead - 48]
    assert [(p["count"], p["value"]) for p in in_utc["points"]] == [(n, n) for n in utc_days]


def test_late_value_changes_a_finished_hour_and_a_duplicate_does_not(
    client: TestClient, db_url: str
) -> None:
    t = utc("2025-06-02T08:00:00Z")
    m = timedelta(minutes=1)
    assert store(db_url, EUI, "air_temperature", [(t + 10 * m, 10.0), (t + 20 * m, 20.0)]) == 2
    assert store(db_url, EUI, "air_temperature", [(t + 70 * m, 5.0)]) == 1  # the next hour
    params = {
        "quantity": "air_temperature",
        "bucket": "1h",
        "from": "2025-06-02T08:00:00Z",
        "to": "2025-06-02T10:00:00Z",
    }
    before, _ = both(client, **params)
    assert before["source"] == "hourly"
    assert [(p["value"], p["count"]) for p in before["points"]] == [(15.0, 2), (5.0, 1)]

    # Late: 08:50 arrives after 09:10 was stored; the finished 08:00 hour changes.
    assert store(db_url, EUI, "air_temperature", [(t + 50 * m, 60.0)]) == 1
    late, _ = both(client, **params)
    assert [(p["value"], p["min"], p["max"], p["count"]) for p in late["points"]] == [
        (30.0, 10.0, 60.0, 3),
        (5.0, 5.0, 5.0, 1),
    ]

    # Duplicate: the same time again (even with another value) is not stored and changes nothing.
    assert store(db_url, EUI, "air_temperature", [(t + 50 * m, 999.0), (t + 10 * m, 10.0)]) == 0
    again, _ = both(client, **params)
    assert again["points"] == late["points"]
    daily = series(client, **{**params, "bucket": "1d", "from": "2025-06-01T22:00:00Z"})
    assert daily["source"] == "daily"
    assert [(p["value"], p["count"]) for p in daily["points"]] == [(95.0 / 4, 4)]


def test_decibels_average_as_energy(client: TestClient, db_url: str) -> None:
    t = utc("2025-06-02T21:00:00Z")
    store(db_url, EUI, "noise_laeq", [(t, 60.0), (t + timedelta(minutes=30), 70.0)])
    rolled, _ = both(
        client,
        quantity="noise_laeq",
        bucket="1h",
        **{"from": "2025-06-02T21:00:00Z", "to": "2025-06-02T22:00:00Z"},
    )
    (point,) = rolled["points"]
    assert rolled["aggregation"] == "energy_mean"
    # 10*log10((10^6 + 10^7) / 2), not the arithmetic 65
    assert point["value"] == pytest.approx(67.40362689494244, abs=1e-9)
    assert (point["min"], point["max"], point["count"]) == (60.0, 70.0, 2)


def test_counts_sum_and_occupancy_keeps_the_newest_state(client: TestClient, db_url: str) -> None:
    t = utc("2025-06-02T08:00:00Z")
    m = timedelta(minutes=1)
    store(db_url, EUI, "people_count", [(t, 3), (t + 20 * m, 4), (t + 40 * m, 5)])
    store(db_url, EUI, "parking_occupied", [(t + 5 * m, 1), (t + 40 * m, 0)])
    store(db_url, EUI, "parking_occupied", [(t + 20 * m, 1)])  # late, but not the newest
    window = {"from": "2025-06-02T08:00:00Z", "to": "2025-06-02T09:00:00Z", "bucket": "1h"}
    counts, _ = both(client, quantity="people_count", **window)
    assert [(p["value"], p["count"]) for p in counts["points"]] == [(12.0, 3)]
    state, _ = both(client, quantity="parking_occupied", **window)
    assert state["aggregation"] == "state"
    assert [(p["value"], p["max"], p["count"]) for p in state["points"]] == [(0.0, 1.0, 3)]
    store(db_url, EUI, "parking_occupied", [(t + 55 * m, 1)])
    state, _ = both(client, quantity="parking_occupied", **window)
    assert [p["value"] for p in state["points"]] == [1.0]


def test_refresh_rollups_after_measurements_are_replaced(client: TestClient, db_url: str) -> None:
    t = utc("2025-06-02T08:00:00Z")
    store(db_url, EUI, "air_temperature", [(t, 10.0), (t + timedelta(minutes=30), 20.0)])
    # What re-decoding does: replace the rows, then ask for the rollups to be recomputed.
    execute(db_url, "UPDATE measurements SET value = value + 1")
    execute(db_url, "SELECT refresh_rollups(1, $1, $2)", t, t + timedelta(minutes=30))
    window = {"from": "2025-06-02T08:00:00Z", "to": "2025-06-02T09:00:00Z", "bucket": "1h"}
    rolled, _ = both(client, quantity="air_temperature", **window)
    assert [p["value"] for p in rolled["points"]] == [16.0]


def test_percentiles_come_from_raw_data(client: TestClient, db_url: str) -> None:
    t = utc("2025-06-02T08:00:00Z")
    store(db_url, EUI, "pm10", [(t + timedelta(minutes=i), float(i)) for i in range(1, 21)])
    body = series(
        client,
        quantity="pm10",
        bucket="1h",
        percentiles="true",
        **{"from": "2025-06-02T08:00:00Z", "to": "2025-06-02T09:00:00Z"},
    )
    assert body["source"] == "raw"
    (point,) = body["points"]
    assert (point["value"], point["p50"], point["p95"]) == (10.5, 10.5, pytest.approx(19.05))


def test_rollups_and_raw_agree_on_irregular_data(client: TestClient, db_url: str) -> None:
    t0 = utc("2025-03-27T00:00:00Z")
    points = [(t0 + timedelta(minutes=17 * i + (i % 7)), 40 + (i * 37 % 23)) for i in range(900)]
    store(db_url, EUI, "noise_laeq", points[::2])
    store(db_url, EUI, "noise_laeq", points[1::2])  # out of order, interleaved
    store(db_url, EUI, "noise_laeq", points[100:200])  # duplicates
    window = {"from": "2025-03-27T00:00:00Z", "to": "2025-04-08T00:00:00Z"}
    for bucket, tz in (
        ("1h", None),
        ("3h", None),
        ("1d", None),
        ("1d", "UTC"),
        ("2d", "America/New_York"),
        ("7d", None),
        ("1d", "Asia/Kolkata"),
    ):
        extra = {"tz": tz} if tz else {}
        rolled, raw = both(client, quantity="noise_laeq", bucket=bucket, **window, **extra)
        assert sum(p["count"] for p in raw["points"]) <= 900
        assert rolled["points"], bucket
    kolkata = series(client, quantity="noise_laeq", bucket="1d", tz="Asia/Kolkata", **window)
    assert kolkata["source"] == "raw"  # +05:30: local days are not whole UTC hours


def test_zone_counts_each_device_once(client: TestClient, db_url: str) -> None:
    t = utc("2025-06-02T08:00:00Z")
    store(db_url, EUI, "air_temperature", [(t + timedelta(minutes=5 * i), 10.0) for i in range(6)])
    store(db_url, OTHER, "air_temperature", [(t + timedelta(minutes=7), 20.0)])
    execute(db_url, "UPDATE devices SET latitude = 52.05, longitude = 5.05")
    square = [[[5.0, 52.0], [5.1, 52.0], [5.1, 52.1], [5.0, 52.1], [5.0, 52.0]]]
    created = client.post(
        "/v1/zones", params={"name": "Centrum"}, json={"type": "Polygon", "coordinates": square}
    )
    assert created.status_code == 201, created.text
    zone = created.json()[0]
    assert zone["devices"] == 2
    window = {"from": "2025-06-02T08:00:00Z", "to": "2025-06-02T09:00:00Z"}
    for source in ("auto", "raw"):
        body = client.get(
            f"/v1/zones/{zone['id']}/series",
            params={"quantity": "air_temperature", "bucket": "1h", "source": source, **window},
        ).json()
        # mean of the two devices' means, not of the 7 measurements (11.43)
        assert [(p["value"], p["count"], p["devices"]) for p in body["points"]] == [(15.0, 7, 2)]
    spread = client.get(
        f"/v1/zones/{zone['id']}/series",
        params={"quantity": "air_temperature", "bucket": "1h", "percentiles": "true", **window},
    ).json()
    assert [(p["value"], p["p50"], p["p95"]) for p in spread["points"]] == [
        (15.0, 10.0, pytest.approx(17.0))  # 95 % of the way through 10,10,10,10,10,10,20
    ]
