"""The FastAPI application: built by `create_app(settings)`, one connection pool per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from api import errors
from api.routes import devices, health, latest, quantities, stream, zones
from api.settings import ApiSettings
from api.stream import Broadcaster


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # min_size=0: the API starts (and /readyz says why it is not ready) while the database
        # is still down, instead of failing to start.
        pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value(),
            min_size=0,
            max_size=settings.api_pool_size,
            server_settings={"statement_timeout": str(settings.api_statement_timeout_ms)},
        )
        app.state.pool = pool
        app.state.broadcaster = Broadcaster(
            (settings.api_stream_database_url or settings.database_url).get_secret_value(),
            max_clients=settings.api_stream_max_clients,
            max_per_client=settings.api_stream_max_per_client,
            replay_events=settings.api_stream_replay_events,
            replay_s=settings.api_stream_replay_s,
            retry_ms=settings.api_stream_retry_ms,
        )
        try:
            yield
        finally:
            await app.state.broadcaster.close()
            await pool.close()

    app = FastAPI(
        title="meetnet",
        summary="City sensor data from LoRaWAN networks",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    for module in (devices, zones, latest, stream, quantities, health):
        app.include_router(module.router)
    return app
