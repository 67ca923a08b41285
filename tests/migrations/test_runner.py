"""Migrations: fresh, re-run, concurrent, and a changed file refused."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest

import migrations
from meetnet.database import prepare
from tests.conftest import Backend

CORE_TABLES = {"devices", "uplinks", "measurements", "latest", "dead_letters", "quantities"}


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_fresh_database_gets_every_migration(empty_db_url: str) -> None:
    applied = await migrations.apply(empty_db_url)
    assert applied == [*migrations.available(), *migrations.available_functions()]
    assert CORE_TABLES | {"schema_migrations"} <= await _tables(empty_db_url)


async def test_rerun_is_a_no_op(empty_db_url: str) -> None:
    await migrations.apply(empty_db_url)
    assert await migrations.apply(empty_db_url) == []


async def test_concurrent_runs_apply_each_migration_once(empty_db_url: str) -> None:
    results = await asyncio.gather(*(migrations.apply(empty_db_url) for _ in range(4)))
    applied = [m for result in results for m in result]
    numbered = sorted(m.version for m in applied if isinstance(m, migrations.Migration))
    functions = sorted(m.name for m in applied if isinstance(m, migrations.Function))
    assert numbered == [m.version for m in migrations.available()]
    assert functions == [f.name for f in migrations.available_functions()]
    conn = await asyncpg.connect(empty_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(numbered)
        assert await conn.fetchval("SELECT count(*) FROM schema_functions") == len(functions)
    finally:
        await conn.close()


async def test_edited_migration_is_refused(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrations.apply(empty_db_url)
    shipped = migrations.available()
    edited = [replace(shipped[0], sql=shipped[0].sql + "\n-- edited\n"), *shipped[1:]]
    monkeypatch.setattr(migrations, "available", lambda: edited)
    with pytest.raises(migrations.MigrationError, match="was changed after it was applied"):
        await migrations.apply(empty_db_url)


async def test_prepare_seeds_the_catalogue(empty_db_url: str) -> None:
    await prepare(empty_db_url)
    await prepare(empty_db_url)
    conn = await asyncpg.connect(empty_db_url)
    try:
        row = await conn.fetchrow(
            "SELECT unit, aggregation FROM quantities WHERE key = 'noise_laeq'"
        )
        assert dict(row) == {"unit": "dB", "aggregation": "energy_mean"}
    finally:
        await conn.close()


async def test_timescaledb_guard_takes_the_path_the_server_allows(
    empty_db_url: str, backend: Backend
) -> None:
    """Plain PostgreSQL: plain tables. TimescaleDB: raw data and hourly rollups are hypertables
    (0002 and 0010); the daily rollups stay a plain table."""
    await migrations.apply(empty_db_url)
    conn = await asyncpg.connect(empty_db_url)
    try:
        extension = await conn.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        )
        if backend == "timescaledb":
            assert extension is not None
            hypertables = await conn.fetch(
                "SELECT hypertable_name FROM timescaledb_information.hypertables"
            )
            assert {r["hypertable_name"] for r in hypertables} == {
                "measurements",
                "uplinks",
                "rollup_hourly",
            }
        else:
            assert extension is None
            kind = await conn.fetchval(
                "SELECT relkind::text FROM pg_class WHERE relname = 'measurements'"
            )
            assert kind == "r"
    finally:
        await conn.close()
