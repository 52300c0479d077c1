"""Email addresses: whether an address may be synced.

Guarantees: syntax only (no DNS, no network); an address Salesforce's Email field would refuse
(no dot in the domain, reserved domains such as `.invalid`, and — unless the org enabled Email
Address Internationalization, off by default — a non-ASCII local part) is reported invalid, so one
bad email never fails a whole Salesforce write.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def is_valid_email(address: str, *, allow_international: bool = False) -> bool:
    """True when `address` (surrounding blanks ignored) is a deliverable-looking email address;
    `allow_international` accepts non-ASCII local parts (orgs with Email Address Internationalization)."""
    try:
        validate_email(address.strip(), check_deliverability=False, allow_smtputf8=allow_international)
    except EmailNotValidError:
        return False
    return True
