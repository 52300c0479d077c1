"""Fixtures: a Salesforce emulator over HTTPS (one per module, reset per test) and settings for the client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import SalesforceSettings, Secret
from gateway.emulators.salesforce import EmulatorServer
from gateway.salesforce.client import SalesforceClient
from tests.integration.salesforce_emulator.conftest import PACKAGE_DIR, Emulator, https_session


@pytest.fixture(scope="module")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    server = EmulatorServer(package_dir=PACKAGE_DIR, var_dir=tmp_path_factory.mktemp("sf-var")).start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[Emulator]:
    """A reset org (no records, no faults, API usage at 0)."""
    http = https_session(emulator_server.ca_bundle)
    emu = Emulator(emulator_server, http)
    assert emu.control("POST", "reset").status_code == 200
    emu.control("DELETE", "relay")
    # reset keeps a daily limit changed through /limits; put the default allocation back
    assert emu.control("POST", "limits", json={"max": 100_000, "used": 0}).status_code == 200
    yield emu
    http.close()


def settings_for(
    emulator: Emulator | EmulatorServer, grant: str = "client-credentials", **overrides: Any
) -> SalesforceSettings:
    """Settings that log in to the emulator as the integration user with `grant`."""
    client = emulator.clients["integration"]
    values: dict[str, Any] = {
        "login_url": emulator.url,
        "client_id": client["client_id"],
        "ca_bundle": emulator.ca_bundle,
    }
    if grant == "jwt-bearer":
        values["username"] = client["username"]
        values["private_key"] = Secret(Path(client["private_key_file"]).read_text())
    elif grant == "refresh-token":
        values["client_secret"] = Secret(client["client_secret"])
        values["refresh_token"] = Secret(client["refresh_token"])
    else:
        values["client_secret"] = Secret(client["client_secret"])
    values.update(overrides)
    return SalesforceSettings(**values)


def fast_client(settings: SalesforceSettings, **kwargs: Any) -> SalesforceClient:
    """A client with test-sized waits (no 5 s bulk sleeps, millisecond backoff)."""
    options: dict[str, Any] = {"bulk_poll_interval": 0.02, "bulk_poll_max": 0.2, "backoff": 0.01, "max_backoff": 0.05}
    options.update(kwargs)
    return SalesforceClient(settings, **options)


def api_calls(emulator: Emulator) -> dict[str, int]:
    """The emulator's count of calls by class, plus `data` (every call but token requests)."""
    calls = emulator.stats()["api_calls"]
    return {**calls["by_class"], "data": calls["total"] - calls["by_class"].get("token", 0)}
