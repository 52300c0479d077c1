"""Run the Action Network emulator: a threaded werkzeug server in a background thread, started and stopped from
Python (tests, demo) or from the CLI (`gateway.emulators.serving`).

Guarantees: `start()` returns once the socket is listening (port 0 picks a free port); `stop()` closes the socket
and joins the thread; one thread per connection, HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import secrets
from typing import Any

from gateway.emulators.actionnetwork.app import EmulatorApp
from gateway.emulators.actionnetwork.state import ActionNetworkState
from gateway.emulators.serving import ServedEmulator


class ActionNetworkEmulator(ServedEmulator):
    """One emulated Action Network group on `url`; the API entry point is `api_url`."""

    app: EmulatorApp

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
        app = EmulatorApp(
            self.state,
            api_token=api_token or secrets.token_hex(16),
            control_token=control_token or secrets.token_urlsafe(18),
            requests_per_second=requests_per_second,
            webhook_url=webhook_url,
            retry_after_seconds=retry_after_seconds,
        )
        self._serve(app, host=host, port=port, name="actionnetwork-emulator")

    @property
    def api_token(self) -> str:
        return self.app.api_token

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v2/"

    def _listening(self) -> None:
        self.app.public_url = self.url

    def ready_line(self) -> dict[str, Any]:
        """What the CLI prints when ready (DESIGN §6), plus what the adapter needs: `api_url`, `api_token`."""
        return {
            "url": self.url,
            "control_token": self.control_token,
            "api_url": self.api_url,
            "api_token": self.api_token,
            "requests_per_second": self.app.requests_per_second,
        }
