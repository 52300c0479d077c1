from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway import create_app
from gateway.config import load_settings
from gateway.emulators.salesforce import EmulatorServer
from tests.conftest import CLIENTS
from tests.integration.salesforce_emulator.conftest import Emulator, reset_org, running_emulator
from tests.support import serve_in_thread, token


@pytest.fixture
def gateway_url(sync_env: dict[str, str]) -> Iterator[str]:
    """The gateway app served over real HTTP in this process, logging in to the emulated org (whose org id the
    webhook door checks batches against: post them with `org_id`)."""
    with serve_in_thread(create_app(load_settings(sync_env, roles=("web",)))) as url:
        yield url


@pytest.fixture
def org_id(sf: Emulator) -> str:
    """The emulated org's id: the one `/webhooks/salesforce` accepts."""
    return sf.org_id


@pytest.fixture
def org_token(gateway_url: str) -> str:
    cid = "salesforce-org"
    return token(gateway_url, cid, CLIENTS[cid][0])


@pytest.fixture
def admin_token(gateway_url: str) -> str:
    cid = "admin-console"
    return token(gateway_url, cid, CLIENTS[cid][0])


@pytest.fixture(scope="session")
def sf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """One Salesforce emulator (HTTPS, the package's schema) for the gateway suites."""
    with running_emulator(tmp_path_factory) as server:
        yield server


@pytest.fixture
def sf(sf_server: EmulatorServer) -> Iterator[Emulator]:
    """The emulated org, reset (no records, no faults, no relay)."""
    with reset_org(sf_server) as emulator:
        yield emulator


@pytest.fixture
def sync_env(gateway_env: dict[str, str], sf: Emulator) -> dict[str, str]:
    """Gateway environment wired to the emulated org as its integration user (client credentials)."""
    integration = sf.clients["integration"]
    return {
        **gateway_env,
        "SALESFORCE_LOGIN_URL": sf.url,
        "SALESFORCE_CLIENT_ID": integration["client_id"],
        "SALESFORCE_CLIENT_SECRET": integration["client_secret"],
        "SALESFORCE_CA_BUNDLE": sf.ca_bundle,
    }
