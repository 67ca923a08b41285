"""A faster socket under paho: one `recv` syscall per 256 KiB instead of several per message.

paho reads a packet with one `recv` for the command byte, one per remaining-length byte and one
for the rest, and goes back to `select` after every packet. Draining a broker queue that makes
~5 syscalls and a trip through paho's loop per message. `BufferedClient` hands paho a socket
that reads big chunks and serves paho's small reads from memory; it reports the buffered bytes
through `pending()` (the hook paho already has for TLS sockets) so paho never waits in `select`
while data sits in the buffer, and `loop_read` keeps reading while whole packets are buffered.
Relies on paho 2.x internals (`_create_socket`, `pending`), pinned in pyproject.toml.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

_CHUNK = 256 * 1024
_PACKETS_PER_READ = 2000  # then back to paho's loop (keepalive, writes, disconnect)


class BufferedSocket:
    """Wraps a connected (possibly TLS) socket; everything but reads goes straight through."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        if self._pos >= len(self._buffer):
            chunk = self._sock.recv(_CHUNK)  # BlockingIOError / SSLWantRead propagate to paho
            if not chunk:
                return b""
            self._buffer, self._pos = chunk, 0
        start = self._pos
        self._pos = min(start + size, len(self._buffer))
        return self._buffer[start : self._pos]

    def buffered(self) -> int:
        return len(self._buffer) - self._pos

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return self.buffered() + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    """paho's client reading through a `BufferedSocket`."""

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        # Straight to on_message: no per-topic callbacks are registered, so paho's topic matcher
        # (run for every message) would find none.
        on_message = self.on_message
        if on_message is not None:
            with self._in_callback_mutex:
                on_message(self, self._userdata, message)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        n = 0
        while (
            rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            and isinstance(sock, BufferedSocket)
            and sock.buffered() > 0
            and self._sock is sock
            and n < _PACKETS_PER_READ
        ):
            rc = super().loop_read(max_packets)
            n += 1
        return rc
