"""Request-scoped resources handed to routes by FastAPI's dependency injection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
from fastapi import Request


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for the duration of one request."""
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn:
        yield conn
