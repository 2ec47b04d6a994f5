"""Serving the web app with uvicorn: blocking (`dialer web`) or on a background thread
(tests, the screenshot and benchmark scripts). The app's lifespan runs, so an embedded
pacer starts with the server and stops, collecting calls in flight, when it shuts down."""

from __future__ import annotations

import signal
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from dialer.errors import DialerError
from dialer.sandbox.server import _ignore, bind, url_of

#: Seconds open connections (live pages) get to close when the server stops.
GRACEFUL_SHUTDOWN = 3


def config(app: Any, *, log_level: str = "info", access_log: bool = True) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        ws="none",
        http="h11",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        log_config=None,  # the dialer's own logging (with secrets redacted) applies
        server_header=False,
    )


def serve(app: Any, sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve until SIGINT or SIGTERM (uvicorn handles both and shuts down gracefully)."""
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.Server(config(app, log_level=log_level)).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class WebServer:
    """``with WebServer(app) as url:`` serves the web app on loopback from a daemon thread."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, *, timeout: float = 20.0) -> str:
        sock = bind(self.host, self.port)
        self.url = url_of(sock)
        self._server = uvicorn.Server(config(self.app, log_level=self.log_level, access_log=False))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="web-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise DialerError(f"the web server did not start on {self.url}")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._server = self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
