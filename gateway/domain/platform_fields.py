"""Names of the platform-side fields a mapping may target, and reading/writing them on a `Contact`.

Guarantees: the set of standard names is closed (`STANDARD_FIELDS`); any other target is a custom
field written `custom:<Name>` (the name kept exactly, platforms match custom names case-sensitively);
`contact_value` and `with_platform_values` are inverse on every valid name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from gateway.domain.contact import Contact

FIRST_NAME = "first_name"
LAST_NAME = "last_name"
PHONE = "phone"
EMAIL = "email"
ADDRESS_FIELDS = ("street1", "street2", "city", "state", "postal_code", "country")
STANDARD_FIELDS = frozenset((FIRST_NAME, LAST_NAME, PHONE, EMAIL, *ADDRESS_FIELDS))
CUSTOM_PREFIX = "custom:"

# Pseudo-fields of a platform write that no mapping targets: the opt status and the link back to Salesforce.
SMS_STATUS = "sms_status"
CRM_ID = "crm_id"


def is_valid_platform_field(name: str) -> bool:
    return name in STANDARD_FIELDS or (name.startswith(CUSTOM_PREFIX) and bool(custom_name(name).strip()))


def custom_name(name: str) -> str:
    """`Age` for `custom:Age`; raises ValueError for a standard field."""
    if not name.startswith(CUSTOM_PREFIX):
        raise ValueError(f"{name!r} is not a custom platform field")
    return name[len(CUSTOM_PREFIX) :]


def contact_value(contact: Contact, name: str) -> str | None:
    """The value `contact` holds for platform field `name` (None when it holds none); `sms_status` and
    `crm_id` read the status and the Salesforce id."""
    if name == SMS_STATUS:
        return contact.sms_status.value
    if name == CRM_ID:
        return contact.crm_id
    if name in (FIRST_NAME, LAST_NAME, PHONE, EMAIL):
        value: str | None = getattr(contact, name)
        return value
    if name in ADDRESS_FIELDS:
        address_value: str | None = getattr(contact.address, name)
        return address_value
    return contact.custom_fields.get(custom_name(name))


def with_platform_values(contact: Contact, values: Mapping[str, str | None]) -> Contact:
    """A copy of `contact` with `values` (platform field -> value, None = no value) applied."""
    top = {k: v for k, v in values.items() if k in (FIRST_NAME, LAST_NAME, PHONE, EMAIL)}
    address = {k: v for k, v in values.items() if k in ADDRESS_FIELDS}
    custom = dict(contact.custom_fields)
    for key, value in values.items():
        if key.startswith(CUSTOM_PREFIX):
            if value is None:
                custom.pop(custom_name(key), None)
            else:
                custom[custom_name(key)] = value
        elif key not in STANDARD_FIELDS:
            raise ValueError(f"{key!r} is not a platform field")
    changes: dict[str, object] = dict(top)
    if address:
        changes["address"] = replace(contact.address, **address)
    changes["custom_fields"] = custom
    return contact.with_changes(**changes)
