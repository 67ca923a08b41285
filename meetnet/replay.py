"""`meetnet reprocess`, `meetnet backfill` and `meetnet import`: stored or missed uplinks through
the same idempotent path as live ingest."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import asyncpg
import typer

from ingest.backfill import FillResult, backfill, store_messages
from ingest.pipeline import Pipeline
from ingest.reprocess import Selection, reprocess
from ingest.service import Ingest
from ingest.settings import IngestSettings
from ingest.writer import Writer
from meetnet import database
from meetnet.runner import connect_pool
from simulator.recording import RecordingError, parse_line

_DURATION = re.compile(r"^(\d+)([smhd])$")


def parse_moment(text: str) -> datetime:
    """RFC 3339 (`2025-03-14T08:00:00Z`) or a duration back from now (`90m`, `24h`, `7d`)."""
    match = _DURATION.match(text)
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return datetime.now(UTC) - timedelta(**{unit: int(match[1])})
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _pipeline(settings: IngestSettings) -> tuple[Pipeline, Writer, asyncpg.Pool]:
    dsn = settings.database_url.get_secret_value()
    await database.wait_for(dsn, 0)  # a one-off command: a database that is not there is an error
    pool = await connect_pool(dsn, size=2)
    writer = await Writer.connect(pool)
    service = Ingest(settings, pool, writer)
    await service.refresh_registered_decoders()
    return service.pipeline, writer, pool


def _report(result: FillResult) -> str:
    return (
        f"read {result.read}, stored {result.stored} new, {result.duplicates} already there, "
        f"{result.dead_letters} dead-lettered"
    )


def reprocess_command(
    device: Annotated[str | None, typer.Option(help="DevEUI of one device")] = None,
    model: Annotated[
        str | None, typer.Option(help="Device model (brand/model) or decoder key")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From (RFC 3339 or 24h, 7d...)")] = None,
    until: Annotated[str | None, typer.Option(help="Until (exclusive)")] = None,
    force: Annotated[bool, typer.Option(help="Re-decode even what is current")] = False,
) -> None:
    """Re-decode stored raw uplinks and retry dead letters after a decoder change."""
    settings = IngestSettings()
    selection = Selection(
        device.upper() if device else None,
        model,
        parse_moment(since) if since else None,
        parse_moment(until) if until else None,
    )

    async def run() -> str:
        pipeline, _, pool = await _pipeline(settings)
        try:
            r = await reprocess(pool, pipeline, selection, force)
        finally:
            await pool.close()
        return (
            f"examined {r.examined} uplinks, re-decoded {r.redecoded} ({r.measurements} "
            f"measurements, {r.still_failing} still failing), {r.letters_resolved} dead "
            "letters resolved"
        )

    typer.echo(asyncio.run(run()))


def backfill_command(
    since: Annotated[str, typer.Option(help="From (RFC 3339 or 24h, 7d...)")],
    application: Annotated[str, typer.Option("--app", help="The Things Stack application id")],
    url: Annotated[
        str, typer.Option(help="The Things Stack server")
    ] = "https://eu1.cloud.thethings.network",
    api_key: Annotated[
        str, typer.Option(envvar="MEETNET_TTS_API_KEY", help="API key (traffic read right)")
    ] = "",
    limit: Annotated[int, typer.Option(min=1, help="Uplinks per request")] = 1000,
) -> None:
    """Fetch uplinks missed while away from the TTS Storage Integration and store them."""
    if not api_key:
        raise typer.BadParameter("an API key is needed (--api-key or MEETNET_TTS_API_KEY)")
    settings = IngestSettings()
    moment = parse_moment(since)

    async def run() -> FillResult:
        pipeline, writer, pool = await _pipeline(settings)
        try:
            return await backfill(url, application, api_key, moment, pipeline, writer, limit)
        finally:
            await pool.close()

    typer.echo(_report(asyncio.run(run())))


def recorded_messages(path: str) -> Iterator[tuple[str, bytes]]:
    """(topic, body) of each line, read as `meetnet simulate --replay` reads it: recordings of
    `--record`, `{"topic", "payload"}` messages, Storage Integration NDJSON, bare envelopes,
    `mosquitto_sub -v` output. A line that is none of these goes on without a topic, for ingest
    to dead-letter with its reason."""
    with open(path, "rb") as lines:
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            try:
                recorded = parse_line(line)
            except RecordingError:
                yield "", line
            else:
                yield recorded.topic, recorded.body


def import_command(
    path: Annotated[str, typer.Argument(help="JSON Lines file of envelopes")],
) -> None:
    """Store a recording (`meetnet simulate --record`) or a capture of envelopes (TTS,
    ChirpStack, Storage Integration lines), as live ingest would have stored them."""
    settings = IngestSettings()

    async def run() -> FillResult:
        pipeline, writer, pool = await _pipeline(settings)
        try:
            return await store_messages(recorded_messages(path), pipeline, writer, f"import:{path}")
        finally:
            await pool.close()

    typer.echo(_report(asyncio.run(run())))
