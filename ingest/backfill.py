"""Filling gaps through the same idempotent path as live ingest: a JSON Lines file of envelopes,
or The Things Stack's Storage Integration API (formats.md §1.7).

The Things Stack's own MQTT broker is QoS 0, so what it publishes while meetnet is away is gone
from MQTT; the Storage Integration keeps uplinks (30 days on TTS Cloud) and hands them out as
newline-delimited `{"result": ApplicationUp}` objects, paged with `after=` and `limit=`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import orjson

from ingest.model import DeadLetter, DecodedUplink, DeviceEvent
from ingest.pipeline import Pipeline
from ingest.writer import Writer

logger = logging.getLogger(__name__)


@dataclass
class FillResult:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    newest: datetime | None = None


def _unwrapped(line: bytes) -> bytes:
    """The envelope of a line without a topic: a Storage Integration `{"result": ...}` line
    gives its result, anything else stays as it is (the body decides what it is)."""
    with contextlib.suppress(orjson.JSONDecodeError):
        doc = orjson.loads(line)
        if isinstance(doc, dict) and isinstance(doc.get("result"), dict):
            return orjson.dumps(doc["result"])
    return line


async def store_lines(
    lines: Iterable[bytes], pipeline: Pipeline, writer: Writer, source: str, batch: int = 500
) -> FillResult:
    """Envelopes one per line (Storage Integration NDJSON, bare TTS or ChirpStack JSON), through
    `store_messages`."""
    messages = (("", _unwrapped(s)) for line in lines if (s := line.strip()))
    return await store_messages(messages, pipeline, writer, source, batch)


async def store_messages(
    messages: Iterable[tuple[str, bytes]],
    pipeline: Pipeline,
    writer: Writer,
    source: str,
    batch: int = 500,
) -> FillResult:
    """(topic, body) pairs through the pipeline live ingest uses, so each message ends as it
    would have from MQTT; written in batches, each folded into latest and the rollups before
    the next. A message without a topic is named by its body, and its dead letter by `source`."""
    result = FillResult()
    uplinks: list[DecodedUplink] = []
    letters: list[DeadLetter] = []
    events: list[DeviceEvent] = []

    async def flush() -> None:
        written = await writer.write(uplinks, letters, events)
        await writer.fold()  # latest and rollups exact after each batch, the queue kept short
        result.stored += written.uplinks
        result.duplicates += written.duplicates
        result.dead_letters += written.dead_letters
        uplinks.clear()
        letters.clear()
        events.clear()

    for topic, body in messages:
        result.read += 1
        for outcome in pipeline.process(topic, body):
            if not topic and isinstance(outcome, DecodedUplink | DeadLetter):
                outcome = dataclasses.replace(outcome, topic=source)
            if isinstance(outcome, DecodedUplink):
                uplinks.append(outcome)
                at = outcome.uplink.received_at
                result.newest = at if result.newest is None else max(result.newest, at)
            elif isinstance(outcome, DeadLetter):
                letters.append(outcome)
            elif isinstance(outcome, DeviceEvent):
                events.append(outcome)
        if len(uplinks) + len(letters) + len(events) >= batch:
            await flush()
    await flush()
    return result


def storage_pages(
    base_url: str,
    application: str,
    api_key: str,
    since: datetime,
    limit: int = 1000,
    timeout_s: float = 60,
) -> Iterator[list[bytes]]:
    """Pages of NDJSON lines from the Storage Integration, oldest first, until one is short."""
    after = since
    while True:
        query = urllib.parse.urlencode(
            {
                "after": after.isoformat().replace("+00:00", "Z"),
                "limit": limit,
                "order": "received_at",
            }
        )
        app = urllib.parse.quote(application, safe="")
        url = (
            f"{base_url.rstrip('/')}/api/v3/as/applications/{app}/packages/storage/"
            f"uplink_message?{query}"
        )
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            lines = [line for line in response.read().splitlines() if line.strip()]
        yield lines
        if len(lines) < limit:
            return
        times = [t for line in lines if (t := _received_at(line)) is not None]
        newest = max(times, default=after)
        if newest <= after:
            return
        after = newest


def _received_at(line: bytes) -> datetime | None:
    try:
        result = orjson.loads(line).get("result", {})
        text = result.get("received_at") or result.get("uplink_message", {}).get("received_at")
        return datetime.fromisoformat(text) if text else None
    except (orjson.JSONDecodeError, AttributeError, ValueError, TypeError):
        return None


async def backfill(
    base_url: str,
    application: str,
    api_key: str,
    since: datetime,
    pipeline: Pipeline,
    writer: Writer,
    limit: int = 1000,
) -> FillResult:
    total = FillResult()
    pages = storage_pages(base_url, application, api_key, since, limit)
    while True:
        lines = await asyncio.to_thread(next, pages, None)
        if lines is None:
            return total
        part = await store_lines(lines, pipeline, writer, f"tts-storage:{application}")
        total.read += part.read
        total.stored += part.stored
        total.duplicates += part.duplicates
        total.dead_letters += part.dead_letters
        if part.newest and (total.newest is None or part.newest > total.newest):
            total.newest = part.newest
        logger.info("backfill: %d read, %d new so far", total.read, total.stored)
