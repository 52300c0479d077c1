"""The canonical contact: one OSDI-shaped person that every platform adapter and the Salesforce side speak.

Guarantees: a `Contact` is immutable; phone numbers held here are already E.164 (normalising is the
mapping's job, see `gateway.domain.mapping`); `sms_status` is one of `SmsStatus`; `custom_fields` values
are strings (platforms store custom fields as text).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any


class SmsStatus(enum.StrEnum):
    """Whether a person may be texted. `UNSUBSCRIBED` is set only by the person (STOP) or the platform."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    PAUSED = "paused"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PostalAddress:
    street1: str | None = None
    street2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def is_empty(self) -> bool:
        return not any((self.street1, self.street2, self.city, self.state, self.postal_code, self.country))


@dataclass(frozen=True, slots=True)
class Contact:
    """A person as the sync sees them, on either side.

    `platform_id` is the messaging platform's own id; `crm_id` is the Salesforce record id (18 chars);
    `version` is the moment this state was true on its source (Salesforce `SystemModstamp`, the
    platform's `updated_at`), used to drop stale updates.
    """

    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    address: PostalAddress = field(default_factory=PostalAddress)
    custom_fields: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    sms_status: SmsStatus = SmsStatus.UNKNOWN
    platform_id: str | None = None
    crm_id: str | None = None
    version: datetime | None = None
    opted_out_at: datetime | None = None

    def with_changes(self, **changes: Any) -> Contact:
        """A copy with `changes` applied (custom_fields may be given as a plain dict)."""
        if "custom_fields" in changes and not isinstance(changes["custom_fields"], MappingProxyType):
            changes["custom_fields"] = MappingProxyType(dict(changes["custom_fields"]))
        return replace(self, **changes)

    @property
    def is_textable(self) -> bool:
        """True only for a subscribed contact with a phone: the one state in which texting is allowed."""
        return self.phone is not None and self.sms_status is SmsStatus.SUBSCRIBED
