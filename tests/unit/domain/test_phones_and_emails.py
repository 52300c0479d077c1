"""Phone numbers become E.164 or are refused; emails are checked for syntax only."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.emails import is_valid_email
from gateway.domain.phones import InvalidPhoneNumber, normalize_phone, same_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "us", "+14155552671"),
        ("+1 415 555 2671", "GB", "+14155552671"),  # a number with its country code ignores the default
        ("  +14155552671 ", "US", "+14155552671"),
        ("020 7183 8750", "GB", "+442071838750"),
        ("1-415-555-2671", "US", "+14155552671"),
    ],
)
def test_numbers_become_e164(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "call me", "12", "555-2671", "+1 415 555 26719999", "020 7183 8750"])
def test_unreadable_or_invalid_numbers_are_refused_not_guessed(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(raw, "US")  # "020 7183 8750" is a London number, not a valid US one


def test_same_phone_compares_lines_not_formatting() -> None:
    assert same_phone("(415) 555-2671", "+14155552671", "US")
    assert not same_phone("(415) 555-2671", "+14155552672", "US")
    assert not same_phone("garbage", "garbage", "US")
    assert not same_phone(None, "+14155552671", "US")


_REGIONS = sorted(
    r
    for r in phonenumbers.SUPPORTED_REGIONS
    if phonenumbers.example_number_for_type(r, phonenumbers.PhoneNumberType.MOBILE)
)
_FORMATS = [
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
]


@given(
    region=st.sampled_from(_REGIONS), number_format=st.sampled_from(_FORMATS), other=st.sampled_from(["US", "GB", "DE"])
)
def test_normalisation_is_idempotent_and_format_independent(region: str, number_format: int, other: str) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    expected = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    written = phonenumbers.format_number(example, number_format)
    once = normalize_phone(written, region)
    assert once == expected
    assert normalize_phone(once, other) == once  # E.164 in, same E.164 out, whatever the default region


@pytest.mark.parametrize("address", ["ada@example.org", " Ada.Lovelace+sms@Example.co.uk ", "a@b.io"])
def test_valid_emails(address: str) -> None:
    assert is_valid_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "ada",
        "ada@",
        "@example.org",
        "ada@example",
        "ada@@example.org",
        "ada @example.org",
        "ü@example.de",
        "a@x.invalid",
    ],
)
def test_invalid_emails(address: str) -> None:
    assert not is_valid_email(address)


def test_international_local_parts_only_where_the_org_accepts_them() -> None:
    assert not is_valid_email("josé@empresa.es")
    assert is_valid_email("josé@empresa.es", allow_international=True)
