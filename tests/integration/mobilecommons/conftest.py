"""A fresh Mobile Commons emulator per test (real HTTP on a free port) and the real adapter pointed at it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway.emulators.mobilecommons import MobileCommonsEmulator
from gateway.platforms.mobilecommons import MobileCommonsAdapter, MobileCommonsSettings
from tests.support import EmulatorControl


class Control(EmulatorControl):
    """The emulator's control API, as a test drives it."""

    def contact(self, phone: str) -> dict[str, Any]:
        [found] = self.get("contacts", phone=phone)["contacts"]
        return found

    def calls(self, method: str) -> int:
        return int(self.get("stats")["api_calls"]["by_method"].get(method, 0))


def settings_for(emulator: MobileCommonsEmulator, **overrides: Any) -> MobileCommonsSettings:
    values: dict[str, Any] = {
        "username": emulator.username,
        "password": emulator.password,
        "base_url": emulator.api_url,
        "campaign_id": str(emulator.campaign_id),
        "opt_in_path_id": str(emulator.opt_in_path_id),
        "webhook_secret": "mdata-secret-123",
        "backoff_seconds": 0.01,
    }
    values.update(overrides)
    return MobileCommonsSettings(**values)


@pytest.fixture
def emulator() -> Iterator[MobileCommonsEmulator]:
    with MobileCommonsEmulator() as running:
        yield running


@pytest.fixture
def control(emulator: MobileCommonsEmulator) -> Iterator[Control]:
    ctl = Control(emulator)
    yield ctl
    ctl.session.close()


@pytest.fixture
def adapter(emulator: MobileCommonsEmulator) -> Iterator[MobileCommonsAdapter]:
    made = MobileCommonsAdapter(settings_for(emulator))
    yield made
    made.close()


@dataclass
class Receiver:
    """A stand-in for the gateway's webhook endpoint: records each mData call, answers `reply`."""

    url: str = ""
    calls: list[tuple[str, dict[str, str], dict[str, str], bytes]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    reply: str = ""


@pytest.fixture
def mdata_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data(cache=True)
        receiver.calls.append((request.path, dict(request.headers), request.form.to_dict(), body))
        receiver.queries.append(request.query_string.decode())
        return Response(receiver.reply, 200, content_type="text/xml")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def path_query(receiver: Receiver) -> str:
    """The query string of the receiver's last call."""
    return receiver.queries[-1]


__all__ = ["Control", "Receiver", "path_query", "requests", "settings_for"]
