"""Bringing a database up to date (schema migrations, then the quantity catalogue and the shipped
device profiles), and saying in one line what is wrong when the database cannot be reached or
used."""

from __future__ import annotations

import asyncio
import getpass
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import asyncpg
import orjson

import migrations
from decoders import QUANTITIES
from decoders.profiles import PROFILES
from meetnet.errors import CONFIGURATION, CommandError

logger = logging.getLogger(__name__)

# Returns the quantities whose aggregation kind this changed: their rollups are rebuilt.
_SEED_QUANTITIES = """
WITH before AS (SELECT id, aggregation FROM quantities),
seeded AS (
    INSERT INTO quantities (key, unit, aggregation, description)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
    ON CONFLICT (key) DO UPDATE SET
        unit = EXCLUDED.unit, aggregation = EXCLUDED.aggregation,
        description = EXCLUDED.description
    RETURNING id, aggregation
)
SELECT s.id FROM seeded s JOIN before b USING (id) WHERE b.aggregation <> s.aggregation
"""

# A rollup row holds what its quantity's kind needs (the linear energy of decibels, the sines
# and cosines of angles): a quantity that changes kind has its rollups recomputed, all of them.
_REBUILD_QUANTITY = """
SELECT rebuild_rollups(min(time), max(time) + INTERVAL '1 microsecond', NULL, $1::smallint)
FROM measurements WHERE quantity_id = $1 HAVING count(*) > 0
"""

# Seconds one connection attempt may take before it counts as "not answering".
CONNECT_TIMEOUT_S = 10.0
# The shipped device profiles (decoders/profiles.toml); an operator's own are left alone.
_SEED_PROFILES = """
INSERT INTO device_profiles AS p (name, decoder, channels, description, builtin)
SELECT n, d, c::jsonb, t, true FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
     AS x(n, d, c, t)
ON CONFLICT (name) DO UPDATE SET
    decoder = EXCLUDED.decoder, channels = EXCLUDED.channels,
    description = EXCLUDED.description, builtin = true, updated_at = now()
WHERE p.builtin AND (p.decoder, p.channels, p.description)
    IS DISTINCT FROM (EXCLUDED.decoder, EXCLUDED.channels, EXCLUDED.description)
"""


