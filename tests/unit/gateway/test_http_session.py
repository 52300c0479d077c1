"""A session for one outside API reads the environment's proxies and CA bundle once, and keeps them."""

from __future__ import annotations

import pytest
import requests

from gateway.http_session import settle_environment


def test_the_environments_proxy_and_ca_bundle_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    session = settle_environment(requests.Session(), "https://secure.mcommons.com/api/")
    assert session.proxies["https"] == "http://egress.internal:3128"
    assert session.verify == "/etc/ssl/company.pem"
    assert session.trust_env is False  # not read again on every request


def test_a_host_the_environment_exempts_goes_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = settle_environment(requests.Session(), "http://127.0.0.1:8080/api/")
    assert "https" not in session.proxies
    assert session.verify is True
