"""The contract every messaging-platform adapter keeps, its capability flags and the values it returns.

Guarantees: every adapter method either returns one of the values below or raises `SyncFailure` carrying a
code from the error dictionary (`platform-unavailable` and `rate-limited` are the transient ones, already
retried a few times inside the adapter); a feature the platform lacks is `False` in `Capabilities` and its
method raises `NotSupportedError`; a webhook that fails verification raises `WebhookRejectedError` and
yields no event. Adapters hold no state between calls except a connection pool.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from gateway.domain.contact import Contact
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can do; the sync and the Lightning components read these instead of guessing."""

    contacts: bool = True
    custom_fields: bool = False
    conversation_history: bool = False
    campaigns: bool = False
    inbound_webhooks: bool = False
    opt_out_webhooks: bool = False  # False: opt-outs must be polled with `changed_since`
    lookup_by_crm_id: bool = False
    lookup_by_platform_id: bool = False


class Direction(enum.StrEnum):
    INCOMING = "incoming"  # the person texted us
    OUTGOING = "outgoing"  # the platform texted the person


class MessageReason(enum.StrEnum):
    """Why an outgoing message was sent."""

    CAMPAIGN = "campaign"  # a broadcast to a campaign
    LIVE_AGENT = "live-agent"  # a person replied from the platform's inbox
    AUTOMATION = "automation"  # a welcome, confirmation, auto-response or keyword reply
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Message:
    """One text in a conversation. `reason` is None for incoming messages."""

    id: str
    direction: Direction
    body: str
    at: datetime
    status: str | None = None
    reason: MessageReason | None = None
    campaign_name: str | None = None


@dataclass(frozen=True, slots=True)
class MessagePage:
    """Messages oldest → newest; pass `next_before` back as `before` to get the older page (None: no more)."""

    messages: tuple[Message, ...]
    next_before: str | None = None


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign (list, program) the contact belongs or belonged to; `at` is when `status` began."""

    id: str
    name: str
    type: str
    status: str
    at: datetime | None = None


class InboundKind(enum.StrEnum):
    MESSAGE = "message"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    PROFILE_UPDATE = "profile_update"


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """Something the platform pushed to us. `idempotency_key` is stable across redeliveries of one event."""

    kind: InboundKind
    phone: str | None
    idempotency_key: str
    occurred_at: datetime
    body: str | None = None
    contact: Contact | None = None


class NotSupportedError(SyncFailure):
    """The platform has no such feature (its capability flag is False). Never transient."""

    def __init__(self, platform: str, feature: str) -> None:
        super().__init__(SyncError(SyncErrorCode.CONFIGURATION, f"The platform {platform} does not support {feature}."))
        self.platform = platform
        self.feature = feature


class WebhookRejectedError(Exception):
    """A webhook request failed verification or could not be read; `status` is the HTTP answer to give."""

    def __init__(self, reason: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


@runtime_checkable
class PlatformAdapter(Protocol):
    """One messaging platform. Phones are E.164 on both sides of this interface."""

    name: str
    capabilities: Capabilities

    def find_contact(
        self, *, platform_id: str | None = None, crm_id: str | None = None, phone: str | None = None
    ) -> Contact | None:
        """The platform's contact matching the one key given (as the capabilities allow), or None."""
        ...

    def upsert_contact(self, contact: Contact, *, subscribe: bool) -> Contact:
        """Create or update the contact; subscribe it if asked and the platform allows. Returns the
        platform's view, with `platform_id` and the `sms_status` the platform actually holds (a person
        who opted out stays unsubscribed whatever was asked)."""
        ...

    def opt_out(self, contact: Contact) -> Contact:
        """Unsubscribe the contact from texting; idempotent. Returns the platform's view."""
        ...

    def changed_since(self, since: datetime, until: datetime) -> Iterator[Contact]:
        """Contacts updated in [since, until], fetched lazily page by page. May repeat a contact."""
        ...

    def messages(self, contact: Contact, *, limit: int = 50, before: str | None = None) -> MessagePage:
        """The newest `limit` messages older than the cursor `before` (None: the newest)."""
        ...

    def campaigns(self, contact: Contact) -> list[Campaign]:
        """The campaigns the contact is or was in."""
        ...

    def parse_webhook(
        self,
        path_secret: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
    ) -> list[InboundEvent]:
        """Verify one inbound request and turn it into events; raises `WebhookRejectedError`."""
        ...

    def check(self) -> None:
        """Readiness: raise `SyncFailure` unless the platform answers and accepts our credentials."""
        ...
