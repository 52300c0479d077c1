"""A fresh Action Network emulator per test (real HTTP), a real Redis for the shared limiters, and the real
adapter pointed at both."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway.config import Secret
from gateway.emulators.actionnetwork import ActionNetworkEmulator
from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter
from gateway.platforms.actionnetwork.settings import ActionNetworkSettings
from tests.integration.gateway.conftest import sf, sf_server, sync_env  # noqa: F401 - the product tests use them
from tests.support import EmulatorControl

WEBHOOK_SECRET = "an-webhook-secret-0123456789"
SOURCE_TAG = "from-salesforce"


class Control(EmulatorControl):
    """The Action Network emulator's control API, as a test drives it."""

    def people(self, **params: str) -> list[dict[str, Any]]:
        return list(self.get("contacts", **params)["contacts"])

    def person(self, **params: str) -> dict[str, Any]:
        [found] = self.people(**params)
        return found

    def calls(self, name: str) -> int:
        return int(self.get("stats")["api_calls"]["by_class"].get(name, 0))


def settings_for(emulator: ActionNetworkEmulator, **overrides: Any) -> ActionNetworkSettings:
    values: dict[str, Any] = {
        "api_token": Secret(emulator.api_token),
        "base_url": emulator.api_url,
        "source_tag": SOURCE_TAG,
        "webhook_secret": Secret(WEBHOOK_SECRET),
        "requests_per_second": 200.0,  # rate is under test only where a test says so
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 0.5,
    }
    values.update(overrides)
    return ActionNetworkSettings(**values)


@pytest.fixture
def emulator() -> Iterator[ActionNetworkEmulator]:
    with ActionNetworkEmulator(requests_per_second=None) as running:
        yield running


@pytest.fixture
def control(emulator: ActionNetworkEmulator) -> Iterator[Control]:
    ctl = Control(emulator)
    ctl.post("seed", {"tags": [SOURCE_TAG]})
    yield ctl
    ctl.session.close()


@pytest.fixture
def conn(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def make_adapter(emulator: ActionNetworkEmulator, conn: redis.Redis) -> Iterator[Callable[..., ActionNetworkAdapter]]:
    made: list[ActionNetworkAdapter] = []

    def make(**overrides: Any) -> ActionNetworkAdapter:
        adapter = ActionNetworkAdapter.build(settings_for(emulator, **overrides), conn)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def adapter(make_adapter: Callable[..., ActionNetworkAdapter]) -> ActionNetworkAdapter:
    return make_adapter()


@dataclass
class Receiver:
    """A stand-in for the gateway's webhook endpoint: records each POST."""

    url: str = ""
    calls: list[tuple[str, bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        got.calls.append((request.path, request.get_data()))
        return Response("", 200)(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    got.url = f"http://127.0.0.1:{server.server_port}/webhooks/platforms/actionnetwork/{WEBHOOK_SECRET}"
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


__all__ = ["Control", "Receiver", "requests", "settings_for"]
