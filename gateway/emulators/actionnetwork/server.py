"""Run the Action Network emulator: a threaded werkzeug server in a background thread, started and stopped from
Python (tests, demo) or from the CLI.

Guarantees: `start()` returns once the socket is listening (port 0 picks a free port); `stop()` closes the socket
and joins the thread; one thread per connection, HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any, Self

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from gateway.emulators.actionnetwork.app import EmulatorApp
from gateway.emulators.actionnetwork.state import ActionNetworkState


class _QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ActionNetworkEmulator:
    """One emulated Action Network group on `url`; the API entry point is `api_url`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_token: str | None = None,
        control_token: str | None = None,
        requests_per_second: float | None = 4.0,
        webhook_url: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        self.host = host
        self.state = ActionNetworkState()
        self.app = EmulatorApp(
            self.state,
            api_token=api_token or secrets.token_hex(16),
            control_token=control_token or secrets.token_urlsafe(18),
            requests_per_second=requests_per_second,
            webhook_url=webhook_url,
            retry_after_seconds=retry_after_seconds,
        )
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def api_token(self) -> str:
        return self.app.api_token

    @property
    def control_token(self) -> str:
        return self.app.control_token

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v2/"

    def start(self) -> Self:
        server = make_server(self.host, self._requested_port, self.app, threaded=True, request_handler=_QuietHandler)
        server.daemon_threads = True  # type: ignore[attr-defined]  # ThreadedWSGIServer has it
        self._server = server
        self.app.public_url = self.url
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="actionnetwork-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.app.close()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ready_line(self) -> dict[str, Any]:
        """What the CLI prints when ready (DESIGN §6), plus what the adapter needs: `api_url`, `api_token`."""
        return {
            "url": self.url,
            "control_token": self.control_token,
            "api_url": self.api_url,
            "api_token": self.api_token,
            "requests_per_second": self.app.requests_per_second,
        }

    def control(self) -> requests.Session:
        """A session carrying the control token (`s.post(url + "/__emulator__/…")`)."""
        session = requests.Session()
        session.headers["X-Emulator-Token"] = self.control_token
        return session
