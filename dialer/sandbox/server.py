"""Serving a sandbox app with uvicorn: blocking (the CLI) or on a background thread (tests,
in-process rehearsals). Loopback by default; the socket is bound before the server starts,
so port 0 picks a free port and the URL is known at once."""

from __future__ import annotations

import signal
import socket
import threading
import time
from types import FrameType, TracebackType
from typing import Any

import uvicorn

from dialer.errors import DialerError


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DialerError(f"cannot listen on {host}:{port} ({exc}); pick another --port or stop what uses it") from exc
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: Any, *, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=log_level == "debug",
        lifespan="off",
        ws="none",
        http="h11",
        timeout_graceful_shutdown=1,
    )


def serve(app: Any, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve until SIGINT or SIGTERM, then return normally.

    uvicorn handles both signals while it serves and re-raises them once it has shut down;
    the no-op handlers installed here receive that re-raise, so a stop is not an error.
    """
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.Server(_config(app, log_level=log_level)).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Receives the signal uvicorn re-raises after a graceful shutdown."""


class BackgroundServer:
    """``with BackgroundServer(app) as url:`` serves ``app`` on loopback from a daemon thread.

    An app that must know its own URL before it is built (a webhook receiver checking signatures)
    gets a socket bound first: ``sock = bind("127.0.0.1", 0)``, build the app with
    ``url_of(sock)``, then ``BackgroundServer(app, sock=sock)`` serves on that very socket, so no
    other process can take the port in between."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
        log_level: str = "warning",
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.url = ""
        self._sock = sock
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, *, timeout: float = 10.0) -> str:
        sock, self._sock = self._sock or bind(self.host, self.port), None
        self.url = url_of(sock)
        self._server = uvicorn.Server(_config(self.app, log_level=self.log_level))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="sandbox-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise DialerError(f"the sandbox server did not start on {self.url}")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
