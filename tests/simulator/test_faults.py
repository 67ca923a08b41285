"""Faults: rates within tolerance on a large sample, and each does what it says."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import UTC, datetime

import pytest

from ingest.model import ParseError
from ingest.tts import parse_uplink
from simulator import FAULTS, FaultInjector, Fleet, FleetSpec, Group, parse_rates
from simulator.faults import FaultError

START = datetime(2025, 3, 14, tzinfo=UTC)
N = 20_000


def test_fault_rates_hold_on_a_large_sample() -> None:
    rates = dict.fromkeys(FAULTS, 0.02)
    fleet = Fleet(spec=FleetSpec((Group("climate", 50), Group("bin", 50)), seed=2))
    injector = FaultInjector(fleet, rates, burst_size=5, late_s=(60, 600))
    out = list(injector.apply(itertools.islice(fleet.timeline(START), N)))
    # The same fleet without faults: what each uplink would have carried.
    clean = Fleet(spec=fleet.spec)
    original = {
        (u.device.dev_eui, u.received_at): u.frame.payload
        for u in itertools.islice(clean.timeline(START), N)
        if u.frame is not None
    }
    assert len(original) == N
    for name in FAULTS:
        # Binomial(N, p): within 4.5 standard deviations
        assert injector.injected[name] == pytest.approx(N * 0.02, abs=4.5 * math.sqrt(N * 0.02))
    seen = Counter(u.fault for u in out)
    assert len(out) == N + injector.injected["duplicate"]
    for name in ("duplicate", "late", "out_of_order", "malformed_json", "unknown_device"):
        assert seen[name] == injector.injected[name]
    fleet_euis = {d.dev_eui for d in fleet.devices}
    for u in out:
        if u.fault == "malformed_json":
            with pytest.raises(ParseError):
                parse_uplink(u.body)
            continue
        parsed = parse_uplink(u.body)
        assert (parsed.dev_eui in fleet_euis) == (u.fault != "unknown_device")
        if u.fault == "truncated_payload":
            # What is sent is a proper prefix of what the device would have sent.
            whole = original[(u.device.dev_eui, u.received_at)]
            assert 0 < len(parsed.payload) < len(whole)
            assert whole.startswith(parsed.payload)
        if u.fault == "f_cnt_reset":
            assert parsed.f_cnt == 0
    # late ones arrive after uplinks received later than them; duplicates repeat exact bytes
    positions = {u.body: i for i, u in enumerate(out) if u.fault is None}
    for i, u in enumerate(out):
        if u.fault == "duplicate":
            assert u.body in positions and positions[u.body] < i
    late = [u for u in out if u.fault == "late"]
    assert len(late) == injector.injected["late"] > 0
    assert all(u.published_at > u.received_at for u in late)
    received = [u.received_at for u in out]
    assert received != sorted(received)


def test_f_cnt_continues_from_a_reset() -> None:
    fleet = Fleet(spec=FleetSpec((Group("climate", 1),), seed=2))
    injector = FaultInjector(fleet, {"f_cnt_reset": 0.1})
    counts = [
        parse_uplink(u.body).f_cnt
        for u in injector.apply(itertools.islice(fleet.timeline(START), 200))
    ]
    resets = [i for i, c in enumerate(counts) if c == 0]
    # After a reset the next frame is 1, unless it is another reset.
    following = [counts[i + 1] for i in resets if i + 1 < len(counts)]
    assert following and set(following) <= {0, 1} and 1 in following


def test_faults_leave_the_fleets_values_alone() -> None:
    Key = tuple[str, datetime]

    def values(rates: dict[str, float]) -> tuple[dict[Key, float], set[Key]]:
        fleet = Fleet(spec=FleetSpec((Group("climate", 5),), seed=9))
        stream = list(
            FaultInjector(fleet, rates).apply(itertools.islice(fleet.timeline(START), 500))
        )
        assert len(stream) == 500  # neither fault adds or drops an uplink
        untouched = {
            (u.device.dev_eui, u.received_at): u.produced[0].value
            for u in stream
            if u.fault is None
        }
        hit = {(u.device.dev_eui, u.received_at) for u in stream if u.fault is not None}
        return untouched, hit

    clean, none = values({})
    assert len(clean) == 500 and not none
    faulty, hit = values({"malformed_json": 0.1, "late": 0.1})
    # Every uplink no fault touched carries exactly the value it carries without faults.
    assert 0 < len(hit) < 500
    assert faulty == {key: value for key, value in clean.items() if key not in hit}


def test_bursts_release_held_messages_together() -> None:
    fleet = Fleet(spec=FleetSpec((Group("parking", 20),), seed=4))
    injector = FaultInjector(fleet, {"burst": 0.01}, burst_size=10)
    out = list(injector.apply(itertools.islice(fleet.timeline(START), 3000)))
    at = Counter(u.published_at for u in out)
    assert max(at.values()) >= 10
    assert len(out) == 3000


def test_bad_fault_lists_say_what_to_fix() -> None:
    assert parse_rates(["duplicate=0.01", "out-of-order=0.2"]) == {
        "duplicate": 0.01,
        "out_of_order": 0.2,
    }
    with pytest.raises(FaultError, match="unknown fault 'dup'"):
        parse_rates(["dup=0.1"])
    with pytest.raises(FaultError, match="NAME=RATE"):
        parse_rates(["late"])
    with pytest.raises(FaultError, match="more than 1"):
        parse_rates(["late=0.6", "burst=0.6"])


def test_a_one_byte_frame_is_truncated_to_nothing() -> None:
    """The Nwave parking sensor sends a single byte; cutting it short leaves an empty frame."""
    fleet = Fleet(spec=FleetSpec((Group("nwave-nps310sm", 3),), seed=1))
    sent = list(itertools.islice(fleet.timeline(START), 6))
    assert all(len(u.frame.payload) == 1 for u in sent if u.frame is not None)
    out = list(FaultInjector(fleet, {"truncated_payload": 1.0}).apply(iter(sent)))
    assert [(u.fault, u.frame.payload if u.frame else None) for u in out] == [
        ("truncated_payload", b"")
    ] * 6
