"""A fresh Twilio emulator per test (real HTTP on a free port), the real adapter pointed at it, and a stand-in for the
gateway's webhook endpoint that checks every request with the adapter's own verifier."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway.config import Secret
from gateway.emulators.twilio import TwilioEmulator
from gateway.platforms.base import InboundEvent, WebhookRejectedError
from gateway.platforms.twilio.adapter import TwilioAdapter
from gateway.platforms.twilio.settings import TwilioSettings
from gateway.platforms.twilio.webhooks import EMPTY_TWIML
from tests.support import EmulatorControl

PERSON = "+14155550123"


def settings_for(
    emulator: TwilioEmulator, webhook_base_url: str = "http://127.0.0.1:9", **changes: Any
) -> TwilioSettings:
    values: dict[str, Any] = {
        "account_sid": emulator.account_sid,
        "auth_token": Secret(emulator.auth_token),
        "api_key_sid": emulator.api_key_sid,
        "api_key_secret": Secret(emulator.api_key_secret),
        "messaging_service_sid": emulator.service_sid,
        "from_numbers": emulator.state.numbers,
        "base_url": emulator.url,
        "webhook_base_url": webhook_base_url,
        "backoff_seconds": 0.01,
    }
    values.update(changes)
    return TwilioSettings(**values)


class Control(EmulatorControl):
    """The emulator's control API, as a test drives it."""


@dataclass
class Receiver:
    """The gateway's Twilio webhook, played by the adapter: 403 for what fails verification, else empty TwiML."""

    url: str = ""
    events: list[InboundEvent] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    reply: str = EMPTY_TWIML
    adapter: TwilioAdapter | None = None  # what verifies and reads each request, as the gateway's route calls it

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            assert time.monotonic() < deadline, f"timed out; events={self.events} rejected={self.rejected}"
            time.sleep(0.02)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        raw = request.get_data(cache=True)  # as the gateway's route: the raw body, the path and raw query string
        url = request.full_path if request.query_string else request.path
        assert made.adapter is not None
        try:
            made.events.extend(made.adapter.parse_webhook("", dict(request.headers), {}, raw, url=url))
        except WebhookRejectedError as exc:
            made.rejected.append(str(exc))
            return Response(str(exc), exc.status)(environ, start_response)
        return Response(made.reply, 200, content_type="text/xml")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    made.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield made
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def emulator() -> Iterator[TwilioEmulator]:
    with TwilioEmulator(status_delay_ms=10) as running:
        yield running


@pytest.fixture
def control(emulator: TwilioEmulator) -> Iterator[Control]:
    ctl = Control(emulator)
    yield ctl
    ctl.session.close()


@pytest.fixture
def adapter(emulator: TwilioEmulator, receiver: Receiver) -> Iterator[TwilioAdapter]:
    made = TwilioAdapter(settings_for(emulator, receiver.url))
    receiver.adapter = made
    emulator.app.webhook_url = receiver.url + "/webhooks/platforms/twilio"
    emulator.app.status_callback_url = receiver.url + "/webhooks/platforms/twilio"
    yield made
    made.close()


__all__ = ["PERSON", "Control", "Receiver", "settings_for"]
