"""Running ingest as a long-lived process: pool, writer, metrics, signals, orderly stop."""

from __future__ import annotations

import asyncio
import logging
import signal

import asyncpg

from ingest.metrics import Metrics
from ingest.service import Ingest
from ingest.settings import IngestSettings
from ingest.writer import Writer, open_pool
from meetnet.logs import use_json_logs

logger = logging.getLogger(__name__)


async def connect_pool(dsn: str, size: int) -> asyncpg.Pool:
    """Wait for the database (it may start after us), then open the writer's pool."""
    delay = 0.5
    while True:
        try:
            return await open_pool(dsn, max_size=size)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
            logger.warning("database not reachable (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def run_ingest(settings: IngestSettings, stop: asyncio.Event | None = None) -> None:
    """Ingest until `stop` is set, or SIGTERM/SIGINT when no `stop` is given; then commit and
    acknowledge what is in hand."""
    if settings.log_format == "json":
        use_json_logs()
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    metrics = Metrics()
    metrics.serve(settings.metrics_host, settings.metrics_port)
    pool = await connect_pool(settings.database_url.get_secret_value(), size=settings.pool_size)
    try:
        service = Ingest(settings, pool, await Writer.connect(pool), metrics)
        watcher = asyncio.create_task(_stop_when(stop, service))
        try:
            await service.run()
        finally:
            watcher.cancel()
    finally:
        await pool.close()


async def _stop_when(stop: asyncio.Event, service: Ingest) -> None:
    await stop.wait()
    service.stop()
