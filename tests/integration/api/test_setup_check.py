"""`GET /api/v1/setup-check`: what the Salesforce package's Setup section learns from the gateway, over HTTP, with
the tokens the org's Named Credential principals would hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import requests

from gateway import __version__, create_app
from gateway.config import Settings
from tests.conftest import CLIENTS
from tests.support import serve_in_thread, token


def _setup_check(url: str, bearer: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return requests.get(f"{url}/api/v1/setup-check", headers=headers, timeout=10)


def _token(url: str, client_id: str, scope: str | None = None) -> str:
    return token(url, client_id, CLIENTS[client_id][0], scope)


def test_the_orgs_client_learns_the_version_the_platform_and_that_it_holds_what_the_package_needs(
    gateway_url: str,
) -> None:
    answer = _setup_check(gateway_url, _token(gateway_url, "salesforce-org"))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "version": __version__,
        "platform": {"name": "recording"},
        "client": {"id": "salesforce-org", "scopes": ["conversations:read", "events:write"]},
        "requiredScopes": ["conversations:read", "events:write"],
        "missingScopes": [],
        "admin": False,
    }


def test_the_admin_consoles_client_is_told_it_holds_admin(gateway_url: str) -> None:
    body = _setup_check(gateway_url, _token(gateway_url, "admin-console")).json()

    assert body["client"] == {"id": "admin-console", "scopes": ["admin", "conversations:read", "events:write"]}
    assert body["admin"] is True and body["missingScopes"] == []


def test_a_token_without_a_scope_the_package_needs_names_it(gateway_url: str) -> None:
    """A principal whose token request asks for fewer scopes (or a client granted fewer) is told what it lacks."""
    body = _setup_check(gateway_url, _token(gateway_url, "salesforce-org", scope="events:write")).json()

    assert body["client"]["scopes"] == ["events:write"]
    assert body["missingScopes"] == ["conversations:read"]


def test_a_client_with_neither_events_write_nor_admin_is_refused_in_the_apis_error_shape(gateway_url: str) -> None:
    answer = _setup_check(gateway_url, _token(gateway_url, "reader"))

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "insufficient-scope"
    assert "'events:write' or 'admin'" in answer.json()["error"]["message"]


def test_no_token_is_a_401(gateway_url: str) -> None:
    answer = _setup_check(gateway_url, None)

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid-token"


@pytest.fixture
def unconfigured_platform_url(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(dataclasses.replace(settings, messaging_platform=None))) as url:
        yield url


def test_a_gateway_without_a_platform_says_so(unconfigured_platform_url: str) -> None:
    body = _setup_check(unconfigured_platform_url, _token(unconfigured_platform_url, "salesforce-org")).json()

    assert body["platform"] == {"name": None}
