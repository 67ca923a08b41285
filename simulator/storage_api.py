"""A local imitation of The Things Stack Storage Integration API (formats.md §1.7), for tests.

`GET /api/v3/as/applications/{app}/packages/storage/uplink_message` with `Authorization: Bearer
<key>` answers newline-delimited `{"result": ApplicationUp}` objects, oldest first, filtered by
`after=` (exclusive) and cut at `limit=`, as the real API does. Runs in a thread of the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

_PATH = "/api/v3/as/applications/{app}/packages/storage/uplink_message"


class StorageApi:
    """Serves `uplinks` (ApplicationUp JSON bodies) of one application behind one API key."""

    def __init__(self, application: str, api_key: str, uplinks: Iterable[bytes]) -> None:
        self.application = application
        self.api_key = api_key
        docs = [orjson.loads(body) for body in uplinks]
        self.uplinks = sorted(docs, key=_received_at)
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StorageApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                api.requests.append(self.path)
                parts = urlsplit(self.path)
                if parts.path != _PATH.format(app=api.application):
                    return self._reply(404, b'{"code": 5, "message": "not found"}')
                if self.headers.get("Authorization") != f"Bearer {api.api_key}":
                    return self._reply(401, b'{"code": 16, "message": "unauthenticated"}')
                query = parse_qs(parts.query)
                after = query.get("after", [None])[0]
                limit = int(query.get("limit", ["0"])[0] or 0)
                chosen = [
                    u
                    for u in api.uplinks
                    if after is None or _received_at(u) > datetime.fromisoformat(after)
                ]
                if limit:
                    chosen = chosen[:limit]
                body = b"".join(orjson.dumps({"result": u}) + b"\n" for u in chosen)
                self._reply(200, body, "application/x-ndjson")

            def _reply(self, code: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _received_at(doc: dict[str, Any]) -> datetime:
    text = doc.get("received_at") or doc["uplink_message"]["received_at"]
    return datetime.fromisoformat(text)
