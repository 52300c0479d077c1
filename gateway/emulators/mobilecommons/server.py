"""Run the Mobile Commons emulator: a threaded werkzeug server in a background thread, started and stopped
from Python (tests, demo) or from the CLI (`gateway.emulators.serving`).

Guarantees: `start()` returns once the socket is listening (port 0 picks a free port); `stop()` closes
the socket and joins the thread; the server speaks HTTP/1.1 keep-alive, one thread per connection.
"""

from __future__ import annotations

import secrets
from typing import Any

from gateway.emulators.mobilecommons.app import EmulatorApp
from gateway.emulators.mobilecommons.state import MobileCommonsState
from gateway.emulators.serving import ServedEmulator

DEFAULT_CAMPAIGN_ID = 189358
DEFAULT_OPT_IN_PATH_ID = 279022


class MobileCommonsEmulator(ServedEmulator):
    """One emulated Mobile Commons company on `url`; its API base is `api_url`."""

    app: EmulatorApp

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "emulator@example.org",
        password: str | None = None,
        bearer_token: str | None = None,
        company_key: str | None = None,
        campaign_id: int = DEFAULT_CAMPAIGN_ID,
        opt_in_path_id: int = DEFAULT_OPT_IN_PATH_ID,
        mdata_url: str | None = None,
        mdata_keywords: tuple[str, ...] = ("JOIN",),
        mdata_method: str = "POST",
        control_token: str | None = None,
    ) -> None:
        self.host = host
        self.username = username
        self.password = password or secrets.token_urlsafe(18)
        self.bearer_token = bearer_token
        self.campaign_id = campaign_id
        self.opt_in_path_id = opt_in_path_id
        self.state = MobileCommonsState(campaign_id=campaign_id, opt_in_path_id=opt_in_path_id)
        app = EmulatorApp(
            self.state,
            username=username,
            password=self.password,
            control_token=control_token or secrets.token_urlsafe(18),
            bearer_token=bearer_token,
            company_key=company_key,
            mdata_url=mdata_url,
            mdata_keywords=mdata_keywords,
            mdata_method=mdata_method,
        )
        self._serve(app, host=host, port=port, name="mobilecommons-emulator")

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def ready_line(self) -> dict[str, Any]:
        """What the CLI prints when ready (DESIGN §6), plus `api_url` for the adapter."""
        return {
            "url": self.url,
            "control_token": self.control_token,
            "username": self.username,
            "password": self.password,
            "campaign_id": str(self.campaign_id),
            "opt_in_path_id": str(self.opt_in_path_id),
            "api_url": self.api_url,
        }
