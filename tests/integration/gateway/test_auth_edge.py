"""Credentials at the door: one answer for every bad credential, 400 for malformed ones, failures rate limited on
the shared Redis (429 with Retry-After), salted slow client secrets, the auth scheme in any case."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import requests

from gateway import create_app
from gateway.client_secrets import hash_secret
from gateway.config import load_settings
from tests.conftest import CLIENTS
from tests.support import serve_in_thread, token

ORG, ORG_SECRET = "salesforce-org", CLIENTS["salesforce-org"][0]


def _token(
    url: str, auth: tuple[str, str] | None = None, headers: dict | None = None, **form: str
) -> requests.Response:
    return requests.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials", **form},
        auth=auth,
        headers=headers or {},
        timeout=10,
    )


def test_every_bad_credential_gets_one_and_the_same_answer(gateway_url: str) -> None:
    answers = [
        _token(gateway_url, auth=(ORG, "wrong-secret")),
        _token(gateway_url, auth=("nobody", ORG_SECRET)),
        _token(gateway_url, auth=("nobody", "")),
        _token(gateway_url, client_id=ORG, client_secret="wrong-secret"),
        _token(gateway_url, client_id="nobody", client_secret="wrong-secret"),
        _token(gateway_url, client_id=ORG),
        _token(gateway_url),
    ]
    assert {a.status_code for a in answers} == {401}
    assert {a.text for a in answers} == {answers[0].text}
    assert answers[0].json() == {"error": "invalid_client", "error_description": "client authentication failed"}
    assert answers[0].headers["WWW-Authenticate"] == 'Basic realm="gateway"'


def _basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize(
    ("headers", "form", "needle"),
    [
        (_basic(b"\xff\xfe:secret"), {}, "UTF-8"),
        (_basic(b"no-colon-here"), {}, "no ':'"),
        ({"Authorization": "Basic !!not base64!!"}, {}, "base64"),
        ({"Authorization": "Digest username=x"}, {}, "not another scheme"),
        (_basic(f"{ORG}:{ORG_SECRET}".encode()), {"client_secret": ORG_SECRET}, "once"),
        (_basic(f"{ORG}:{ORG_SECRET}".encode()), {"client_id": "admin-console"}, "once"),
    ],
)
def test_malformed_or_doubled_credentials_are_400_never_500(
    gateway_url: str, headers: dict[str, str], form: dict[str, str], needle: str
) -> None:
    answer = _token(gateway_url, headers=headers, **form)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert needle in answer.json()["error_description"]


def test_the_auth_scheme_is_matched_in_any_case(gateway_url: str) -> None:
    raw = base64.b64encode(f"{ORG}:{ORG_SECRET}".encode()).decode()
    assert _token(gateway_url, headers={"Authorization": f"basic {raw}"}).status_code == 200
    same_id = _token(gateway_url, headers={"Authorization": f"BASIC {raw}"}, client_id=ORG)
    assert same_id.status_code == 200  # the id repeated in the body is the same client: not doubled credentials
    scraper = token(gateway_url, "prometheus", CLIENTS["prometheus"][0])
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        answer = requests.get(f"{gateway_url}/metrics", headers={"Authorization": f"{scheme} {scraper}"}, timeout=10)
        assert answer.status_code == 200, scheme


def test_failed_attempts_are_limited_per_client_and_per_address_across_processes(
    gateway_env: dict[str, str],
) -> None:
    env = {
        **gateway_env,
        "GATEWAY_AUTH_RATE_LIMIT_PER_CLIENT": "3 per minute",
        "GATEWAY_AUTH_RATE_LIMIT_PER_ADDRESS": "5 per minute; 20 per hour",
    }
    settings = load_settings(env, roles=("web",))
    with serve_in_thread(create_app(settings)) as one, serve_in_thread(create_app(settings)) as other:
        for _ in range(10):  # successes never count
            assert _token(one, auth=(ORG, ORG_SECRET)).status_code == 200
        assert [_token(u, auth=(ORG, "wrong")).status_code for u in (one, other, one)] == [401, 401, 401]
        held = _token(other, auth=(ORG, ORG_SECRET))  # the right secret, but this client id is held back
        assert held.status_code == 429
        assert 1 <= int(held.headers["Retry-After"]) <= 60
        assert "retry in" in held.json()["error_description"]
        admin = ("admin-console", CLIENTS["admin-console"][0])
        assert _token(one, auth=admin).status_code == 200  # another client from the same address: not yet
        assert [_token(other, auth=("admin-console", "wrong")).status_code for _ in range(2)] == [401, 401]
        address_held = _token(one, auth=admin)  # 5 failures from this address, whichever client
        assert address_held.status_code == 429 and int(address_held.headers["Retry-After"]) >= 1

        form = requests.get(f"{one}/", timeout=10)  # the status page's sign-in shares the limits
        csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        sign_in = requests.post(
            f"{one}/sign-in",
            data={"csrf_token": csrf, "client_id": admin[0], "client_secret": admin[1]},
            headers={"Cookie": form.headers["Set-Cookie"].split(";", 1)[0]},
            allow_redirects=False,
            timeout=10,
        )
        assert sign_in.status_code == 429 and "Too many failed sign-ins" in sign_in.text
        assert "Retry-After" in sign_in.headers


def test_salted_scrypt_secrets_work_and_sha256_ones_still_do(gateway_env: dict[str, str], tmp_path: Path) -> None:
    clients = json.loads(gateway_env["GATEWAY_OAUTH_CLIENTS"])
    clients.append(
        {"client_id": "modern", "secret_scrypt": hash_secret("modern-secret-0123456789"), "scopes": ["admin"]}
    )
    settings = load_settings({**gateway_env, "GATEWAY_OAUTH_CLIENTS": json.dumps(clients)}, roles=("web",))
    with serve_in_thread(create_app(settings)) as url:
        assert _token(url, auth=("modern", "modern-secret-0123456789")).status_code == 200
        assert _token(url, auth=("modern", "modern-secret-012345678")).status_code == 401
        assert _token(url, auth=(ORG, ORG_SECRET)).status_code == 200  # secret_sha256: deprecated, still accepted


def test_platform_webhooks_take_get_only_when_configured(gateway_env: dict[str, str]) -> None:
    secret = "webhook-secret-0123456789"
    env = {
        **gateway_env,
        "MESSAGING_PLATFORM": "mobilecommons",
        "MOBILECOMMONS_USERNAME": "ops",
        "MOBILECOMMONS_PASSWORD": "pw",
        "MOBILECOMMONS_BASE_URL": "http://127.0.0.1:9/api/",
        "MOBILECOMMONS_WEBHOOK_SECRET": secret,
    }
    stop = {"phone": "4155550123", "keyword": "stop", "args": ""}
    with serve_in_thread(create_app(load_settings(env, roles=("web",)))) as url:
        hook = f"{url}/webhooks/platforms/mobilecommons/{secret}"
        refused = requests.get(hook, params=stop, timeout=10)
        assert refused.status_code == 405 and refused.headers["Allow"] == "POST"
        assert "GATEWAY_WEBHOOK_ALLOW_GET" in refused.text
        assert requests.post(hook, data=stop, timeout=10).status_code == 200
    allowing = load_settings({**env, "GATEWAY_WEBHOOK_ALLOW_GET": "true"}, roles=("web",))
    with serve_in_thread(create_app(allowing)) as url:
        hook = f"{url}/webhooks/platforms/mobilecommons/{secret}"
        assert requests.get(hook, params={**stop, "args": "again"}, timeout=10).status_code == 200
