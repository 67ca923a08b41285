"""Function files: one per function, applied after the numbered migrations, re-applied on change."""

from __future__ import annotations

import hashlib
from pathlib import Path

import asyncpg
import pytest

import migrations

FUNCTIONS_DIR = Path(migrations.__file__).parent / "functions"
SHIPPED = migrations.available_functions()


def _probe(body: str, name: str = "probe") -> migrations.Function:
    return migrations.Function(
        name, f"CREATE OR REPLACE FUNCTION {name}() RETURNS text LANGUAGE sql AS $$ {body} $$;\n"
    )


def _with(*extra: migrations.Function) -> list[migrations.Function]:
    return [*SHIPPED, *extra]


async def _fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def _recorded(url: str) -> dict[str, tuple[str, object]]:
    rows = await _fetch(url, "SELECT name, checksum, applied_at FROM schema_functions")
    return {r["name"]: (r["checksum"], r["applied_at"]) for r in rows}


async def test_every_function_of_the_schema_has_its_own_file(empty_db_url: str) -> None:
    await migrations.apply(empty_db_url)
    rows = await _fetch(
        empty_db_url,
        """
        SELECT DISTINCT p.proname FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'
          AND NOT EXISTS (SELECT FROM pg_depend d  -- functions of an extension (timescaledb)
                          WHERE d.objid = p.oid AND d.deptype = 'e')
        """,
    )
    files = sorted(path.stem for path in FUNCTIONS_DIR.glob("*.sql"))
    assert sorted(r["proname"] for r in rows) == files
    for name in files:
        sql = (FUNCTIONS_DIR / f"{name}.sql").read_text(encoding="utf-8")
        assert f"CREATE OR REPLACE FUNCTION {name}(" in sql


async def test_each_file_is_recorded_with_the_sha256_of_its_bytes(empty_db_url: str) -> None:
    await migrations.apply(empty_db_url)
    expected = {
        path.stem: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in FUNCTIONS_DIR.glob("*.sql")
    }
    assert {name: c for name, (c, _) in (await _recorded(empty_db_url)).items()} == expected


async def test_unchanged_files_are_not_applied_again(empty_db_url: str) -> None:
    await migrations.apply(empty_db_url)
    before = await _recorded(empty_db_url)
    assert await migrations.apply(empty_db_url) == []
    assert await _recorded(empty_db_url) == before


async def test_a_changed_file_is_applied_again_alone(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrations, "available_functions", lambda: _with(_probe("SELECT 'one'")))
    await migrations.apply(empty_db_url)
    before = await _recorded(empty_db_url)

    changed = _probe("SELECT 'two'")
    monkeypatch.setattr(migrations, "available_functions", lambda: _with(changed))
    assert await migrations.apply(empty_db_url) == [changed]

    assert (await _fetch(empty_db_url, "SELECT probe()"))[0][0] == "two"
    after = await _recorded(empty_db_url)
    assert after["probe"][0] == hashlib.sha256(changed.sql.encode()).hexdigest()
    assert after["probe"][1] > before["probe"][1]
    del before["probe"], after["probe"]
    assert after == before


async def test_function_files_come_after_the_numbered_migrations(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fresh, and again when a later numbered migration redefines a function against the rules."""
    redefine = "CREATE OR REPLACE FUNCTION probe() RETURNS text LANGUAGE sql AS $$ SELECT 'old' $$;"
    shipped = migrations.available()
    monkeypatch.setattr(
        migrations, "available", lambda: [*shipped, migrations.Migration(9998, "old", redefine)]
    )
    monkeypatch.setattr(migrations, "available_functions", lambda: _with(_probe("SELECT 'file'")))
    await migrations.apply(empty_db_url)
    assert (await _fetch(empty_db_url, "SELECT probe()"))[0][0] == "file"

    later = migrations.Migration(9999, "older", redefine)
    monkeypatch.setattr(
        migrations,
        "available",
        lambda: [*shipped, migrations.Migration(9998, "old", redefine), later],
    )
    applied = await migrations.apply(empty_db_url)
    assert applied[0] == later
    assert {f.name for f in applied[1:]} == {f.name for f in _with(_probe(""))}
    assert (await _fetch(empty_db_url, "SELECT probe()"))[0][0] == "file"


async def test_a_function_may_call_one_from_a_later_file(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = _probe("SELECT z_probe() || '!'", name="a_probe")
    callee = _probe("SELECT 'called'", name="z_probe")
    monkeypatch.setattr(migrations, "available_functions", lambda: _with(caller, callee))
    await migrations.apply(empty_db_url)
    assert (await _fetch(empty_db_url, "SELECT a_probe()"))[0][0] == "called!"


async def test_a_broken_file_fails_by_name_and_applies_nothing(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrations.apply(empty_db_url)
    before = await _recorded(empty_db_url)
    good = _probe("SELECT 'good'", name="a_probe")
    broken = _probe("SELECT name FROM no_such_table", name="z_probe")
    monkeypatch.setattr(migrations, "available_functions", lambda: _with(good, broken))
    with pytest.raises(migrations.MigrationError, match=r"functions/z_probe\.sql failed: .*"):
        await migrations.apply(empty_db_url)
    assert await _recorded(empty_db_url) == before
    rows = await _fetch(empty_db_url, "SELECT proname FROM pg_proc WHERE proname LIKE '%_probe'")
    assert rows == []


async def test_a_database_migrated_before_function_files_gets_them_all(
    empty_db_url: str,
) -> None:
    """An existing database (a demo's data folder): every numbered file is applied already."""
    await migrations.apply(empty_db_url)
    await _fetch(empty_db_url, "DROP TABLE schema_functions")
    assert await migrations.apply(empty_db_url) == migrations.available_functions()
    assert set(await _recorded(empty_db_url)) == {f.name for f in migrations.available_functions()}
