"""`meetnet simulate`: build the stream the options ask for, publish it with a progress bar, and
print what was sent (per model, faults injected, rate achieved)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ingest.settings import BrokerAddress
from simulator import FaultInjector, Fleet, Recorded, Recorder, paced, publish, read
from simulator.fleet import SimulatedUplink
from simulator.recording import Message
from simulator.spec import FleetSpec, Group, load

MODES = ("realtime", "accelerated", "fast", "backfill")


@dataclass(frozen=True)
class Options:
    fleet: Path | None = None
    devices: int = 10
    models: tuple[str, ...] = ("climate",)
    interval_s: float | None = None
    envelope: str | None = None
    seed: int | None = None
    mode: str = "realtime"
    speed: float = 60.0
    start: datetime | None = None
    duration_s: float | None = None
    count: int = 0
    rate: float = 0.0
    faults: dict[str, float] = field(default_factory=dict)
    record: Path | None = None
    replay: Path | None = None
    dry_run: bool = False
    qos: int = 1


@dataclass
class Summary:
    published: Counter[str] = field(default_factory=Counter)  # by model
    faults: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    first: datetime | None = None
    last: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.published.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


def fleet_spec(options: Options) -> FleetSpec:
    if options.fleet is not None:
        spec = load(options.fleet)
    else:
        groups = tuple(Group(m, options.devices) for m in options.models)
        spec = FleetSpec(groups)
    if options.interval_s is not None:
        spec = replace(
            spec, groups=tuple(replace(g, interval_s=options.interval_s) for g in spec.groups)
        )
    if options.envelope is not None:
        spec = replace(spec, envelope=options.envelope)
    if options.seed is not None:
        spec = replace(spec, seed=options.seed)
    return spec


@dataclass
class Plan:
    """What will be published, in order, and how to pace it."""

    messages: Iterable[Message]
    speed: float  # 0: no pacing
    total: int | None
    injector: FaultInjector | None = None
    # No message before its own time on the wall clock: true for the fleet's own messages, false
    # for a replay, which publishes its recorded bytes as they are.
    live: bool = False


def plan(options: Options, now: datetime | None = None) -> Plan:
    now = now or datetime.now(UTC)
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if options.replay is not None:
        speed = {"realtime": 1.0, "accelerated": options.speed}.get(options.mode, 0.0)
        messages: Iterable[Message] = read(options.replay)
        with options.replay.open("rb") as lines:
            recorded = sum(1 for line in lines if line.strip())
        if options.count:
            messages = itertools.islice(messages, options.count)
            recorded = min(recorded, options.count)
        return Plan(messages, speed, recorded)

    fleet = Fleet(spec=fleet_spec(options))
    if options.mode == "backfill":
        period = options.duration_s or 86400.0
        start = options.start or now - timedelta(seconds=period)
        end: datetime | None = start + timedelta(seconds=period)
        speed = 0.0
    else:
        # Faster than real time, a run begins in the past and ends at the present: measurements
        # from the future would stand in `latest` until their time came.
        start = options.start or (
            now if options.mode == "realtime" else now - _lead(options, fleet)
        )
        end = start + timedelta(seconds=options.duration_s) if options.duration_s else None
        speed = {"realtime": 1.0, "accelerated": options.speed, "fast": 0.0}[options.mode]
    uplinks: Iterator[SimulatedUplink] = fleet.timeline(start, end)
    injector = None
    if options.faults:
        injector = FaultInjector(fleet, options.faults)
        uplinks = injector.apply(uplinks)
    total: int | None = None
    if end is not None:
        span = (end - start).total_seconds()
        expected = sum(math.floor(span / d.interval_s + 0.5) for d in fleet.devices)
        total = round(expected * (1 + options.faults.get("duplicate", 0.0)))
    if options.count:
        uplinks = itertools.islice(uplinks, options.count)
        total = min(total, options.count) if total is not None else options.count
    return Plan(uplinks, speed, total, injector, live=True)


def _received_at(message: Message) -> datetime | None:
    at = getattr(message, "received_at", None)
    return at if isinstance(at, datetime) else None


def _lead(options: Options, fleet: Fleet) -> timedelta:
    """How far before now an accelerated or fast run starts: its --duration; else the time the
    fleet takes for --count uplinks (with room for jitter and duplicates); else a day."""
    if options.duration_s:
        return timedelta(seconds=options.duration_s)
    if options.count and fleet.devices:
        per_second = sum(1 / d.interval_s for d in fleet.devices)
        longest = max(d.interval_s for d in fleet.devices)
        return timedelta(seconds=1.05 * options.count / per_second + longest)
    return timedelta(days=1)


def run(
    options: Options,
    broker: BrokerAddress | None,
    console: Console | None = None,
    stop: threading.Event | None = None,
) -> Summary:
    """Publish (or, dry run, only record) the planned stream; returns what was sent."""
    console = console or Console(stderr=True)
    stop = stop or threading.Event()
    the_plan = plan(options)
    summary = Summary()
    progress = Progress(
        TextColumn("[bold]simulate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f}/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("simulate", total=the_plan.total, rate=0.0)
    started = time.monotonic()

    def published(message: Message) -> None:
        summary.published[getattr(message, "model", None) or "replayed"] += 1
        at = getattr(message, "published_at", None)
        if at is not None:
            summary.first = summary.first or at
            summary.last = at
        if summary.total % 97 == 0 or summary.total == the_plan.total:
            elapsed = time.monotonic() - started
            progress.update(task, completed=summary.total, rate=summary.total / max(elapsed, 1e-9))

    def time_of(message: Message) -> datetime | None:
        at = getattr(message, "published_at", None)
        return at if isinstance(at, datetime) else None

    with ExitStack() as stack:
        stack.enter_context(progress)
        inside = _received_at if the_plan.live else None
        messages: Iterable[Message] = paced(
            the_plan.messages, the_plan.speed, time_of, not_before=inside
        )
        if options.record is not None:
            recorder = Recorder(stack.enter_context(options.record.open("wb")))
            messages = recorder.tee(messages)
        if options.dry_run or broker is None:
            for message in messages:
                if stop.is_set():
                    break
                published(message)
        else:
            publish(
                messages,
                broker.host,
                broker.port,
                username=broker.username,
                password=broker.password,
                tls=broker.tls,
                qos=options.qos,
                rate=options.rate or None,
                client_id=f"meetnet-simulate-{time.time_ns() % 10**9}",
                on_published=published,
                should_stop=stop.is_set,
            )
        summary.seconds = time.monotonic() - started
        progress.update(task, completed=summary.total, rate=summary.rate)
    if the_plan.injector is not None:
        summary.faults = the_plan.injector.injected
    return summary


def report(summary: Summary, console: Console) -> None:
    table = Table(title="published", show_footer=True)
    table.add_column("model", footer="total")
    table.add_column("uplinks", justify="right", footer=str(summary.total))
    for model, n in sorted(summary.published.items()):
        table.add_row(model, str(n))
    console.print(table)
    if summary.faults:
        faults = Table(title="faults injected")
        faults.add_column("fault")
        faults.add_column("count", justify="right")
        for name, n in sorted(summary.faults.items()):
            faults.add_row(name, str(n))
        console.print(faults)
    span = ""
    if summary.first and summary.last:
        span = f", simulated {summary.first:%Y-%m-%d %H:%M} .. {summary.last:%Y-%m-%d %H:%M} UTC"
    console.print(
        f"{summary.total} messages in {summary.seconds:.1f} s: {summary.rate:,.0f} messages/s{span}"
    )


__all__ = ["MODES", "Options", "Recorded", "Summary", "plan", "report", "run"]
