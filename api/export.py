"""CSV and GeoJSON renderings.

A long CSV export is read a page at a time, each page one short query on a connection taken from
the pool and given back before the page is sent: a client that reads slowly holds no
connection, and no open transaction, however long its download. Pages follow each other by
keyset (the last row's key), so rows stored meanwhile never shift or repeat a page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import asyncpg
from fastapi.responses import StreamingResponse

PAGE_ROWS = 5000

# fetch(conn, key of the last row sent or None, page size) -> the next rows in key order.
FetchPage = Callable[[asyncpg.Connection, Any, int], Awaitable[Sequence[Any]]]


def _line(fields: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    return buffer.getvalue()


def csv_pages(
    pool: asyncpg.Pool,
    fetch: FetchPage,
    key: Callable[[Any], Any],
    header: Sequence[str],
    fields: Callable[[Any], Iterable[Any]],
    filename: str,
) -> StreamingResponse:
    """Stream CSV (RFC 4180) page by page, holding a connection only while a page is read."""

    async def body() -> AsyncIterator[str]:
        yield _line(header)
        after = None
        while True:
            async with pool.acquire() as conn:
                rows = await fetch(conn, after, PAGE_ROWS)
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerows(fields(r) for r in rows)
            yield buffer.getvalue()
            if len(rows) < PAGE_ROWS:
                return
            after = key(rows[-1])

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
