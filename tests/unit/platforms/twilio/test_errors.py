"""Twilio's error answers → the error dictionary: what an admin reads, and what the gateway retries."""

from __future__ import annotations

import json

import pytest

from gateway.domain.errors import SyncErrorCode
from gateway.platforms.twilio.errors import error_for, read_error


def body(code: int, message: str, status: int) -> bytes:
    return json.dumps(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    ).encode()


@pytest.mark.parametrize(
    ("status", "code", "expected", "transient"),
    [
        (400, 21610, SyncErrorCode.INVALID_MESSAGING_STATUS, False),
        (429, 20429, SyncErrorCode.RATE_LIMITED, True),
        (401, 20003, SyncErrorCode.CONFIGURATION, False),
        (400, 21211, SyncErrorCode.INVALID_PHONE, False),
        (404, 20404, SyncErrorCode.NOT_FOUND, False),
        (400, 21608, SyncErrorCode.CONFIGURATION, False),
        (503, 20500, SyncErrorCode.PLATFORM_UNAVAILABLE, True),
        (400, 30007, SyncErrorCode.PLATFORM_REJECTED, False),
    ],
)
def test_codes_map_to_the_dictionary(status: int, code: int, expected: SyncErrorCode, transient: bool) -> None:
    error = error_for(read_error(status, body(code, "Something", status)))
    assert error.code is expected
    assert error.transient is transient
    assert str(code) in error.detail


def test_21610_says_the_person_is_recorded_as_opted_out() -> None:
    read = read_error(400, body(21610, "Attempt to send to unsubscribed recipient", 400))
    assert read.blocks_recipient
    assert "records them as opted out" in error_for(read).detail


def test_20003_names_the_credential_variables_in_use() -> None:
    read = read_error(401, body(20003, "Authenticate", 401))
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in error_for(read).detail
    keyed = error_for(read, credentials="TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET")
    assert "TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET" in keyed.detail


@pytest.mark.parametrize("raw", [b"", b"<html>Bad Gateway</html>", b"[1, 2]", b'{"code": "x"}'])
def test_unreadable_bodies_fall_back_on_the_http_status(raw: bytes) -> None:
    read = read_error(502, raw)
    assert read.code is None
    assert error_for(read).code is SyncErrorCode.PLATFORM_UNAVAILABLE
    assert error_for(read_error(429, raw)).code is SyncErrorCode.RATE_LIMITED
