"""Fixtures shared by the ingest tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from ingest.writer import open_pool


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A writer's pool (staging tables on every connection) on a fresh migrated database."""
    pool = await open_pool(db_url, max_size=4)
    yield pool
    await pool.close()
