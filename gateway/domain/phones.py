"""Phone numbers: the one place a number typed by a person becomes E.164.

Guarantees: `normalize_phone` returns an E.164 string (`+14155552671`) for a number libphonenumber
holds valid, and raises `InvalidPhoneNumber` for anything else; it never guesses (no digit
stripping, no country picked other than the configured default region for numbers written
without a country code). Normalising an E.164 result again returns it unchanged. Valid results are
remembered (a pure function): matching a batch compares every person with every candidate record, and
parsing dominated that cost.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """The text is not a valid phone number (the message says why, without echoing more than the number)."""


@lru_cache(maxsize=16_384)
def normalize_phone(raw: str, default_region: str) -> str:
    """The E.164 form of `raw`; numbers without `+` are read as numbers of `default_region` (ISO 3166, "US")."""
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber("the phone number is empty")
    try:
        parsed = phonenumbers.parse(text, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{text!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(
            f"{text!r} is not a valid number for region {phonenumbers.region_code_for_number(parsed) or default_region}"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def same_phone(a: str | None, b: str | None, default_region: str) -> bool:
    """True when both are valid numbers and name the same line (formatting ignored); False otherwise."""
    if not a or not b:
        return False
    try:
        return normalize_phone(a, default_region) == normalize_phone(b, default_region)
    except InvalidPhoneNumber:
        return False
