"""The token endpoint as clients use it: client credentials, refresh token, JWT bearer, and expiry."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from simple_salesforce import Salesforce, SalesforceExpiredSession
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from gateway.emulators.salesforce import EmulatorServer

from .conftest import PACKAGE_DIR, Emulator, https_session

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def assertion(emulator: Emulator, key_pem: bytes | None = None, **claims: Any) -> str:
    client = emulator.clients["integration"]
    pem = key_pem or Path(client["private_key_file"]).read_bytes()
    body = {
        "iss": client["client_id"],
        "sub": client["username"],
        "aud": "https://login.salesforce.com",
        "exp": str(int(time.time()) + 180),
        **claims,
    }
    return jwt.encode({"alg": "RS256"}, {k: v for k, v in body.items() if v is not None}, RSAKey.import_key(pem))


def post_token(emulator: Emulator, **form: str) -> requests.Response:
    return emulator.http.post(f"{emulator.url}/services/oauth2/token", data=form, timeout=10)


def test_client_credentials_answers_the_orgs_token_shape(salesforce_emulator: Emulator) -> None:
    client = salesforce_emulator.clients["admin"]
    response = post_token(
        salesforce_emulator,
        grant_type="client_credentials",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert body["instance_url"] == salesforce_emulator.url
    assert body["token_type"] == "Bearer"
    assert body["issued_at"].isdigit() and abs(int(body["issued_at"]) / 1000 - time.time()) < 60
    org_id, user_id = body["id"].rsplit("/", 2)[-2:]
    assert len(org_id) == 18 and org_id.startswith("00D")
    assert user_id == client["user_id"]
    assert body["access_token"].startswith(org_id[:15] + "!")


def test_client_credentials_with_basic_auth_works_and_wrong_secret_is_refused(salesforce_emulator: Emulator) -> None:
    client = salesforce_emulator.clients["integration"]
    url = f"{salesforce_emulator.url}/services/oauth2/token"
    ok = salesforce_emulator.http.post(
        url, data={"grant_type": "client_credentials"}, auth=(client["client_id"], client["client_secret"]), timeout=10
    )
    assert ok.status_code == 200
    bad = salesforce_emulator.http.post(
        url, data={"grant_type": "client_credentials"}, auth=(client["client_id"], "nope"), timeout=10
    )
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    unknown = salesforce_emulator.http.post(
        url, data={"grant_type": "client_credentials"}, auth=("3MVGunknown", "x"), timeout=10
    )
    assert unknown.json()["error"] == "invalid_client_id"
    unsupported = post_token(salesforce_emulator, grant_type="password")
    assert unsupported.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("name", ["integration", "admin"])
def test_refresh_token_grant_logs_in_as_the_clients_user(salesforce_emulator: Emulator, name: str) -> None:
    client = salesforce_emulator.clients[name]
    response = post_token(
        salesforce_emulator,
        grant_type="refresh_token",
        refresh_token=client["refresh_token"],
        client_id=client["client_id"],
        client_secret=client["client_secret"],
    )
    assert response.status_code == 200
    assert response.json()["id"].endswith("/" + client["user_id"])
    bad = post_token(
        salesforce_emulator, grant_type="refresh_token", refresh_token="5Aep861wrong", client_id=client["client_id"]
    )
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_jwt_bearer_through_simple_salesforce(salesforce_emulator: Emulator) -> None:
    """simple-salesforce posts to https://login.salesforce.com; a transport adapter sends it to the emulator."""
    emulator_url = salesforce_emulator.url

    class ToEmulator(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
            request.url = str(request.url).replace("https://login.salesforce.com", emulator_url)
            return super().send(request, **kw)

    session = https_session(salesforce_emulator.ca_bundle)
    session.mount("https://login.salesforce.com", ToEmulator())
    client = salesforce_emulator.clients["integration"]
    sf = Salesforce(
        username=client["username"],
        consumer_key=client["client_id"],
        privatekey_file=client["private_key_file"],
        session=session,
        version="62.0",
    )
    assert sf.sf_instance == emulator_url.removeprefix("https://")
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_jwt_bearer_accepts_a_valid_assertion(salesforce_emulator: Emulator) -> None:
    response = post_token(salesforce_emulator, grant_type=JWT_GRANT, assertion=assertion(salesforce_emulator))
    assert response.status_code == 200, response.text
    assert response.json()["id"].endswith("/" + salesforce_emulator.clients["integration"]["user_id"])


def test_jwt_bearer_rejections_carry_the_orgs_errors(salesforce_emulator: Emulator) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cases = {
        "bad signature": (assertion(salesforce_emulator, key_pem=other_key), "invalid_grant", "invalid assertion"),
        "wrong aud": (
            assertion(salesforce_emulator, aud="https://evil.example.com"),
            "invalid_grant",
            "Audience validation failed",
        ),
        "expired": (
            assertion(salesforce_emulator, exp=str(int(time.time()) - 10)),
            "invalid_grant",
            "expired authorization code",
        ),
        "unknown iss": (
            assertion(salesforce_emulator, iss="3MVGnobody"),
            "invalid_client_id",
            "client identifier invalid",
        ),
        "unknown sub": (
            assertion(salesforce_emulator, sub="ghost@emulator.example"),
            "invalid_grant",
            "invalid user ID provided on login",
        ),
        "sub not approved": (
            assertion(salesforce_emulator, sub=salesforce_emulator.clients["admin"]["username"]),
            "invalid_grant",
            "user hasn't approved this consumer",
        ),
        "garbage": ("not-a-jwt", "invalid_grant", "invalid assertion"),
    }
    for name, (token, error, description) in cases.items():
        response = post_token(salesforce_emulator, grant_type=JWT_GRANT, assertion=token)
        assert response.status_code == 400, name
        assert response.json() == {"error": error, "error_description": description}, name


def test_jwt_rejection_surfaces_in_simple_salesforce(salesforce_emulator: Emulator) -> None:
    client = salesforce_emulator.clients["admin"]
    emulator_url = salesforce_emulator.url

    class ToEmulator(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
            request.url = str(request.url).replace("https://login.salesforce.com", emulator_url)
            return super().send(request, **kw)

    session = https_session(salesforce_emulator.ca_bundle)
    session.mount("https://login.salesforce.com", ToEmulator())
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        Salesforce(
            username=client["username"],
            consumer_key=client["client_id"],
            privatekey_file=salesforce_emulator.clients["integration"]["private_key_file"],
            session=session,
        )
    assert info.value.code == "invalid_grant"  # the admin app has no certificate registered


def test_unknown_and_expired_tokens_get_invalid_session_id(tmp_path: Path) -> None:
    server = EmulatorServer(package_dir=PACKAGE_DIR, var_dir=tmp_path, token_ttl=1).start()
    try:
        http = https_session(server.ca_bundle)
        client = server.clients["integration"]
        token = http.post(
            f"{server.url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=10,
        ).json()["access_token"]
        url = f"{server.url}/services/data/v62.0/limits"
        assert http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
        time.sleep(1.2)
        expired = http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert expired.status_code == 401
        assert expired.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        assert "Sforce-Limit-Info" not in expired.headers
        sf = Salesforce(instance_url=server.url, session_id=token, session=https_session(server.ca_bundle))
        with pytest.raises(SalesforceExpiredSession):
            sf.query("SELECT Id FROM Contact")
        missing = http.get(url, timeout=10)
        assert missing.status_code == 401 and missing.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    finally:
        server.stop()


def test_authlib_clients_log_in_with_jwt_bearer_and_client_credentials(salesforce_emulator: Emulator) -> None:
    from authlib.integrations.requests_client import AssertionSession, OAuth2Session

    token_url = f"{salesforce_emulator.url}/services/oauth2/token"
    integration = salesforce_emulator.clients["integration"]
    jwt_session = AssertionSession(
        token_endpoint=token_url,
        issuer=integration["client_id"],
        subject=integration["username"],
        audience="https://login.salesforce.com",
        key=RSAKey.import_key(Path(integration["private_key_file"]).read_bytes()),
        header={"alg": "RS256"},
    )
    jwt_session.verify, jwt_session.trust_env = salesforce_emulator.ca_bundle, False
    limits = jwt_session.get(f"{salesforce_emulator.data_url}/limits", timeout=10)
    assert limits.status_code == 200 and "DailyApiRequests" in limits.json()
    admin = salesforce_emulator.clients["admin"]
    cc_session = OAuth2Session(admin["client_id"], admin["client_secret"])
    cc_session.verify, cc_session.trust_env = salesforce_emulator.ca_bundle, False
    token = cc_session.fetch_token(token_url, grant_type="client_credentials")
    assert token["instance_url"] == salesforce_emulator.url
    assert cc_session.get(f"{salesforce_emulator.data_url}/limits", timeout=10).status_code == 200
