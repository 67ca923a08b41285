"""Faults injected into a stream of uplinks, each at a rate per uplink.

One uniform draw per uplink picks at most one fault (rates add up to at most 1), so the number of
uplinks hit by a fault follows Binomial(n, rate). Faults draw from their own random stream: the
fleet's values and envelopes are the same with faults on or off.

| fault | what happens | what ingest should do |
|---|---|---|
| duplicate | the same message is delivered again (0-3 messages later) | store it once |
| malformed_json | the body is cut short | parse-stage dead letter |
| truncated_payload | the FRMPayload is cut short | decode-stage dead letter, raw uplink kept |
| garbled_payload | the FRMPayload is random bytes | decode error (or nonsense values) |
| unknown_device | a DevEUI outside the fleet sends | auto-register the device |
| wrong_f_port | a port the model does not use | whatever the codec says for that port |
| f_cnt_reset | the device restarts its frame counter at 0 | accept: the key is not f_cnt |
| late | published minutes to hours after `received_at` | store under its own time |
| out_of_order | overtaken by the next 1-5 messages | same |
| burst | the next `burst_size` messages are held and sent at once | back-pressure, no loss |
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from simulator.fleet import Fleet, SimulatedUplink
from simulator.frame import VirtualDevice

FAULTS = (
    "duplicate",
    "malformed_json",
    "truncated_payload",
    "garbled_payload",
    "unknown_device",
    "wrong_f_port",
    "f_cnt_reset",
    "late",
    "out_of_order",
    "burst",
)


class FaultError(ValueError):
    """A fault specification the injector cannot use."""


def parse_rates(items: Iterable[str]) -> dict[str, float]:
    """`["duplicate=0.01", "late=0.005"]` → rates; unknown names and bad numbers are errors."""
    rates: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise FaultError(f"fault {item!r} needs a rate: NAME=RATE, e.g. duplicate=0.01")
        try:
            rates[name] = float(value)
        except ValueError:
            raise FaultError(f"rate of fault {name!r} is not a number: {value!r}") from None
    check_rates(rates)
    return rates


def check_rates(rates: Mapping[str, float]) -> None:
    for name, rate in rates.items():
        if name not in FAULTS:
            raise FaultError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if not 0 <= rate <= 1:
            raise FaultError(f"rate of fault {name!r} must be within 0..1, got {rate}")
    if sum(rates.values()) > 1:
        raise FaultError("fault rates add up to more than 1")


@dataclass(order=True, slots=True)
class _Held:
    release_at: datetime
    seq: int
    uplink: SimulatedUplink


@dataclass(slots=True)
class _Waiting:
    left: int  # messages still to let pass
    uplink: SimulatedUplink


class FaultInjector:
    """Applies faults to a fleet's stream; `injected` counts them by name."""

    def __init__(
        self,
        fleet: Fleet,
        rates: Mapping[str, float],
        *,
        seed: int | None = None,
        late_s: tuple[float, float] = (300.0, 7200.0),
        burst_size: int = 20,
        max_held: int = 100_000,
    ) -> None:
        check_rates(rates)
        self.fleet = fleet
        self.rates = {name: rates[name] for name in FAULTS if rates.get(name)}
        self.rng = random.Random(f"{fleet.spec.seed if seed is None else seed}:faults")
        self.late_s = late_s
        self.burst_size = burst_size
        self.max_held = max_held
        self.injected: Counter[str] = Counter()
        self._f_cnt_base: dict[str, int] = {}
        self._seq = 0

    def _pick(self) -> str | None:
        x, total = self.rng.random(), 0.0
        for name, rate in self.rates.items():
            total += rate
            if x < total:
                return name
        return None

    def apply(self, uplinks: Iterable[SimulatedUplink]) -> Iterator[SimulatedUplink]:
        timed: list[_Held] = []  # late: released once the stream passes release_at
        counted: list[_Waiting] = []  # out_of_order and duplicate copies
        burst: list[SimulatedUplink] = []
        burst_left = 0
        for u in uplinks:
            now = u.published_at
            due: list[SimulatedUplink] = []
            while timed and (timed[0].release_at <= now or len(timed) > self.max_held):
                due.append(heapq.heappop(timed).uplink)
            still: list[_Waiting] = []
            for item in counted:
                item.left -= 1
                if item.left < 0:
                    due.append(replace(item.uplink, at=now))
                else:
                    still.append(item)
            counted = still

            u = self._continue_f_cnt(u)
            fault = self._pick()
            current: SimulatedUplink | None = u
            if fault is not None:
                self.injected[fault] += 1
                if fault == "duplicate":
                    counted.append(_Waiting(self.rng.randint(0, 3), replace(u, fault="duplicate")))
                elif fault == "late":
                    delay = timedelta(seconds=self.rng.uniform(*self.late_s))
                    self._seq += 1
                    late = replace(u, fault="late", at=u.received_at + delay)
                    heapq.heappush(timed, _Held(late.published_at, self._seq, late))
                    current = None
                elif fault == "out_of_order":
                    overtaken = replace(u, fault="out_of_order")
                    counted.append(_Waiting(self.rng.randint(1, 5), overtaken))
                    current = None
                elif fault == "burst":
                    burst_left = max(burst_left, self.burst_size)
                else:
                    current = self._corrupt(u, fault)
            if current is not None:
                due.append(current)
            if burst_left > 0:
                burst_left -= 1
                burst.extend(due)
                if burst_left == 0:
                    yield from (replace(b, at=now) for b in burst)
                    burst.clear()
                continue
            yield from due
        yield from burst
        yield from (item.uplink for item in counted)
        while timed:
            yield heapq.heappop(timed).uplink

    def _continue_f_cnt(self, u: SimulatedUplink) -> SimulatedUplink:
        """After an f_cnt reset, the device keeps counting from its new origin."""
        base = self._f_cnt_base.get(u.device.dev_eui)
        if base is None or u.frame is None:
            return u
        frame = replace(u.frame, f_cnt=u.frame.f_cnt - base)
        return self.fleet.render(frame, produced=u.produced, fault=u.fault, rng=self.rng)

    def _corrupt(self, u: SimulatedUplink, fault: str) -> SimulatedUplink:
        rng, frame = self.rng, u.frame
        if fault == "malformed_json":
            cut = rng.randint(1, max(1, len(u.body) - 1))
            return replace(u, body=u.body[:cut], measurements=(), fault=fault)
        assert frame is not None, "payload faults need the uplink's frame"
        if fault == "truncated_payload":
            size = len(frame.payload)  # a frame of one byte is cut to nothing
            frame = replace(
                frame, payload=frame.payload[: rng.randint(1, size - 1) if size > 1 else 0]
            )
        elif fault == "garbled_payload":
            frame = replace(frame, payload=rng.randbytes(len(frame.payload)))
        elif fault == "unknown_device":
            n = rng.getrandbits(32)
            stranger = VirtualDevice(
                dev_eui=f"DEADBEEF{n:08X}",
                device_id=f"unknown-{n:08x}",
                application_id=frame.device.application_id,
                latitude=frame.device.latitude,
                longitude=frame.device.longitude,
                phase=0.0,
                model=frame.device.model,
                dev_addr=f"260B{rng.getrandbits(16):04X}",
            )
            frame = replace(frame, device=stranger)
        elif fault == "wrong_f_port":
            port = rng.randint(1, 222)
            frame = replace(frame, f_port=port if port < frame.f_port else port + 1)
        elif fault == "f_cnt_reset":
            self._f_cnt_base[frame.device.dev_eui] = (
                self._f_cnt_base.get(frame.device.dev_eui, 0) + frame.f_cnt
            )
            frame = replace(frame, f_cnt=0)
        else:
            raise FaultError(f"no corruption for fault {fault!r}")
        return self.fleet.render(frame, produced=u.produced, fault=fault, rng=rng)
