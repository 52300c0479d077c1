"""The error dictionary: every code is stable, typed and tells an admin what to do."""

from __future__ import annotations

import pytest

from gateway.domain.errors import ERROR_DICTIONARY, FailureType, SyncError, SyncErrorCode, SyncFailure


@pytest.mark.parametrize("code", list(SyncErrorCode))
def test_every_code_has_an_entry_with_advice(code: SyncErrorCode) -> None:
    spec = ERROR_DICTIONARY[code]
    assert spec.advice.endswith(".") and len(spec.advice) > 40
    assert not (spec.transient and spec.failure_type is FailureType.PARTIAL)


def test_the_codes_admins_search_for_are_spelled_as_released() -> None:
    assert {c.value for c in SyncErrorCode} >= {
        "invalid-phone",
        "invalid-email",
        "phone-match-found-but-crmId-mismatch",
        "invalid-messaging-status",
        "custom-values-too-long",
        "duplicate-contact",
        "not-found",
        "contact-out-of-sync",
    }


def test_partial_failures_are_the_field_level_ones() -> None:
    partial = {c for c, spec in ERROR_DICTIONARY.items() if spec.failure_type is FailureType.PARTIAL}
    assert partial == {
        SyncErrorCode.INVALID_EMAIL,
        SyncErrorCode.CONTACT_OUT_OF_SYNC,
        SyncErrorCode.INVALID_MESSAGING_STATUS,
        SyncErrorCode.CUSTOM_VALUES_TOO_LONG,
        SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES_OPTED_OUT,  # the opt status synced, to every record with the phone
    }


def test_message_says_what_happened_then_what_to_do() -> None:
    error = SyncError(SyncErrorCode.INVALID_PHONE, "MobilePhone: 'call me' is not a phone number.", ("MobilePhone",))
    assert error.message.startswith("MobilePhone: 'call me' is not a phone number. The phone number cannot be read")
    assert not error.transient
    assert str(SyncFailure(error)) == "invalid-phone: MobilePhone: 'call me' is not a phone number."
