"""Fixtures for tests that need a Salesforce org: a real emulator over HTTPS on a free port.

Copy `salesforce_emulator` (or depend on it) in other suites. It yields an `Emulator` handle; the org is
reset before each test, so tests may run in any order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from gateway.emulators.salesforce import EmulatorServer

PACKAGE_DIR = Path(__file__).resolve().parents[3] / "sfdx-package"
API_VERSION = "62.0"


def https_session(ca_bundle: str) -> requests.Session:
    """A session that trusts only the emulator's CA (REQUESTS_CA_BUNDLE in the environment would win over
    `session.verify` for simple-salesforce's calls, so the environment is not consulted)."""
    session = requests.Session()
    session.verify = ca_bundle
    session.trust_env = False
    return session


@dataclass
class Emulator:
    server: EmulatorServer
    http: requests.Session

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_bundle(self) -> str:
        return self.server.ca_bundle

    @property
    def clients(self) -> dict[str, dict[str, Any]]:
        return self.server.clients

    @property
    def org_id(self) -> str:
        return self.server.org_id

    @property
    def data_url(self) -> str:
        return f"{self.url}/services/data/v{API_VERSION}"

    def control(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"X-Emulator-Token": self.server.control_token, **kw.pop("headers", {})}
        return self.http.request(
            method, f"{self.url}/__emulator__/{path.lstrip('/')}", headers=headers, timeout=60, **kw
        )

    def token(self, client: str = "integration") -> str:
        c = self.clients[client]
        response = self.http.post(
            f"{self.url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(c["client_id"], c["client_secret"]),
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def auth(self, client: str = "integration") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client)}"}

    def sf(self, client: str = "integration", version: str = API_VERSION) -> Salesforce:
        """simple-salesforce logged in as `client` through the client-credentials grant."""
        return Salesforce(
            instance_url=self.url, session_id=self.token(client), version=version, session=https_session(self.ca_bundle)
        )

    def seed(self, sobject: str, **spec: Any) -> list[str]:
        response = self.control("POST", "seed", json={"object": sobject, **spec})
        assert response.status_code == 201, response.text
        return list(response.json()["ids"])

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        response = self.control("GET", f"records/{sobject}/{record_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def stats(self) -> dict[str, Any]:
        return dict(self.control("GET", "stats").json())


@contextmanager
def running_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator server with the package's schema, for a module's or a session's fixture."""
    server = EmulatorServer(package_dir=PACKAGE_DIR, var_dir=tmp_path_factory.mktemp("sf-var")).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def reset_org(server: EmulatorServer) -> Iterator[Emulator]:
    """The org behind `server`, reset: no records, no faults, no relay, API usage at 0 of the default allocation."""
    http = https_session(server.ca_bundle)
    emulator = Emulator(server, http)
    assert emulator.control("POST", "reset").status_code == 200
    emulator.control("DELETE", "relay")
    # reset keeps a daily limit changed through /limits; put the default allocation back
    assert emulator.control("POST", "limits", json={"max": 100_000, "used": 0}).status_code == 200
    try:
        yield emulator
    finally:
        emulator.control("DELETE", "relay")
        emulator.control("DELETE", "faults")
        http.close()


@pytest.fixture(scope="module")
def salesforce_emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path_factory) as server:
        yield server


@pytest.fixture
def salesforce_emulator(salesforce_emulator_server: EmulatorServer) -> Iterator[Emulator]:
    """A reset org behind a running emulator."""
    with reset_org(salesforce_emulator_server) as emulator:
        yield emulator
