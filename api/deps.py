"""Request-scoped resources handed to routes by FastAPI's dependency injection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection while the route function runs."""
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn:
        yield conn


# scope="function": the connection goes back to the pool when the route function returns, not
# when the response has been sent, so a streamed answer (SSE, CSV) read slowly by its client
# holds none; streams fetch what they need in short acquisitions of their own.
Conn = Annotated[asyncpg.Connection, Depends(connection, scope="function")]
