"""Fixtures: a Salesforce emulator over HTTPS (one per module, reset per test) and settings for the client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import SalesforceSettings, Secret
from gateway.emulators.salesforce import EmulatorServer
from gateway.salesforce.client import SalesforceClient
from tests.integration.salesforce_emulator.conftest import Emulator, reset_org, running_emulator


@pytest.fixture(scope="module")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path_factory) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[Emulator]:
    """A reset org (no records, no faults, API usage at 0)."""
    with reset_org(emulator_server) as emu:
        yield emu


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
