"""The `meetnet` command: migrate, ingest, api, simulate, seed, demo."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console

from ingest.settings import IngestSettings, parse_mqtt_url
from meetnet import database, replay
from meetnet.runner import run_ingest
from meetnet.settings import DemoSettings

app = typer.Typer(
    help="meetnet: LoRaWAN uplinks from MQTT into PostgreSQL, served as city data.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _logging(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def migrate() -> None:
    """Apply pending database migrations and seed the quantity catalogue."""
    settings = IngestSettings()
    applied = asyncio.run(database.prepare(settings.database_url.get_secret_value()))
    typer.echo(f"applied {len(applied)} migration(s)" if applied else "database is up to date")


@app.command()
def ingest() -> None:
    """Subscribe to the broker and store uplinks until SIGTERM or Ctrl-C."""
    asyncio.run(run_ingest(IngestSettings()))


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Serve the HTTP API."""
    # Imported here: the web stack takes a second to import, which every other command
    # (ingest catching up after an outage above all) would otherwise pay at start.
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    uvicorn.run(create_app(ApiSettings()), host=host, port=port, log_level="info")


@app.command()
def simulate(
    fleet: Annotated[Path | None, typer.Option(help="Fleet file (TOML)")] = None,
    devices: Annotated[int, typer.Option(min=1, help="Devices per --model (no fleet file)")] = 10,
    model: Annotated[list[str] | None, typer.Option(help="Device model (repeatable)")] = None,
    interval: Annotated[str | None, typer.Option(help="Reporting interval, e.g. 10m")] = None,
    envelope: Annotated[
        str | None, typer.Option("--format", help="tts | chirpstack-json | chirpstack-protobuf")
    ] = None,
    mode: Annotated[str, typer.Option(help="realtime|accelerated|fast|backfill")] = "realtime",
    speed: Annotated[float, typer.Option(min=0, help="Accelerated mode: times real time")] = 60,
    start: Annotated[datetime | None, typer.Option(help="Simulated start (UTC)")] = None,
    duration: Annotated[str | None, typer.Option(help="Simulated period, e.g. 1d")] = None,
    count: Annotated[int, typer.Option(min=0, help="Stop after this many; 0 = no limit")] = 0,
    rate: Annotated[float, typer.Option(min=0, help="Cap messages per second; 0 = none")] = 0,
    fault: Annotated[list[str] | None, typer.Option(help="NAME=RATE, e.g. duplicate=0.01")] = None,
    record: Annotated[Path | None, typer.Option(help="Also write messages to JSON Lines")] = None,
    replay: Annotated[Path | None, typer.Option(help="Publish a recording or capture")] = None,
    dry_run: Annotated[bool, typer.Option(help="Do not publish, only --record")] = False,
    qos: Annotated[int, typer.Option(min=0, max=2, help="MQTT QoS")] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed: same seed, same messages")] = None,
) -> None:
    """Publish a simulated city's uplinks (TTS v3 or ChirpStack v4) to the configured broker."""
    from meetnet import simulate as simulation
    from simulator import parse_rates
    from simulator.spec import parse_duration

    url = DemoSettings().mqtt_url or SecretStr("mqtt://127.0.0.1:1883")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    console = Console(stderr=True)
    try:
        options = simulation.Options(
            fleet=fleet,
            devices=devices,
            models=tuple(model or ("climate",)),
            interval_s=parse_duration(interval) if interval else None,
            envelope=envelope,
            seed=seed,
            mode=mode,
            speed=speed,
            start=start.replace(tzinfo=start.tzinfo or UTC) if start else None,
            duration_s=parse_duration(duration) if duration else None,
            count=count,
            rate=rate,
            faults=parse_rates(fault or ()),
            record=record,
            replay=replay,
            dry_run=dry_run,
            qos=qos,
        )
        summary = simulation.run(options, parse_mqtt_url(url.get_secret_value()), console, stop)
    except (ValueError, OSError) as exc:  # fleet file, fault list, recording, broker
        console.print(f"simulate: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    simulation.report(summary, console)


@app.command()
def seed(
    devices: Annotated[int, typer.Option(min=1, max=1_000_000, help="Seeded devices")] = 100,
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days of history")] = 30,
    interval: Annotated[int, typer.Option(min=1, max=1440, help="Minutes between values")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same values")] = 1,
) -> None:
    """Fill the database with history (air temperature, noise, people counts) and rollups."""
    from meetnet.seed import seed as run_seed

    url = IngestSettings().database_url.get_secret_value()
    asyncio.run(database.prepare(url))
    result = asyncio.run(run_seed(url, devices, days, interval, seed))
    typer.echo(
        f"seeded {result.measurements} measurements of {result.devices} devices from "
        f"{result.start.isoformat()} to {result.end.isoformat()} in {result.seconds:.0f} s"
    )


@app.command()
def demo(
    devices: Annotated[int, typer.Option(min=1, help="Number of virtual devices")] = 20,
    rate: Annotated[float, typer.Option(min=0.1, help="Uplinks per second")] = 5.0,
    port: Annotated[int, typer.Option(help="API port")] = 8000,
) -> None:
    """Run everything at once: database, broker, ingest, API and simulator."""
    from meetnet.demo import run_demo

    asyncio.run(run_demo(DemoSettings(), devices=devices, rate=rate, port=port))


app.command("reprocess")(replay.reprocess_command)
app.command("backfill")(replay.backfill_command)
app.command("import")(replay.import_command)


def main() -> None:
    app()
