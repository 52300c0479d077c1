"""What every platform emulator does the same way: serve its WSGI app from a background thread, and run as a CLI
until SIGTERM/SIGINT.

Guarantees: `BackgroundServer.start()` returns once the socket is listening (port 0 picks a free port); `stop()`
closes the socket and joins the thread; the server speaks HTTP/1.1 keep-alive, one thread per connection, without an
access log. `run_until_signalled` prints exactly one JSON line on stdout once the emulator listens (DESIGN §6) and
stops it cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol, Self

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log: at hundreds of requests a second it would cost more than the request."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class BackgroundServer:
    """One WSGI application on `host:port`, served by a threaded werkzeug server in a daemon thread."""

    def __init__(self, app: Any, *, host: str, port: int, name: str) -> None:
        self.app = app
        self.host = host
        self.name = name
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"the {self.name} is not running")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        server = make_server(self.host, self._requested_port, self.app, threaded=True, request_handler=_QuietHandler)
        server.daemon_threads = True  # type: ignore[attr-defined]  # ThreadedWSGIServer has it
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None


class ServedEmulator:
    """The life cycle every platform emulator shares: its WSGI `app` (which has `control_token` and `close()`)
    served by a `BackgroundServer`, usable as a context manager, with `control()` for its control API. A subclass
    builds its app, then calls `_serve`."""

    app: Any
    _http: BackgroundServer

    def _serve(self, app: Any, *, host: str, port: int, name: str) -> None:
        self.app = app
        self._http = BackgroundServer(app, host=host, port=port, name=name)

    @property
    def control_token(self) -> str:
        return str(self.app.control_token)

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> Self:
        self._http.start()
        self._listening()
        return self

    def _listening(self) -> None:
        """Called once the socket listens (the URL is known)."""

    def stop(self) -> None:
        self._http.stop()
        self.app.close()

    def __enter__(self) -> Self:
        return self if self._http.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(self) -> requests.Session:
        """A session carrying the control token, for tests and scripts (`s.post(url + "/__emulator__/…")`)."""
        session = requests.Session()
        session.headers["X-Emulator-Token"] = self.control_token
        return session


class Emulator(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def ready_line(self) -> dict[str, Any]: ...


def run_until_signalled(emulator: Emulator, *, when_listening: Callable[[], None] | None = None) -> None:
    """`gateway emulate <name>`: start, run `when_listening` (e.g. seeding over the control API), print the ready
    line, serve until SIGTERM or SIGINT, stop."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    try:
        if when_listening is not None:
            when_listening()
        sys.stdout.write(json.dumps(emulator.ready_line()) + "\n")
        sys.stdout.flush()
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
