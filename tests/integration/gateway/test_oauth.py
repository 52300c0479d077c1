"""The gateway's token endpoint and the bearer guard, over real HTTP."""

from __future__ import annotations

import base64
import json
import time

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import CLIENTS, _rsa_pem
from tests.support import ORG_ID, batch, salesforce_event, token

ORG, ORG_SECRET = "salesforce-org", CLIENTS["salesforce-org"][0]


def _post_events(url: str, bearer: str | None, org_id: str = ORG_ID) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return requests.post(
        f"{url}/webhooks/salesforce", json=batch([salesforce_event(1)], org_id), headers=headers, timeout=10
    )


def test_token_with_basic_auth_carries_the_clients_scopes(gateway_url: str) -> None:
    response = requests.post(
        f"{gateway_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(ORG, ORG_SECRET), timeout=10
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert set(body["scope"].split()) == {"events:write", "conversations:read"}
    assert "refresh_token" not in body
    assert response.headers["Cache-Control"] == "no-store"


def test_token_with_credentials_in_the_body_and_a_narrower_scope(gateway_url: str, org_id: str) -> None:
    response = requests.post(
        f"{gateway_url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": ORG,
            "client_secret": ORG_SECRET,
            "scope": "events:write",
        },
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "events:write"
    narrow = response.json()["access_token"]
    assert _post_events(gateway_url, narrow, org_id).status_code == 202


def test_bad_secret_and_unknown_client_are_refused(gateway_url: str) -> None:
    for auth in ((ORG, "wrong-secret"), ("nobody", ORG_SECRET)):
        response = requests.post(
            f"{gateway_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=auth, timeout=10
        )
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert ORG_SECRET not in response.text


def test_a_scope_the_client_does_not_hold_is_refused_not_narrowed(gateway_url: str) -> None:
    response = requests.post(
        f"{gateway_url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "events:write admin"},
        auth=(ORG, ORG_SECRET),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "admin" in response.json()["error_description"]


def test_other_grant_types_are_refused(gateway_url: str) -> None:
    response = requests.post(
        f"{gateway_url}/oauth/token",
        data={"grant_type": "password", "username": "x", "password": "y"},
        auth=(ORG, ORG_SECRET),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] in {"unsupported_grant_type", "unauthorized_client"}


def test_missing_token_is_401_with_a_challenge(gateway_url: str) -> None:
    response = _post_events(gateway_url, None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "invalid_token"


def test_a_token_without_the_scope_is_403(gateway_url: str) -> None:
    reader = token(gateway_url, "reader", CLIENTS["reader"][0])
    response = _post_events(gateway_url, reader)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_expired_token_is_401(gateway_url: str, signing_key_pem: str, org_id: str) -> None:
    key = RSAKey.import_key(signing_key_pem)
    now = int(time.time())
    claims = {
        "iss": "messaging-sync-gateway",
        "aud": "messaging-sync-gateway",
        "sub": ORG,
        "client_id": ORG,
        "iat": now - 3600,
        "exp": now - 60,
        "jti": "x",
        "scope": "events:write",
    }
    expired = jwt.encode({"alg": "RS256", "typ": "at+jwt"}, claims, key)
    assert _post_events(gateway_url, expired).status_code == 401
    claims["exp"] = now + 600
    assert (
        _post_events(gateway_url, jwt.encode({"alg": "RS256", "typ": "at+jwt"}, claims, key), org_id).status_code == 202
    )


def test_tampered_token_and_foreign_key_token_are_401(gateway_url: str) -> None:
    good = token(gateway_url, ORG, ORG_SECRET)
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "events:write conversations:read admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert _post_events(gateway_url, f"{header}.{forged}.{signature}").status_code == 401
    assert _post_events(gateway_url, good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")).status_code == 401
    foreign = jwt.encode(
        {"alg": "RS256"},
        {**claims, "exp": int(time.time()) + 600},
        RSAKey.import_key(_rsa_pem()),
    )
    assert _post_events(gateway_url, foreign).status_code == 401
    assert _post_events(gateway_url, "not-a-jwt").status_code == 401
