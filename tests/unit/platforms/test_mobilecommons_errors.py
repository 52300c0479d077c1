"""Mobile Commons error ids and HTTP failures → the error dictionary, and the phone/time wire formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.platforms.mobilecommons.wire import (
    error_for_http,
    error_for_id,
    parse_time,
    phone_from_wire,
    phone_to_wire,
    time_to_wire,
)


@pytest.mark.parametrize(
    ("error_id", "lookup", "code", "transient"),
    [
        (5, True, SyncErrorCode.NOT_FOUND, False),
        (5, False, SyncErrorCode.INVALID_PHONE, False),
        (11, False, SyncErrorCode.INVALID_MESSAGING_STATUS, False),
        (14, False, SyncErrorCode.INVALID_MESSAGING_STATUS, False),
        (19, False, SyncErrorCode.CONFIGURATION, False),
        (1, False, SyncErrorCode.CONFIGURATION, False),
        (4, False, SyncErrorCode.CONFIGURATION, False),
        (27, False, SyncErrorCode.RATE_LIMITED, True),
        (28, False, SyncErrorCode.MISSING_REQUIRED_FIELD, False),
        (30, False, SyncErrorCode.PLATFORM_REJECTED, False),
        (0, False, SyncErrorCode.PLATFORM_REJECTED, False),
    ],
)
def test_error_ids_map_to_the_dictionary(error_id: int, lookup: bool, code: SyncErrorCode, transient: bool) -> None:
    error = error_for_id(error_id, "the message", not_found_on_5=lookup)
    assert error.code is code
    assert error.transient is transient
    assert "the message" in error.detail


def test_a_wrong_opt_in_path_names_the_setting_to_fix() -> None:
    assert "MOBILECOMMONS_OPT_IN_PATH_ID" in error_for_id(19, "Invalid opt-in path", not_found_on_5=False).detail


def test_a_missing_phone_names_the_field() -> None:
    assert error_for_id(28, "Missing phone_number", not_found_on_5=False).fields == ("phone",)


@pytest.mark.parametrize(
    ("status", "body", "code", "words"),
    [
        (401, "<h4>Unauthorized</h4>", SyncErrorCode.CONFIGURATION, "MOBILECOMMONS_PASSWORD"),
        (403, "", SyncErrorCode.CONFIGURATION, "credentials"),
        (429, "", SyncErrorCode.RATE_LIMITED, "429"),
        (503, "<h4>This website is under heavy load</h4>", SyncErrorCode.PLATFORM_UNAVAILABLE, "heavy load"),
        (503, "<h1>Site Maintenance</h1>", SyncErrorCode.PLATFORM_UNAVAILABLE, "maintenance"),
        (502, "", SyncErrorCode.PLATFORM_UNAVAILABLE, "502"),
        (504, "", SyncErrorCode.PLATFORM_UNAVAILABLE, "504"),
        (404, "", SyncErrorCode.PLATFORM_REJECTED, "404"),
    ],
)
def test_http_failures_map_to_the_dictionary(status: int, body: str, code: SyncErrorCode, words: str) -> None:
    error = error_for_http(status, body)
    assert error is not None
    assert error.code is code
    assert words in error.detail


def test_success_is_no_http_error() -> None:
    assert error_for_http(200, "") is None


@pytest.mark.parametrize(
    ("e164", "wire"),
    [("+15105016227", "15105016227"), ("+447700900123", "447700900123")],
)
def test_phones_go_on_the_wire_without_the_plus(e164: str, wire: str) -> None:
    assert phone_to_wire(e164) == wire
    assert phone_from_wire(wire) == e164


@pytest.mark.parametrize("bad", ["5105016227", "+1 510 501 6227", "+1", "", "+1510501622x"])
def test_anything_but_e164_is_refused_before_the_wire(bad: str) -> None:
    with pytest.raises(SyncFailure) as caught:
        phone_to_wire(bad)
    assert caught.value.error.code is SyncErrorCode.INVALID_PHONE


@pytest.mark.parametrize(
    ("wire", "e164"),
    [("5105016227", "+15105016227"), ("+1 (510) 501-6227", "+15105016227"), ("", None), (None, None), ("12", None)],
)
def test_phones_from_the_wire_are_read_leniently(wire: str | None, e164: str | None) -> None:
    assert phone_from_wire(wire) == e164


def test_both_timestamp_formats_are_read_as_utc() -> None:
    expected = datetime(2019, 6, 6, 19, 33, 3, tzinfo=UTC)
    assert parse_time("2019-06-06 19:33:03 UTC") == expected
    assert parse_time("2019-06-06T19:33:03Z") == expected
    assert parse_time("") is None and parse_time("nonsense") is None


def test_window_bounds_go_out_as_utc_seconds() -> None:
    moment = datetime(2026, 11, 25, 9, 30, 15, 999_000, tzinfo=timezone(timedelta(hours=1)))
    assert time_to_wire(moment) == "2026-11-25T08:30:15Z"
