"""A fleet of virtual devices in a city, deterministic from a seed.

Each device follows its model's value patterns in the city's local time, encodes them with the
model's codec, is heard by the gateways the radio model says, and is wrapped in the fleet's
envelope format. `measurements` of an uplink is what its payload decodes to (the encoder's
quantisation applied), so what a test expects is exactly what the wire says.

Separate random streams (placement, values, radio, envelopes, schedule) derive from the seed, so
changing one aspect (say, the envelope format) leaves the values and timings as they were.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from decoders import DECODERS, Decoded, DecodeError, Measurement
from decoders.profiles import PROFILES
from simulator.chirpstack import ChirpStackEnvelope
from simulator.frame import Envelope, Frame, VirtualDevice
from simulator.models import MODELS
from simulator.patterns import Derived, ValueState
from simulator.radio import Link
from simulator.spec import BBox, FleetSpec, Group, Zone
from simulator.tts import TtsEnvelope

__all__ = ["Fleet", "SimulatedUplink", "VirtualDevice", "stored"]


@dataclass(frozen=True, slots=True)
class SimulatedUplink:
    """One published message and what it should be stored as.

    `produced` holds the values the value models produced before encoding; `measurements` what
    the payload decodes to (empty if a fault made it undecodable). `at` is when the message is
    published in simulated time: `received_at` unless a fault delays it.
    """

    device: VirtualDevice
    topic: str
    body: bytes
    f_cnt: int
    received_at: datetime
    measurements: tuple[Measurement, ...]
    frame: Frame | None = None
    produced: tuple[Measurement, ...] = ()
    fault: str | None = None
    at: datetime | None = None

    @property
    def published_at(self) -> datetime:
        return self.at or self.received_at

    @property
    def model(self) -> str:
        return self.device.model


def envelope_for(spec: FleetSpec) -> Envelope:
    if spec.envelope == "tts":
        return TtsEnvelope(tenant_id=spec.tenant_id)
    return ChirpStackEnvelope(binary=spec.envelope == "chirpstack-protobuf")


@dataclass(slots=True)
class _DeviceState:
    link: Link
    values: list[ValueState | None]
    f_cnt: int = 0
    last_at: datetime | None = None


class Fleet:
    """`Fleet(10)`: ten climate sensors, as the spine had. `Fleet(spec=load(path))`: a city."""

    def __init__(
        self,
        size: int = 0,
        seed: int = 1,
        application_id: str = "meetnet-demo",
        *,
        spec: FleetSpec | None = None,
    ) -> None:
        if spec is None:
            spec = FleetSpec((Group("climate", size),), seed=seed, application_id=application_id)
        self.spec = spec
        self.envelope = envelope_for(spec)
        self._tz = ZoneInfo(spec.timezone)
        seed = spec.seed
        place = random.Random(f"{seed}:place")
        value_seed = random.Random(f"{seed}:value-models")
        self._values = random.Random(f"{seed}:values")
        self._radio = random.Random(f"{seed}:radio")
        self._ids = random.Random(f"{seed}:envelopes")
        self._schedule = random.Random(f"{seed}:schedule")
        zones = {z.name: z for z in spec.zones}
        self.devices: list[VirtualDevice] = []
        self._state: list[_DeviceState] = []
        per_model: dict[str, int] = {}
        for group in spec.groups:
            model = MODELS[group.model]
            for _ in range(group.count):
                n = len(self.devices)
                k = per_model.get(model.name, 0)
                per_model[model.name] = k + 1
                zone, lat, lon = _place(group, zones, spec.area, place)
                device = VirtualDevice(
                    dev_eui=f"70B3D5{seed % 0xFFFF:04X}{n:06X}",
                    device_id=f"{model.name}-{k:04d}",
                    application_id=spec.application_id,
                    latitude=lat,
                    longitude=lon,
                    phase=place.uniform(-0.5, 0.5),
                    model=model.name,
                    dev_addr=f"260B{place.getrandbits(16):04X}",
                    zone=zone,
                    interval_s=group.interval_s or model.interval_s,
                    profile=group.device_profile,
                )
                self.devices.append(device)
                self._state.append(
                    _DeviceState(
                        link=Link.between(lat, lon, spec.gateways),
                        values=[
                            None if isinstance(c.values, Derived) else c.values.start(value_seed)
                            for c in model.channels
                        ],
                    )
                )
        self._index = {d.dev_eui: i for i, d in enumerate(self.devices)}

    def profiles(self) -> dict[str, str]:
        """DevEUI -> the device profile its operator sets, for the devices that have one: what
        to register (`devices.profile`) where the envelope does not name it (TTS sends no device
        profile for hand-registered devices; ChirpStack's device profile name selects it)."""
        return {d.dev_eui: d.profile for d in self.devices if d.profile}

    @classmethod
    def from_file(cls, path: str) -> Fleet:
        from simulator.spec import load

        return cls(spec=load(path))

    def reading(self, device: VirtualDevice, at: datetime) -> tuple[Measurement, ...]:
        """The device's values at `at`, before encoding (advances its state)."""
        index = self._index[device.dev_eui]
        state = self._state[index]
        model = MODELS[device.model]
        elapsed = (at - state.last_at).total_seconds() if state.last_at else device.interval_s
        state.last_at = at
        local = at.astimezone(self._tz)
        values: dict[tuple[str, int], float] = {}
        out = []
        for channel, value_state in zip(model.channels, state.values, strict=True):
            if isinstance(channel.values, Derived):
                value = channel.values.derive(values[channel.values.source])
            else:
                assert value_state is not None
                value = value_state.next(local, max(elapsed, 0.0), self._values)
            values[(channel.quantity, channel.sensor)] = value
            out.append(Measurement(channel.quantity, value, sensor=channel.sensor))
        return tuple(out)

    def uplink(self, device: VirtualDevice, at: datetime) -> SimulatedUplink:
        """The device's next uplink, received by the network at `at`."""
        index = self._index[device.dev_eui]
        state = self._state[index]
        state.f_cnt += 1
        produced = self.reading(device, at)
        model = MODELS[device.model]
        codec = DECODERS[model.codec]
        payload = codec.encode(produced, model.f_port)
        frame = Frame(
            device=device,
            f_cnt=state.f_cnt,
            f_port=model.f_port,
            payload=payload,
            received_at=at,
            reception=state.link.receive(len(payload), self._radio),
        )
        return self.render(frame, produced=produced)

    def render(
        self,
        frame: Frame,
        *,
        produced: tuple[Measurement, ...] = (),
        fault: str | None = None,
        rng: random.Random | None = None,
        at: datetime | None = None,
    ) -> SimulatedUplink:
        """Wrap a frame in the fleet's envelope; `measurements` from decoding its payload."""
        topic, body = self.envelope.render(frame, rng or self._ids)
        return SimulatedUplink(
            device=frame.device,
            topic=topic,
            body=body,
            f_cnt=frame.f_cnt,
            received_at=frame.received_at,
            measurements=decoded(frame),
            frame=frame,
            produced=produced,
            fault=fault,
            at=at,
        )

    def stream(
        self, start: datetime | None = None, interval_s: float = 0.0
    ) -> Iterator[SimulatedUplink]:
        """Round-robin over the fleet forever; each uplink `interval_s` after the previous
        (1 µs when 0). For benchmarks and demos that want a steady flow, whatever the models'
        own intervals; `timeline` follows them."""
        at = start or datetime.now(UTC)
        step = timedelta(seconds=interval_s) if interval_s else timedelta(microseconds=1)
        while True:
            for device in self.devices:
                yield self.uplink(device, at)
                at += step

    def timeline(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[SimulatedUplink]:
        """Every device at its own interval (± jitter) from `start` until `end` (None: forever),
        in time order. The first uplinks spread over one interval, as a real fleet's would."""
        start = start or datetime.now(UTC)
        queue = [
            (start + timedelta(seconds=(d.phase + 0.5) * d.interval_s), i)
            for i, d in enumerate(self.devices)
        ]
        heapq.heapify(queue)
        jitter = self.spec.jitter
        while queue:
            at, i = heapq.heappop(queue)
            if end is not None and at >= end:
                return
            device = self.devices[i]
            yield self.uplink(device, at)
            step = device.interval_s * (1 + self._schedule.uniform(-jitter, jitter))
            heapq.heappush(queue, (at + timedelta(seconds=step), i))


def decoded(frame: Frame) -> tuple[Measurement, ...]:
    """What the frame's payload decodes to with its model's codec; () if it does not decode."""
    model = MODELS.get(frame.device.model)
    if model is None:
        return ()
    try:
        return DECODERS[model.codec].decode(frame.payload, frame.f_port).measurements
    except DecodeError:
        return ()


def stored(uplink: SimulatedUplink) -> tuple[Measurement, ...]:
    """What ingest stores of the uplink once its device's profile is set: `measurements` with
    the profile applied (() where ingest would dead-letter the frame instead)."""
    profile = PROFILES.get(uplink.device.profile)
    if profile is None:
        return uplink.measurements
    try:
        return profile.apply(Decoded(uplink.measurements)).measurements
    except DecodeError:
        return ()


def _place(
    group: Group, zones: dict[str, Zone], area: BBox, rng: random.Random
) -> tuple[str, float, float]:
    """A point inside one of the group's zones (rejection sampling), else inside its bbox."""
    if group.zones:
        zone = zones[rng.choice(group.zones)]
        box = zone.bbox
        for _ in range(1000):
            lat = rng.uniform(box.south, box.north)
            lon = rng.uniform(box.west, box.east)
            if zone.contains(lon, lat):
                return zone.name, round(lat, 5), round(lon, 5)
        raise ValueError(f"could not place a device inside zone {zone.name!r}")
    box = group.bbox or area
    lat, lon = rng.uniform(box.south, box.north), rng.uniform(box.west, box.east)
    return "", round(lat, 5), round(lon, 5)
