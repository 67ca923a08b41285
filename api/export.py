"""CSV and GeoJSON renderings. CSV is streamed from a server-side cursor: memory stays constant
however long the series, and the first rows leave before the last are read."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import asyncpg
from fastapi.responses import StreamingResponse

_PREFETCH = 2000  # rows per round trip of the cursor
_FLUSH_BYTES = 64 * 1024


def _line(fields: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    return buffer.getvalue()


def csv_from_query(
    pool: asyncpg.Pool,
    sql: str,
    args: Sequence[Any],
    header: Sequence[str],
    fields: Callable[[Any], Iterable[Any]],
    filename: str,
) -> StreamingResponse:
    """Stream the rows of `sql` as CSV (RFC 4180), one connection held while it streams."""

    async def body() -> AsyncIterator[str]:
        yield _line(header)
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            async for row in conn.cursor(sql, *args, prefetch=_PREFETCH):
                writer.writerow(fields(row))
                if buffer.tell() >= _FLUSH_BYTES:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

    return _csv_response(body(), filename)


def csv_from_rows(
    rows: Iterable[Sequence[Any]], header: Sequence[str], filename: str
) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        yield _line(header)
        for row in rows:
            yield _line(row)

    return _csv_response(body(), filename)


def _csv_response(body: AsyncIterator[str], filename: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def feature(
    longitude: float | None, latitude: float | None, properties: dict[str, Any]
) -> dict[str, Any]:
    """A GeoJSON Feature with a Point, or a null geometry when the location is unknown."""
    geometry = (
        {"type": "Point", "coordinates": [longitude, latitude]}
        if longitude is not None and latitude is not None
        else None
    )
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **members}
