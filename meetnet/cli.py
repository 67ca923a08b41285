"""The `meetnet` command: migrate, ingest, api, simulate, seed, demo."""

from __future__ import annotations

import asyncio
import itertools
import logging
import signal
import threading
from typing import Annotated

import typer
import uvicorn
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from ingest.settings import IngestSettings, parse_mqtt_url
from meetnet import database
from meetnet.runner import run_ingest
from meetnet.settings import DemoSettings
from simulator import Fleet, publish

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
    uvicorn.run(create_app(ApiSettings()), host=host, port=port, log_level="info")


@app.command()
def simulate(
    devices: Annotated[int, typer.Option(min=1, help="Number of virtual devices")] = 10,
    rate: Annotated[
        float, typer.Option(min=0, help="Uplinks per second; 0 = as fast as possible")
    ] = 1.0,
    count: Annotated[int, typer.Option(min=0, help="Uplinks to publish; 0 = until Ctrl-C")] = 0,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same fleet and values")] = 1,
) -> None:
    """Publish The Things Stack v3 uplinks with CayenneLPP payloads to the configured broker."""
    settings = DemoSettings()
    url = settings.mqtt_url or SecretStr("mqtt://127.0.0.1:1883")
    broker = parse_mqtt_url(url.get_secret_value())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stream = Fleet(devices, seed).stream(interval_s=1 / rate if rate else 0)
    uplinks = itertools.islice(stream, count) if count else stream
    sent = publish(
        uplinks,
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        tls=broker.tls,
        rate=rate or None,
        should_stop=stop.is_set,
    )
    typer.echo(f"published {sent} uplink(s)")


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


def main() -> None:
    app()
