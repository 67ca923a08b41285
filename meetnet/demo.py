"""`meetnet demo`: database, broker, ingest, API and simulator in one process.

Configured services (MEETNET_DATABASE_URL, MEETNET_MQTT_URL) are used as they are; missing ones
are started embedded, so the demo runs on a fresh machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from ingest.settings import BrokerAddress, IngestSettings, parse_mqtt_url
from meetnet import broker as broker_check
from meetnet import database, embedded, web
from meetnet.database import redacted
from meetnet.runner import run_ingest
from meetnet.settings import DemoSettings
from simulator import MODELS, Fleet, FleetSpec, Group, publish

logger = logging.getLogger(__name__)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the demo stops all parts together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_demo(settings: DemoSettings, *, devices: int, rate: float, port: int) -> None:
    async with AsyncExitStack() as stack:
        # The port first: if it is taken, nothing else needs starting (or stopping).
        api_socket = stack.enter_context(web.listen("127.0.0.1", port))
        data_dir = Path(settings.demo_data_dir)
        if settings.database_url is None or settings.mqtt_url is None:
            embedded.claim(data_dir, stack)
        if settings.database_url is not None:
            dsn = settings.database_url.get_secret_value()
            await database.wait_for(dsn, timeout_s=0)
        else:
            dsn = embedded.start_postgres(data_dir / "pgdata", stack)
        mqtt5 = True
        if settings.mqtt_url is not None:
            mqtt_url = settings.mqtt_url.get_secret_value()
            await asyncio.to_thread(broker_check.check, parse_mqtt_url(mqtt_url), "meetnet-demo")
        else:
            embedded_broker = await embedded.start_broker(data_dir / "mosquitto", stack)
            mqtt_url, mqtt5 = embedded_broker.url, embedded_broker.mqtt5
        with database.explained(dsn):
            await database.prepare(dsn)
        fleet = Fleet(spec=demo_fleet(devices))
        with database.explained(dsn):
            await register_profiles(dsn, fleet)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

        ingest_settings = IngestSettings(
            database_url=dsn,
            mqtt_url=mqtt_url,
            mqtt_client_id="meetnet-demo-ingest",
            mqtt_protocol="5" if mqtt5 else "3.1.1",
            metrics_host="127.0.0.1",
            metrics_port=embedded.free_port(),
        )
        ingesting = asyncio.create_task(run_ingest(ingest_settings, stop))

        server = _QuietServer(
            uvicorn.Config(
                create_app(ApiSettings(database_url=dsn)),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        serving = asyncio.create_task(server.serve(sockets=[api_socket]))

        broker = ingest_settings.broker
        simulator_stop = threading.Event()
        simulating = asyncio.create_task(
            asyncio.to_thread(
                publish,
                fleet.stream(interval_s=1 / rate),
                broker.host,
                broker.port,
                username=broker.username,
                password=broker.password,
                tls=broker.tls,
                rate=rate,
                client_id="meetnet-demo-simulator",
                should_stop=simulator_stop.is_set,
                mqtt5=mqtt5,
            )
        )

        # uvicorn offers a `started` flag, not an event, to wait on.
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if server.started:
            print(
                announcement(
                    Served(port, broker, ingest_settings.metrics_port, dsn),
                    fleet.devices[0].dev_eui,
                    devices,
                    rate,
                ),
                flush=True,
            )
        await asyncio.wait(
            {asyncio.create_task(stop.wait()), ingesting, serving, simulating},
            return_when=asyncio.FIRST_COMPLETED,
        )
        stop.set()
        simulator_stop.set()
        server.should_exit = True
        for task in (simulating, ingesting, serving):
            with contextlib.suppress(Exception):
                await task


async def register_profiles(dsn: str, fleet: Fleet) -> int:
    """Set the device profile of each fleet device that has one, as its operator would (PATCH
    /v1/devices/{dev_eui}): TTS envelopes do not name it. Returns how many devices."""
    profiles = fleet.profiles()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO devices (dev_eui, profile) SELECT * FROM unnest($1::text[], $2::text[]) "
            "ON CONFLICT (dev_eui) DO UPDATE SET profile = EXCLUDED.profile",
            list(profiles),
            list(profiles.values()),
        )
    finally:
        await conn.close()
    return len(profiles)


def demo_fleet(devices: int) -> FleetSpec:
    """A quarter climate sensors (the first device is one), the rest spread over other models."""
    others = [name for name in MODELS if name != "climate"]
    climate = max(1, devices // 4)
    counts = dict.fromkeys(others, 0)
    for i in range(devices - climate):
        counts[others[i % len(others)]] += 1
    groups = [Group("climate", climate)] + [Group(m, n) for m, n in counts.items() if n]
    return FleetSpec(tuple(groups), seed=1)


@dataclass(frozen=True, slots=True)
class Served:
    """Where the running demo can be reached."""

    api_port: int
    broker: BrokerAddress
    metrics_port: int
    database_url: str


# One uplink a user can publish by hand: CayenneLPP channel 1 temperature, 0x00E1 = 225 x 0.1 °C.
EXAMPLE_DEV_EUI = "0004A30B001C0530"
_EXAMPLE_UPLINK = (
    '{"end_device_ids":{"device_id":"my-sensor","dev_eui":"0004A30B001C0530"},'
    '"received_at":"\'"$(date -u +%FT%TZ)"\'",'
    '"uplink_message":{"f_port":1,"frm_payload":"AWcA4Q=="}}'
)


def announcement(served: Served, dev_eui: str, devices: int, rate: float) -> str:
    """Every address the demo serves, and how to publish an uplink of one's own to its broker."""
    base = f"http://127.0.0.1:{served.api_port}"
    b = served.broker
    return (
        f"\nmeetnet demo is running: {devices} virtual devices "
        f"({', '.join(sorted(MODELS))}), {rate:g} uplinks/s.\n"
        f"  Data growing:  {base}/v1/devices/{dev_eui}/series?quantity=air_temperature\n"
        f"  City map data: {base}/v1/latest?quantity=air_temperature\n"
        f"  Air quality:   {base}/v1/latest?quantity=no2 (also pm2_5, noise_laeq, "
        "parking_occupied)\n"
        f"  Devices:       {base}/v1/devices\n"
        f"  API docs:      {base}/docs\n"
        f"  Metrics:       http://127.0.0.1:{served.metrics_port}/metrics\n"
        f"  MQTT broker:   mqtt://{b.host}:{b.port} (TTS v3 topics v3/+/devices/+/up, ChirpStack "
        "v4 application/+/device/+/event/up)\n"
        f"  Database:      {redacted(served.database_url)}\n"
        "Publish an uplink of your own (22.5 °C), then see it under "
        f"{base}/v1/devices/{EXAMPLE_DEV_EUI}:\n"
        f"  mosquitto_pub -h {b.host} -p {b.port} -t v3/my-app@ttn/devices/my-sensor/up "
        f"-m '{_EXAMPLE_UPLINK}'\n"
        "Press Ctrl-C to stop.\n"
    )
