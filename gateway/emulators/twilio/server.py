"""Run the Twilio emulator: a threaded werkzeug server in a background thread, started and stopped from Python (tests,
demo) or from the CLI.

Guarantees: `start()` returns once the socket listens (port 0 picks a free port); `stop()` closes the socket, stops
the status worker and joins the threads; credentials are generated per instance unless given.
"""

from __future__ import annotations

import secrets
from typing import Any

from gateway.emulators.serving import ServedEmulator
from gateway.emulators.twilio.app import EmulatorApp
from gateway.emulators.twilio.state import TwilioState, new_sid

DEFAULT_NUMBER = "+12025550100"  # a standalone number (its own opt-out scope)
DEFAULT_SERVICE_NUMBERS = ("+12025550101", "+12025550102")  # the Messaging Service pool (one shared scope)


class TwilioEmulator(ServedEmulator):
    """One emulated Twilio account on `url` (its REST base URL, as `TWILIO_BASE_URL`)."""

    app: EmulatorApp

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account_sid: str | None = None,
        auth_token: str | None = None,
        api_key_sid: str | None = None,
        api_key_secret: str | None = None,
        service_sid: str | None = None,
        number: str = DEFAULT_NUMBER,
        service_numbers: tuple[str, ...] = DEFAULT_SERVICE_NUMBERS,
        advanced_opt_out: bool = True,
        control_token: str | None = None,
        webhook_url: str | None = None,
        status_callback_url: str | None = None,
        status_delay_ms: int = 50,
        public_base_url: str | None = None,
    ) -> None:
        self.host = host
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.api_key_sid = api_key_sid or new_sid("SK")
        self.api_key_secret = api_key_secret or secrets.token_urlsafe(24)
        self.service_sid = service_sid or new_sid("MG")
        self.state = TwilioState(
            account_sid=self.account_sid,
            numbers=(number, *service_numbers),
            service_sid=self.service_sid,
            service_numbers=service_numbers,
            advanced_opt_out=advanced_opt_out,
        )
        app = EmulatorApp(
            self.state,
            auth_token=self.auth_token,
            api_key_sid=self.api_key_sid,
            api_key_secret=self.api_key_secret,
            control_token=control_token or secrets.token_urlsafe(18),
            webhook_url=webhook_url,
            status_callback_url=status_callback_url,
            status_delay_ms=status_delay_ms,
            public_base_url=public_base_url,
        )
        self._serve(app, host=host, port=port, name="twilio-emulator")

    def ready_line(self) -> dict[str, Any]:
        """What the CLI prints when ready (DESIGN §6), plus the account's credentials and senders."""
        return {
            "url": self.url,
            "control_token": self.control_token,
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "api_key_sid": self.api_key_sid,
            "api_key_secret": self.api_key_secret,
            "messaging_service_sid": self.service_sid,
            "from_numbers": list(self.state.numbers),
            "service_numbers": list(self.state.service_numbers),
            "webhook_url": self.app.webhook_url,
        }
