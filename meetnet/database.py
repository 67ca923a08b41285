"""Bringing a database up to date: schema migrations, then the quantity catalogue."""

from __future__ import annotations

import logging

import asyncpg

import migrations
from decoders import QUANTITIES

logger = logging.getLogger(__name__)

_SEED_QUANTITIES = """
INSERT INTO quantities (key, unit, aggregation, description)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (key) DO UPDATE SET
    unit = EXCLUDED.unit, aggregation = EXCLUDED.aggregation, description = EXCLUDED.description
"""


async def prepare(dsn: str) -> list[migrations.Migration | migrations.Function]:
    """Apply pending migrations and seed the catalogue; safe to run any number of times."""
    applied = await migrations.apply(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        values = sorted(QUANTITIES.values(), key=lambda q: q.key)
        await conn.execute(
            _SEED_QUANTITIES,
            [q.key for q in values],
            [q.unit for q in values],
            [q.aggregation.value for q in values],
            [q.description for q in values],
        )
    finally:
        await conn.close()
    return applied
