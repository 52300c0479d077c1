"""Logging in to the org: every grant, token expiry and refresh, and errors that name what failed."""

from __future__ import annotations

import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import REGISTRY

from gateway.config import Secret
from gateway.emulators.salesforce import EmulatorServer
from gateway.salesforce.client import SalesforceClient
from gateway.salesforce.errors import SalesforceAuthError
from tests.integration.salesforce_emulator.conftest import PACKAGE_DIR, Emulator

from .conftest import fast_client, settings_for

SOQL = "SELECT Id, LastName FROM Contact"


def invalid_session_retries() -> float:
    return REGISTRY.get_sample_value("gateway_salesforce_retries_total", {"reason": "invalid_session"}) or 0.0


@pytest.mark.parametrize("grant", ["jwt-bearer", "client-credentials", "refresh-token"])
def test_each_grant_logs_in_and_reads(emulator: Emulator, grant: str) -> None:
    emulator.seed("Contact", count=3)
    settings = settings_for(emulator, grant)
    assert settings.auth_mode == grant
    with fast_client(settings) as client:
        client.check()
        assert len(client.query_records(SOQL)) == 3


def test_jwt_signed_with_an_unregistered_key_is_refused_by_name(emulator: Emulator) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    client = fast_client(settings_for(emulator, "jwt-bearer", private_key=Secret(pem)))
    with pytest.raises(SalesforceAuthError) as caught:
        client.check()
    message = str(caught.value)
    assert "jwt-bearer" in message and "invalid_grant" in message and "/services/oauth2/token" in message
    assert "PRIVATE KEY" not in message


def test_wrong_secret_is_refused_without_showing_it(emulator: Emulator) -> None:
    secret = "s3cr3t-that-must-not-leak"
    client = fast_client(settings_for(emulator, client_secret=Secret(secret)))
    with pytest.raises(SalesforceAuthError) as caught:
        client.check()
    assert "invalid_client" in str(caught.value)
    assert secret not in str(caught.value) and secret not in repr(caught.value.__dict__)


def test_unreadable_private_key_is_named(emulator: Emulator) -> None:
    client = fast_client(settings_for(emulator, "jwt-bearer", private_key=Secret("-----BEGIN nonsense")))
    with pytest.raises(SalesforceAuthError) as caught:
        client.check()
    assert caught.value.step == "private key"


def test_untrusted_certificate_is_a_tls_error(emulator: Emulator) -> None:
    client = fast_client(settings_for(emulator, ca_bundle=None))  # system trust store: no emulator CA in it
    with pytest.raises(SalesforceAuthError) as caught:
        client.check()
    assert caught.value.step == "TLS"


def test_expired_session_is_refreshed_once_and_the_call_succeeds(emulator: Emulator) -> None:
    emulator.seed("Contact", count=2)
    with fast_client(settings_for(emulator)) as client:
        assert len(client.query_records(SOQL)) == 2
        issued = emulator.stats()["tokens_issued"]
        retries = invalid_session_retries()
        assert emulator.control("POST", "tokens/expire").status_code == 200
        assert len(client.query_records(SOQL)) == 2
        assert emulator.stats()["tokens_issued"] == issued + 1
        assert invalid_session_retries() == retries + 1


def test_a_fresh_token_refused_again_is_not_retried_forever(emulator: Emulator) -> None:
    with fast_client(settings_for(emulator)) as client:
        client.check()
        emulator.control("POST", "faults", json={"error_code": "INVALID_SESSION_ID", "count": 5})
        with pytest.raises(SalesforceAuthError) as caught:
            client.query_records(SOQL)
        assert caught.value.step == "session"
        assert emulator.stats()["faults"]["fired"] == 2  # the call and its one retry after refreshing


def test_tokens_are_renewed_before_and_after_expiry(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = EmulatorServer(package_dir=PACKAGE_DIR, var_dir=tmp_path_factory.mktemp("sf-ttl"), token_ttl=2).start()

    def tokens_issued() -> int:
        stats = requests.get(
            f"{server.url}/__emulator__/stats",
            headers={"X-Emulator-Token": server.control_token},
            verify=server.ca_bundle,
            timeout=10,
        )
        return int(stats.json()["tokens_issued"])

    try:
        # the client expects a shorter life than the org grants: it renews ahead, never meeting INVALID_SESSION_ID
        retries, issued = invalid_session_retries(), tokens_issued()
        ahead = SalesforceClient(settings_for(server), assumed_token_lifetime=1.0)
        ahead.query_records(SOQL)
        time.sleep(1.1)
        ahead.query_records(SOQL)
        assert (tokens_issued(), invalid_session_retries()) == (issued + 2, retries)
        # the client expects a longer life than the org grants: the dead token is replaced silently, once
        behind = SalesforceClient(settings_for(server), assumed_token_lifetime=900)
        behind.query_records(SOQL)
        time.sleep(2.1)
        assert len(behind.query_records(SOQL)) == 0
        assert (tokens_issued(), invalid_session_retries()) == (issued + 4, retries + 1)
    finally:
        server.stop()
