"""Secrets never reach the stored request body."""

from __future__ import annotations

import json

import pytest

from gateway.domain.scrubbing import REDACTED, is_secret_key, scrub_secrets


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "client_secret",
        "clientSecret",
        "access_token",
        "refresh-token",
        "Authorization",
        "api_key",
        "X-Api-Key",
        "apiKey",
        "private_key",
        "Cookie",
        "X-Twilio-Signature",
        "session_id",
        "pwd",
    ],
)
def test_secret_looking_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["phone_number", "Messaging_Contact_Id__c", "Bypass_Triggers__c", "first_name", "eventUuid", "body"]
)
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_nested_dicts_and_lists_are_scrubbed_without_touching_the_input() -> None:
    body = {"phone_number": "+14155552671", "auth": {"password": "hunter2", "user": "ada"}, "items": [{"token": "t"}]}
    scrubbed = scrub_secrets(body)
    assert scrubbed == {
        "phone_number": "+14155552671",
        "auth": {"password": REDACTED, "user": "ada"},
        "items": [{"token": REDACTED}],
    }
    assert body["auth"] == {"password": "hunter2", "user": "ada"}


def test_json_text_is_scrubbed_as_json() -> None:
    text = json.dumps({"client_secret": "s3cr3t", "events": [{"recordId": "003"}]})
    scrubbed = scrub_secrets(text)
    assert isinstance(scrubbed, str)
    assert json.loads(scrubbed) == {"client_secret": REDACTED, "events": [{"recordId": "003"}]}


def test_form_encoded_text_is_scrubbed() -> None:
    scrubbed = scrub_secrets("phone_number=14155552671&password=hunter2&first_name=Ada")
    assert scrubbed == "phone_number=14155552671&password=[REDACTED]&first_name=Ada"


def test_free_text_loses_credentials() -> None:
    text = (
        "POST https://ada:hunter2@api.example.org/x Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.abc api_key=k123, ok=1"
    )
    scrubbed = scrub_secrets(text)
    assert isinstance(scrubbed, str)
    for secret in ("hunter2", "eyJhbGciOiJSUzI1NiJ9", "k123"):
        assert secret not in scrubbed
    assert "Authorization: Bearer [REDACTED]" in scrubbed
    assert "ok=1" in scrubbed and "https://ada:[REDACTED]@api.example.org/x" in scrubbed


def test_bytes_and_scalars() -> None:
    assert scrub_secrets(b'{"token": "x"}') == '{"token": "[REDACTED]"}'
    assert scrub_secrets(42) == 42
    assert scrub_secrets(None) is None
    assert scrub_secrets("nothing secret here") == "nothing secret here"


def test_urls_with_secret_query_parameters() -> None:
    scrubbed = scrub_secrets("GET https://secure.mcommons.com/api/profile?phone_number=1415&access_token=abc123")
    assert scrubbed == "GET https://secure.mcommons.com/api/profile?phone_number=1415&access_token=[REDACTED]"
