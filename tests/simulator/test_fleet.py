"""Fleet: deterministic, every model's payload decodes to what its value models produced."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from decoders import DECODERS, Measurement
from simulator import MODELS, Fleet, FleetSpec, Group, load, stored
from simulator.radio import SNR_LIMIT_DB, airtime_s
from simulator.spec import FleetFileError, Zone, from_dict

START = datetime(2025, 3, 14, 0, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "fleet.example.toml"


def every_model(seed: int = 3, envelope: str = "tts") -> Fleet:
    return Fleet(spec=FleetSpec(tuple(Group(m, 4) for m in MODELS), seed=seed, envelope=envelope))


@pytest.mark.parametrize("envelope", ["tts", "chirpstack-json", "chirpstack-protobuf"])
def test_same_seed_gives_byte_identical_output(envelope: str) -> None:
    def run(seed: int) -> list[tuple[str, bytes]]:
        fleet = every_model(seed, envelope)
        return [(u.topic, u.body) for u in itertools.islice(fleet.timeline(START), 300)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_legacy_fleet_keeps_its_shape() -> None:
    fleet = Fleet(3, seed=7, application_id="app")
    uplinks = list(itertools.islice(fleet.stream(start=START, interval_s=60), 6))
    assert [u.device.device_id for u in uplinks[:3]] == [f"climate-{i:04d}" for i in range(3)]
    assert [u.received_at for u in uplinks] == [START + timedelta(minutes=i) for i in range(6)]
    assert [u.f_cnt for u in uplinks] == [1, 1, 1, 2, 2, 2]
    assert all(u.topic == f"v3/app@ttn/devices/{u.device.device_id}/up" for u in uplinks)
    assert [m.quantity for m in uplinks[0].measurements] == [
        "air_temperature",
        "relative_humidity",
        "barometric_pressure",
    ]


def test_each_model_decodes_back_to_what_its_value_models_produced() -> None:
    fleet = every_model()
    seen = set()
    for u in itertools.islice(fleet.timeline(START), 2000):
        model = MODELS[u.model]
        assert u.frame is not None
        decoded = DECODERS[model.codec].decode(u.frame.payload, u.frame.f_port).measurements
        assert decoded == u.measurements
        assert [(m.quantity, m.sensor) for m in decoded] == [
            (c.quantity, c.sensor) for c in model.channels
        ]
        for got, produced in zip(decoded, u.produced, strict=True):
            # within the codec's resolution (CayenneLPP's coarsest here: 1 unit)
            assert got.value == pytest.approx(produced.value, abs=0.5 + 1e-9)
        seen.add(u.model)
    assert seen == set(MODELS)


def test_values_follow_their_daily_patterns() -> None:
    fleet = Fleet(spec=FleetSpec((Group("climate", 20), Group("noise", 20)), seed=5))
    by_hour: dict[tuple[str, int], list[float]] = {}
    for u in fleet.timeline(START, START + timedelta(days=2)):
        local_hour = (u.received_at + timedelta(hours=1)).hour  # Amsterdam in March: UTC+1
        by_hour.setdefault((u.measurements[0].quantity, local_hour), []).append(
            u.measurements[0].value
        )

    def mean(key: tuple[str, int]) -> float:
        return sum(by_hour[key]) / len(by_hour[key])

    assert mean(("air_temperature", 15)) > mean(("air_temperature", 4)) + 8
    assert mean(("analog_input", 8)) > mean(("analog_input", 3)) + 10  # rush hour noise


def test_timeline_follows_each_devices_interval_in_time_order() -> None:
    fleet = Fleet(spec=FleetSpec((Group("climate", 5, interval_s=600),), seed=1))
    uplinks = list(fleet.timeline(START, START + timedelta(hours=10)))
    times = [u.received_at for u in uplinks]
    assert times == sorted(times)
    assert len(uplinks) == pytest.approx(5 * 60, abs=5)
    one = [u.received_at for u in uplinks if u.device == fleet.devices[0]]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(one)]
    assert len(gaps) >= 58  # 10 hours of 10-minute intervals, less the device's phase
    assert all(594 <= g <= 606 for g in gaps)


def test_radio_model_is_plausible() -> None:
    fleet = every_model()
    sfs, counts = set(), []
    for u in itertools.islice(fleet.timeline(START), 1000):
        assert u.frame is not None
        r = u.frame.reception
        sfs.add(r.spreading_factor)
        counts.append(len(r.heard))
        assert all(h.snr >= SNR_LIMIT_DB[r.spreading_factor] for h in r.heard)
        assert len({h.gateway.gateway_id for h in r.heard}) == len(r.heard)
    assert len(sfs) >= 3, "devices at different distances need different spreading factors"
    assert max(counts) > 1, "some uplinks are heard by several gateways"
    # AN1200.13 / TTS: 11-byte payload at SF9 takes 205.824 ms (formats.md §1.5).
    assert airtime_s(11, 9) == pytest.approx(0.205824)
    assert airtime_s(11, 12) > airtime_s(11, 7) * 15


def test_devices_are_placed_inside_their_zones() -> None:
    square = Zone("centrum", ((5.11, 52.08), (5.13, 52.08), (5.13, 52.10), (5.11, 52.10)))
    spec = FleetSpec((Group("parking", 50, zones=("centrum",)),), zones=(square,))
    devices = Fleet(spec=spec).devices
    assert len(devices) == 50
    for device in devices:
        assert device.zone == "centrum"
        assert square.contains(device.longitude, device.latitude)


def test_example_fleet_file_loads_and_bad_files_say_what_to_fix() -> None:
    spec = load(EXAMPLE)
    assert spec.size > 0 and {g.model for g in spec.groups} <= set(MODELS)
    fleet = Fleet(spec=spec)
    assert len(fleet.devices) == spec.size
    with pytest.raises(FleetFileError, match="unknown device model 'toaster'"):
        from_dict({"devices": [{"model": "toaster"}]})
    with pytest.raises(FleetFileError, match="unknown zone 'nowhere'"):
        from_dict({"devices": [{"model": "climate", "zones": "nowhere"}]})
    with pytest.raises(FleetFileError, match="not a duration"):
        from_dict({"devices": [{"model": "climate", "interval": "soon"}]})


def test_fleet_groups_declare_the_profiles_their_operator_sets() -> None:
    fleet = Fleet(spec=load(EXAMPLE))
    by_model = {d.model: d.profile for d in fleet.devices}
    assert by_model["air-quality"] == "lpp-air-quality"
    assert by_model["noise"] == "lpp-noise"
    assert by_model["parking"] == "lpp-parking"
    assert by_model["climate"] == ""  # nothing generic to map
    assert set(fleet.profiles().values()) == {
        "lpp-air-quality", "lpp-noise", "lpp-parking", "lpp-bin", "lpp-people-counter",
        "lpp-light",
    }  # fmt: skip
    # Left out, a group takes its model's profile; "" takes none.
    assert Fleet(spec=from_dict({"devices": [{"model": "noise"}]})).devices[0].profile == (
        "lpp-noise"
    )
    assert Fleet(spec=from_dict({"devices": [{"model": "noise", "profile": ""}]})).profiles() == {}
    with pytest.raises(FleetFileError, match="unknown profile 'lpp-toaster'"):
        from_dict({"devices": [{"model": "noise", "profile": "lpp-toaster"}]})
    with pytest.raises(FleetFileError, match="but 'dragino-lht65' sends dragino_lht65"):
        from_dict({"devices": [{"model": "dragino-lht65", "profile": "lpp-noise"}]})


def test_stored_measurements_are_the_decoded_ones_through_the_profile() -> None:
    fleet = Fleet(spec=FleetSpec((Group("noise", 1),), seed=3))
    (uplink,) = itertools.islice(fleet.timeline(START), 1)
    laeq, lamax, battery = uplink.measurements
    assert [(m.quantity, m.sensor) for m in uplink.measurements] == [
        ("analog_input", 1), ("analog_input", 2), ("voltage", 9)
    ]  # fmt: skip
    assert stored(uplink) == (
        Measurement("noise_laeq", laeq.value),
        Measurement("noise_lamax", lamax.value),
        Measurement("battery_voltage", battery.value),
    )
