"""The socket `meetnet api` and the demo serve HTTP on, bound before anything else starts, so an
occupied port is one line that says what to fix rather than a failure halfway through start-up."""

from __future__ import annotations

import errno
import socket

from meetnet.errors import CommandError


def listen(host: str, port: int, option: str = "--port") -> socket.socket:
    """A bound, listening TCP socket on `host`:`port` for uvicorn (`Server.serve(sockets=...)`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a port left in TIME_WAIT by a previous run is free to use again.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"port {port} on {host} is already in use by another program: stop it, or "
                f"choose another port with {option}"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise CommandError(
                f"may not listen on port {port} of {host} (ports below 1024 need privileges): "
                f"choose another with {option}"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
            raise CommandError(
                f"{host} is not an address of this machine: choose one with --host "
                "(127.0.0.1 for this machine only, 0.0.0.0 for every interface)"
            ) from None
        raise
    return sock