async def prepare(dsn: str) -> list[migrations.Migration | migrations.Function]:
    """Apply pending migrations and seed the catalogue; safe to run any number of times."""
    applied = await migrations.apply(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        values = sorted(QUANTITIES.values(), key=lambda q: q.key)
        async with conn.transaction():
            changed = await conn.fetch(
                _SEED_QUANTITIES,
                [q.key for q in values],
                [q.unit for q in values],
                [q.aggregation.value for q in values],
                [q.description for q in values],
            )
            for row in changed:
                logger.info("rebuilding the rollups of quantity %d for its new kind", row["id"])
                await conn.execute(_REBUILD_QUANTITY, row["id"])
        profiles = list(PROFILES.values())
        await conn.execute(
            _SEED_PROFILES,
            [p.name for p in profiles],
            [p.decoder for p in profiles],
            [orjson.dumps(p.channels_json()).decode() for p in profiles],
            [p.description for p in profiles],
        )
    finally:
        await conn.close()
    return applied


@dataclass(frozen=True, slots=True)
class Target:
    """Where a database URL points, for messages: never with its password."""

    server: str  # host:port, or the Unix socket folder
    database: str
    user: str

    @classmethod
    def of(cls, dsn: str) -> Target:
        parts = urlsplit(dsn)
        query = parse_qs(parts.query)
        try:
            port = parts.port or int(query.get("port", ["5432"])[0])
        except ValueError:
            port = 5432
        host = query.get("host", [parts.hostname or "localhost"])[0]
        server = host if host.startswith("/") else f"{host}:{port}"
        user = unquote(parts.username) if parts.username else query.get("user", [""])[0]
        database = unquote(parts.path.lstrip("/")) or query.get("dbname", [""])[0]
        user = user or getpass.getuser()
        return cls(server, database or user, user)

    def __str__(self) -> str:
        return f"{self.server}/{self.database}"

    @property
    def createdb(self) -> str:
        """The command that creates the database on its server."""
        host, _, port = self.server.rpartition(":") if ":" in self.server else (self.server, "", "")
        where = f"-h {host} -p {port}" if port else f"-h {host}"
        return f"createdb {where} -U {self.user} {self.database}"


def redacted(dsn: str) -> str:
    """`dsn` with its password, if any, replaced by `***`."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    transient: bool  # waiting may cure it: the server is not up (yet)
    exit_code: int = 1


def _said(exc: BaseException) -> str:
    """The server's primary message, without the DETAIL and HINT lines asyncpg appends."""
    message = getattr(exc, "message", None)
    return str(message) if message else (str(exc).splitlines() or [type(exc).__name__])[0]


def problem_of(exc: BaseException, dsn: str) -> Problem | None:
    """What connecting to `dsn` raising `exc` means to the user; None if it is none of the
    conditions a user can fix (then it is a bug, and surfaces as one)."""
    t = Target.of(dsn)
    setting = "MEETNET_DATABASE_URL"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return Problem(
            f"the database at {t} rejected the password of user {t.user!r}: "
            f"put the right password in {setting}",
            transient=False,
        )
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return Problem(
            f"the database at {t} refused user {t.user!r} ({_said(exc)}): create that role, "
            f"allow it in pg_hba.conf, or set another user in {setting}",
            transient=False,
        )
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return Problem(
            f"there is no database {t.database!r} on {t.server}: create it ({t.createdb}) "
            f"or name an existing one in {setting}",
            transient=False,
        )
    if isinstance(exc, asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError):
        return Problem(f"the database at {t} cannot take a connection now ({_said(exc)})", True)
    if isinstance(exc, asyncpg.PostgresConnectionError):
        return Problem(f"the database at {t} dropped the connection ({_said(exc)})", True)
    if isinstance(exc, asyncpg.ClientConfigurationError):
        return Problem(
            f"{setting} is not a usable PostgreSQL URL ({_said(exc)}): write it as "
            "postgresql://user:password@host:5432/database",
            transient=False,
            exit_code=CONFIGURATION,
        )
    if isinstance(exc, socket.gaierror):
        return Problem(
            f"cannot reach the database at {t}: the host name does not resolve ({exc.strerror}); "
            f"check the host in {setting}",
            transient=True,
        )
    if isinstance(exc, TimeoutError):
        return Problem(
            f"the database at {t} did not answer within {CONNECT_TIMEOUT_S:.0f} s: check the host "
            f"and port in {setting} and any firewall between",
            transient=True,
        )
    if isinstance(exc, ConnectionRefusedError | FileNotFoundError):
        return Problem(
            f"cannot reach the database at {t}: nothing accepts connections there; start "
            f"PostgreSQL or point {setting} at a running one",
            transient=True,
        )
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        return Problem(f"cannot reach the database at {t}: {reason}", transient=True)
    return None


@contextmanager
def explained(dsn: str) -> Iterator[None]:
    """Turn what goes wrong talking to the database at `dsn` into a `CommandError` that says what
    to fix. Only for blocks that talk to that database alone (an OSError there is its socket)."""
    try:
        yield
    except migrations.MigrationError as exc:
        raise CommandError(str(exc)) from None
    except asyncpg.PostgresError as exc:
        problem = problem_of(exc, dsn)
        if problem is not None:
            raise CommandError(problem.message, problem.exit_code) from None
        # A statement the server refused: a missing extension, a missing privilege, ...
        hint = getattr(exc, "hint", None)
        message = (
            f"the database at {Target.of(dsn)} refused: {_said(exc)} [SQLSTATE {exc.sqlstate}]"
        )
        raise CommandError(f"{message}; {hint}" if hint else message) from None
    except (OSError, asyncpg.ClientConfigurationError) as exc:
        problem = problem_of(exc, dsn)
        if problem is None:  # pragma: no cover - every OSError has a problem
            raise
        raise CommandError(problem.message, problem.exit_code) from None


async def check(dsn: str) -> Problem | None:
    """Connect once: None if the database at `dsn` takes connections, else what stops it."""
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    except (OSError, asyncpg.PostgresError, asyncpg.ClientConfigurationError) as exc:
        problem = problem_of(exc, dsn)
        if problem is None:
            raise
        return problem
    await conn.close()
    return None


async def wait_for(
    dsn: str, timeout_s: float | None, progress: Callable[[str], None] | None = None
) -> None:
    """Return once the database at `dsn` takes a connection. A server that is not up yet
    (refused, starting, name not resolving yet) is waited for up to `timeout_s` (None: for ever),
    told through `progress`; what waiting cannot cure (password, role, database name) fails at
    once. Both as a `CommandError` that says what to fix."""
    started = time.monotonic()
    delay = 0.25
    # Progress every few seconds while a bounded wait runs; a process that waits for ever
    # (ingest) backs off to one line every half minute.
    longest = 2.0 if timeout_s is not None else 30.0
    while (problem := await check(dsn)) is not None:
        waited = time.monotonic() - started
        if not problem.transient:
            raise CommandError(problem.message, problem.exit_code)
        if timeout_s is not None and waited >= timeout_s:
            raise CommandError(problem.message + (f" (waited {waited:.0f} s)" if timeout_s else ""))
        if progress is not None:
            bound = f" of {timeout_s:.0f} s" if timeout_s is not None else ""
            progress(f"waiting for the database at {Target.of(dsn)}: {waited:.0f} s{bound}")
        pause = delay if timeout_s is None else min(delay, timeout_s - waited)
        await asyncio.sleep(pause)
        delay = min(delay * 2, longest)
