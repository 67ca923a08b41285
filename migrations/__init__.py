"""Plain-SQL migrations and the small runner that applies them.

Tables and data: numbered files `NNNN_name.sql`, each applied once, in order, in its own
transaction, and recorded in `schema_migrations` with a checksum; an applied one is never edited.
Functions: one file per function in `functions/` holding its current definition, (re)applied after
the numbered files whenever its content differs from the checksum recorded in `schema_functions`,
all changed ones in one transaction. A session-level advisory lock makes processes that start
together wait for each other instead of racing. How to change either: README.md beside this file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

logger = logging.getLogger(__name__)

# pg_advisory_lock key: the bytes of "meetnet" as a bigint, unlikely to collide with others' keys.
ADVISORY_LOCK_KEY = int.from_bytes(b"meetnet", "big")

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_FUNCTION_FILENAME = re.compile(r"^([a-z][a-z0-9_]*)\.sql$")


class MigrationError(Exception):
    """The database's migration history disagrees with the files shipped, or a file fails."""


def _checksum(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Migration:
    """A numbered migration: applied once, immutable afterwards."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return _checksum(self.sql)


@dataclass(frozen=True, slots=True)
class Function:
    """A function file: the current definition of the function it is named after."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return _checksum(self.sql)


def available() -> list[Migration]:
    """The numbered migrations shipped with this package, in order."""
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _FILENAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number: {versions}")
    return found


def available_functions() -> list[Function]:
    """The function files shipped with this package, by name."""
    found = []
    for entry in resources.files(__package__).joinpath("functions").iterdir():
        match = _FUNCTION_FILENAME.match(entry.name)
        if match:
            found.append(Function(match[1], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda f: f.name)


async def apply(dsn: str) -> list[Migration | Function]:
    """Bring the database at `dsn` up to date; returns what this call applied, numbered first."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            numbered = await _apply_numbered(conn)
            # A numbered migration may change what a function reads (or, against the rules,
            # redefine one): after any, every function file is applied again, which also checks
            # each body against the new schema.
            functions = await _apply_functions(conn, every=bool(numbered))
            return [*numbered, *functions]
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


async def _apply_numbered(conn: asyncpg.Connection) -> list[Migration]:
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    applied = {r["version"]: r for r in rows}
    done: list[Migration] = []
    for migration in available():
        record = applied.get(migration.version)
        if record is not None:
            if record["checksum"] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} was changed after it "
                    "was applied; add a new migration instead of editing an applied one"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        logger.info("applied migration %04d_%s", migration.version, migration.name)
        done.append(migration)
    return done


async def _apply_functions(conn: asyncpg.Connection, *, every: bool) -> list[Function]:
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_functions (
            name       text PRIMARY KEY,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    recorded = {
        r["name"]: r["checksum"]
        for r in await conn.fetch("SELECT name, checksum FROM schema_functions")
    }
    changed = [f for f in available_functions() if every or recorded.get(f.name) != f.checksum]
    if not changed:
        return []
    async with conn.transaction():
        # Files are applied by name, not by what calls what: first with bodies unchecked, so a
        # function may call one defined in a later file, then again with bodies checked, now
        # that every function they call exists (as pg_dump restores functions).
        for check in ("off", "on"):
            await conn.execute(f"SET LOCAL check_function_bodies = {check}")
            for function in changed:
                try:
                    await conn.execute(function.sql)
                except asyncpg.PostgresError as error:
                    raise MigrationError(
                        f"function file functions/{function.name}.sql failed: {error}"
                    ) from error
        await conn.executemany(
            """
            INSERT INTO schema_functions (name, checksum) VALUES ($1, $2)
            ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()
            """,
            [(f.name, f.checksum) for f in changed],
        )
    for function in changed:
        logger.info("applied function %s", function.name)
    return changed
