"""The `meetnet` command: migrate, ingest, api, simulate, seed, demo."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from ingest.settings import IngestSettings, parse_mqtt_url
from meetnet import broker, database, replay, web
from meetnet.errors import BUG, CONFIGURATION, CommandError, settings_error, unexpected
from meetnet.runner import run_ingest
from meetnet.settings import BrokerSettings, DatabaseSettings, DemoSettings

logger = logging.getLogger(__name__)

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


def _seconds(text: str, option: str) -> float:
    """`60s`, `2m`, `90` (seconds) or `0` as seconds, for duration options."""
    from simulator.spec import parse_duration

    if text.strip() in ("0", "0s"):
        return 0.0
    try:
        return parse_duration(float(text) if text.strip().isdigit() else text)
    except ValueError as exc:
        raise CommandError(f"{option}: {exc}", CONFIGURATION) from None


def _progress(line: str) -> None:
    typer.echo(line, err=True)


@app.command()
def migrate(
    wait: Annotated[
        str, typer.Option(help="How long to wait for the database to come up, e.g. 60s; 0: not")
    ] = "60s",
) -> None:
    """Apply pending database migrations and seed the quantity catalogue."""
    dsn = DatabaseSettings().database_url.get_secret_value()
    timeout_s = _seconds(wait, "--wait")

    async def run() -> int:
        await database.wait_for(dsn, timeout_s, _progress)
        with database.explained(dsn):
            return len(await database.prepare(dsn))

    applied = asyncio.run(run())
    typer.echo(f"applied {applied} migration(s)" if applied else "database is up to date")


@app.command()
def ingest() -> None:
    """Subscribe to the broker and store uplinks until SIGTERM or Ctrl-C."""
    settings = IngestSettings()
    dsn = settings.database_url.get_secret_value()
    # A database or broker that is not up yet is waited for (they may start after us); one
    # that refuses us is not going to change its mind.
    asyncio.run(database.wait_for(dsn, None, logger.warning))
    try:
        broker.check(settings.broker, f"{settings.mqtt_client_id}-check")
    except broker.BrokerUnreachableError as exc:
        logger.warning("%s; ingest keeps trying", exc)
    asyncio.run(run_ingest(settings))


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

    settings = ApiSettings()
    with web.listen(host, port) as sock:
        dsn = settings.database_url.get_secret_value()
        problem = asyncio.run(database.check(dsn))
        if problem is not None and not problem.transient:
            raise CommandError(problem.message, problem.exit_code)
        if problem is not None:  # the API starts anyway; /readyz says why it is not ready
            logger.warning("%s", problem.message)
        config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="info")
        uvicorn.Server(config).run(sockets=[sock])


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

    address = parse_mqtt_url(BrokerSettings().mqtt_url.get_secret_value())
    if not dry_run:
        broker.check(address, "meetnet-simulate-check")
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
        summary = simulation.run(options, address, console, stop)
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
    from meetnet.seed import SeedResult
    from meetnet.seed import seed as run_seed

    url = DatabaseSettings().database_url.get_secret_value()

    async def run() -> SeedResult:
        await database.wait_for(url, 0)
        with database.explained(url):
            await database.prepare(url)
            return await run_seed(url, devices, days, interval, seed)

    result = asyncio.run(run())
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
    """Run the command; what goes wrong outside meetnet is one line on stderr and an exit status."""
    try:
        app()
    except CommandError as exc:
        _fail(str(exc), exc.exit_code)
    except ValidationError as exc:  # a MEETNET_* variable
        error = settings_error(exc)
        _fail(str(error), error.exit_code)
    except Exception as exc:
        if "--verbose" in sys.argv[1:] or "-v" in sys.argv[1:]:
            raise
        _fail(unexpected(exc), BUG)


def _fail(message: str, exit_code: int) -> None:
    print(f"meetnet: {message}", file=sys.stderr, flush=True)
    sys.exit(exit_code)
