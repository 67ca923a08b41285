"""Every way the environment can be wrong gives one line on stderr that says what to fix, and a
non-zero exit status: real `meetnet` processes against real PostgreSQL servers, a real Mosquitto
and real sockets."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.cli.conftest import assert_fails_with, meetnet
from tests.conftest import SERVER_URL, PrivatePostgres, database_url, free_port

REPO = Path(__file__).resolve().parents[2]


def _no_server_url() -> tuple[str, int]:
    port = free_port()
    return f"postgresql://postgres@127.0.0.1:{port}/meetnet", port


@pytest.mark.parametrize(
    "command",
    [("migrate", "--wait", "0"), ("seed",), ("reprocess",), ("import", "/dev/null")],
    ids=" ".join,
)
def test_a_one_off_command_without_a_server_says_so_at_once(command: tuple[str, ...]) -> None:
    url, port = _no_server_url()
    result = meetnet(*command, env={"MEETNET_DATABASE_URL": url})
    assert_fails_with(
        result, 1, f"cannot reach the database at 127.0.0.1:{port}/meetnet", "start PostgreSQL"
    )


def test_migrate_waits_the_time_it_is_given_and_shows_it_waits() -> None:
    url, port = _no_server_url()
    started = time.monotonic()
    result = meetnet("migrate", "--wait", "2s", env={"MEETNET_DATABASE_URL": url})
    elapsed = time.monotonic() - started
    *progress, last = result.stderr.splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert 2.0 <= elapsed < 15, elapsed
    assert len(progress) >= 2, result.stderr
    for line in progress:
        assert line.startswith(f"waiting for the database at 127.0.0.1:{port}/meetnet: "), line
        assert line.endswith(" of 2 s"), line
    assert last.startswith("meetnet: cannot reach the database") and "(waited 2 s)" in last


def test_migrate_waits_for_a_database_that_comes_up(private_postgres: PrivatePostgres) -> None:
    private_postgres.stop()
    process = subprocess.Popen(
        [sys.executable, "-m", "meetnet", "migrate", "--wait", "60s"],
        env={**os.environ, "MEETNET_DATABASE_URL": private_postgres.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)
        assert process.poll() is None, process.communicate()
        private_postgres.start()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.strip() == "database is up to date"
    assert "waiting for the database at " in err and "Traceback" not in err


def test_a_database_that_does_not_exist_is_named_with_how_to_create_it() -> None:
    name = f"meetnet_absent_{uuid.uuid4().hex[:8]}"
    result = meetnet("migrate", "--wait", "60s", env={"MEETNET_DATABASE_URL": database_url(name)})
    assert_fails_with(result, 1, f"there is no database '{name}'", "createdb ", name)


def test_an_unknown_role_is_named() -> None:
    parts = urlsplit(SERVER_URL)
    host = parts.netloc.rsplit("@", 1)[-1]
    url = urlunsplit(parts._replace(netloc=f"meetnet_no_such_role@{host}"))
    result = meetnet("migrate", "--wait", "60s", env={"MEETNET_DATABASE_URL": url})
    assert_fails_with(
        result,
        1,
        "refused user 'meetnet_no_such_role'",
        'role "meetnet_no_such_role" does not exist',
    )


def test_a_wrong_password_is_named_and_never_shown(
    password_postgres: tuple[str, str],
) -> None:
    right, wrong = password_postgres
    for command in (("migrate", "--wait", "60s"), ("api", "--port", str(free_port()))):
        result = meetnet(*command, env={"MEETNET_DATABASE_URL": wrong})
        line = assert_fails_with(result, 1, "rejected the password of user 'meetnet_pw'")
        assert "wrong-password" not in line
    # The same role with its password migrates: the refusal above was the password's alone.
    result = meetnet("migrate", env={"MEETNET_DATABASE_URL": right})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("applied ")


def test_a_url_that_is_not_postgresql_is_a_configuration_error() -> None:
    result = meetnet("migrate", env={"MEETNET_DATABASE_URL": "mysql://db/meetnet"})
    assert_fails_with(result, 2, "MEETNET_DATABASE_URL is not a usable PostgreSQL URL")


def test_a_missing_extension_is_named_with_the_servers_hint(
    empty_db_url: str, tmp_path: Path
) -> None:
    # The shipped migrations and one more that needs an extension no server has; the package in
    # the working directory is the one `python -m meetnet` imports.
    shadow = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", shadow, ignore=shutil.ignore_patterns("__pycache__"))
    (shadow / "9990_needs_an_extension.sql").write_text(
        "CREATE EXTENSION meetnet_absent_extension;\n"
    )
    result = meetnet("migrate", env={"MEETNET_DATABASE_URL": empty_db_url}, cwd=tmp_path)
    *before, last = result.stderr.splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert before and all("applied migration" in line for line in before), result.stderr
    assert last.startswith("meetnet: the database at ")
    assert 'extension "meetnet_absent_extension"' in last
    assert "must first be installed on the system where PostgreSQL is running" in last


def test_an_invalid_setting_names_the_variable() -> None:
    result = meetnet("simulate", "--count", "1", env={"MEETNET_MQTT_URL": "http://broker"})
    assert_fails_with(result, 2, "MEETNET_MQTT_URL: MQTT URL must start with mqtt://")
    result = meetnet("ingest", env={"MEETNET_WRITERS": "99"})
    assert_fails_with(result, 2, "MEETNET_WRITERS: ", "8")


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_an_occupied_port_says_which_and_how_to_choose_another(
    occupied_port: int, db_url: str, tmp_path: Path
) -> None:
    result = meetnet("api", "--port", str(occupied_port), env={"MEETNET_DATABASE_URL": db_url})
    assert_fails_with(
        result, 1, f"port {occupied_port} on 127.0.0.1 is already in use", "with --port"
    )
    data = tmp_path / "demo-data"
    result = meetnet(
        "demo",
        "--port",
        str(occupied_port),
        env={"MEETNET_DEMO_DATA_DIR": str(data)},
    )
    assert_fails_with(result, 1, f"port {occupied_port} on 127.0.0.1 is already in use")
    assert not data.exists()  # refused before starting anything


def test_a_broker_that_is_not_there() -> None:
    port = free_port()
    result = meetnet(
        "simulate", "--count", "1", env={"MEETNET_MQTT_URL": f"mqtt://127.0.0.1:{port}"}
    )
    assert_fails_with(
        result, 1, f"cannot reach the MQTT broker at 127.0.0.1:{port}", "MEETNET_MQTT_URL"
    )


@pytest.fixture
def locked_broker(tmp_path: Path) -> Iterator[int]:
    """A Mosquitto that lets in user `meetnet` with password `right` and no one else."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwords = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "meetnet", "right"],
        check=True,
        capture_output=True,
    )
    passwords.chmod(0o600)
    port = free_port()
    config = tmp_path / "locked.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
        f"persistence false\nuser {getpass.getuser()}\n"
    )
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert time.monotonic() < deadline, "mosquitto did not listen"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_broker_that_refuses_names_the_credentials(locked_broker: int, db_url: str) -> None:
    at = f"127.0.0.1:{locked_broker}"
    anonymous = meetnet("simulate", "--count", "1", env={"MEETNET_MQTT_URL": f"mqtt://{at}"})
    assert_fails_with(
        anonymous, 1, f"the MQTT broker at {at} refused the connection", "anonymous", "password"
    )
    wrong = f"mqtt://meetnet:not-the-password@{at}"
    for command in (("simulate", "--count", "1"), ("ingest",)):
        env = {
            "MEETNET_MQTT_URL": wrong,
            "MEETNET_DATABASE_URL": db_url,
            "MEETNET_METRICS_PORT": "0",
        }
        result = meetnet(*command, env=env)
        line = assert_fails_with(
            result, 1, f"the MQTT broker at {at} refused the connection", "user 'meetnet'"
        )
        assert "not-the-password" not in line
    # With the right password the same broker takes what is published.
    right = meetnet(
        "simulate",
        "--mode",
        "fast",
        "--count",
        "3",
        env={"MEETNET_MQTT_URL": f"mqtt://meetnet:right@{at}"},
    )
    assert right.returncode == 0, right.stderr
    assert "3 messages in" in right.stderr


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
