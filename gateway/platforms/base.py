"""The contract every messaging-platform adapter keeps, its capability flags, the values it returns, and what a
platform package hands the registry (`PlatformEntry`).

Guarantees: every adapter method either returns one of the values below or raises `SyncFailure` carrying a
code from the error dictionary (`platform-unavailable` and `rate-limited` are the transient ones, already
retried a few times inside the adapter); every optional method has its flag in `Capabilities`, and the sync
reads the flag before calling it (never `getattr`); a method whose flag is False raises `NotSupportedError`;
a webhook that fails verification raises `WebhookRejectedError` and yields no event. Adapters hold no state
between calls except a connection pool (and whatever shared limits they keep in the Redis they are given).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from marshmallow import Schema
from redis import Redis

from gateway.domain.contact import Contact
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can do; the sync, the API and the Lightning components read these instead of guessing.

    Each optional method of `PlatformAdapter` names the flag that allows it.
    """

    contact_store: bool = True  # the platform keeps people; False: it only texts (nothing to upsert or look up)
    custom_fields: bool = False
    conversation_history: bool = False  # `messages`
    campaigns: bool = False  # `campaigns`
    inbound_webhooks: bool = False  # `parse_webhook`
    # True: a STOP is pushed (verified), the platform's own word: it stands even over a view not showing it yet.
    # False: opt-outs must be polled with `changed_since`; where the adapter can read the person (`lookup_by_*`), a
    # STOP reaching the webhook is only a reason to look, and the platform's view decides (`sync.from_platform`).
    opt_out_webhooks: bool = False
    change_feed: bool = False  # `changed_since`: the people changed in a time window (polling, bulk runs)
    lookup_by_phone: bool = False  # `find_contact(phone=…)`
    lookup_by_crm_id: bool = False  # `find_contact(crm_id=…)`
    lookup_by_platform_id: bool = False  # `find_contact(platform_id=…)`
    lookup_many_by_phone: bool = False  # `find_contacts_by_phone`: up to `PHONE_BATCH` phones in one call
    # `changed_since` lists people in the same order every time, so a bulk planner that stopped half-way may skip
    # the people it already queued; False: it lists them again (their sync is skipped by version), never skips.
    ordered_change_feed: bool = False

    def scope(self) -> tuple[list[str], list[str]]:
        """(what the gateway syncs with such a platform, what it cannot), as plain sentences read from the flags
        alone, for the status page and `gateway doctor` (a platform adds its own limits: `PlatformEntry.limits`)."""
        syncs: list[str] = []
        cannot: list[str] = []
        if self.contact_store:
            syncs.append("people and their mapped fields, both ways, with their opt status")
        else:
            syncs.append(
                "opt status only: the platform keeps no people, so Salesforce's status and opt-out fields are the "
                "opt-out ledger (a Salesforce opt change is recorded there; a re-subscribe after a STOP is refused)"
            )
            cannot.append("create or update people on the platform (a Salesforce edit changes nothing there)")
            cannot.append(
                "enforce a Salesforce opt-out on texts sent without the gateway, or lift a STOP from Salesforce: "
                "only the person's own STOP and START do"
            )
        if self.opt_out_webhooks:
            syncs.append("STOP and START pushed to Salesforce within seconds")
            if self.change_feed:
                syncs.append("a slow poll of the platform's changes, a backstop for webhooks that never arrived")
        elif self.change_feed:
            syncs.append("STOP found by polling the platform's changes")
        else:
            cannot.append("learn of a STOP: the platform neither pushes nor lists opt changes")
        if self.conversation_history:
            syncs.append("the conversation on the Salesforce record page")
        else:
            cannot.append("show the conversation")
        if self.campaigns:
            syncs.append("campaign memberships on the record page")
        else:
            cannot.append("show campaigns")
        if self.custom_fields:
            syncs.append("custom fields")
        elif self.contact_store:
            cannot.append("sync custom fields")
        return syncs, cannot


PHONE_BATCH = 100  # phones per `find_contacts_by_phone` call


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast the gateway may use a platform, as its package declares it, for honest estimates before long work
    (`gateway sync initial`).

    `requests_per_second` is the pace every worker shares (None: the gateway keeps none); `calls_per_write` the
    platform requests one Salesforce record costs on its way there, lookups included (an average); `people_per_read`
    how many people one `changed_since` request returns (its page size). A platform that keeps no people declares
    `calls_per_write=0`: a Salesforce → platform run then writes only Salesforce."""

    requests_per_second: float | None = None
    calls_per_write: float = 1.0
    people_per_read: int = 1


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


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What the gateway answers a platform's webhook call once its events are queued."""

    body: str = ""
    mimetype: str = "text/plain"


class InboundKind(enum.StrEnum):
    MESSAGE = "message"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    PROFILE_UPDATE = "profile_update"


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """Something the platform pushed to us. `idempotency_key` is stable across redeliveries of one event;
    `platform_id` names the person on the platform when the call does (a platform that looks people up by id
    is asked about them by it; others by `phone`)."""

    kind: InboundKind
    phone: str | None
    idempotency_key: str
    occurred_at: datetime
    body: str | None = None
    contact: Contact | None = None
    platform_id: str | None = None


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
    webhook_reply: WebhookReply

    def find_contact(
        self, *, platform_id: str | None = None, crm_id: str | None = None, phone: str | None = None
    ) -> Contact | None:
        """The platform's contact matching the one key given (as the `lookup_by_*` flags allow), or None."""
        ...

    def find_contacts_by_phone(self, phones: list[str]) -> dict[str, Contact]:
        """`lookup_many_by_phone`: the contacts holding any of `phones` (at most `PHONE_BATCH`), keyed by phone."""
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
        """`change_feed`: contacts updated in [since, until], fetched lazily page by page. May repeat a contact."""
        ...

    def messages(self, contact: Contact, *, limit: int = 50, before: str | None = None) -> MessagePage:
        """`conversation_history`: the newest `limit` messages older than the cursor `before` (None: the newest)."""
        ...

    def campaigns(self, contact: Contact) -> list[Campaign]:
        """`campaigns`: the campaigns the contact is or was in."""
        ...

    def parse_webhook(
        self,
        path_secret: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
        *,
        url: str = "",
    ) -> list[InboundEvent]:
        """`inbound_webhooks`: verify one inbound request and turn it into events; raises `WebhookRejectedError`.

        `path_secret` is the path segment after `/webhooks/platforms/<name>/` ("" when there is none); `form` the
        query and form parameters as one parsed dictionary (a convenience: repeats and order are lost); `body` the
        raw body exactly as received, read before any parsing, so a form's parameters in the order sent, a name
        repeated as often as it came, are `parse_qsl(body)`; `url` the path and the raw, still URL-encoded query
        string the request came to (a platform that signs the URL rebuilds it from its configured public base URL
        and this). A GET has an empty `body` and its parameters in `url`."""
        ...

    def check(self) -> None:
        """Readiness: raise `SyncFailure` unless the platform answers and accepts our credentials."""
        ...

    def close(self) -> None:
        """Release the connection pool (the adapter is not used afterwards)."""
        ...


class PlatformSettings(Protocol):
    """What the sync needs from any platform's settings fragment (each adds its own fields)."""

    @property
    def poll_seconds(self) -> int:
        """How often `gateway cron` polls `changed_since` (platforms with a change feed)."""
        ...

    @property
    def max_concurrent(self) -> int | None:
        """`<NAME>_MAX_CONCURRENT`: requests in flight to the platform from the whole deployment (every worker on
        every machine, held together by `gateway.ratelimit`); None: the platform declares no cap. A sync job keeps
        up to this many in flight, so that one job alone can use all of it."""
        ...


@dataclass(frozen=True)
class PlatformEntry:
    """One platform as the registry (`gateway.platforms.REGISTRY`) knows it. Adding a platform is a package
    `gateway/platforms/<name>/` whose `__init__` defines its entry, plus one line in the registry.

    - `variables`: a marshmallow schema with one field per environment variable, each named `<NAME>_…`;
      `gateway.config` loads the variables of the chosen platform with it, then builds its settings with
      `settings(validated)` (which raises `InvalidSettings` naming each bad variable).
    - `adapter(settings, redis)`: the adapter, given its settings and the deployment's Redis (for limits shared by
      every worker).
    - `emulator`: `"module:click_command"` of `gateway emulate <name>`, imported only when that verb runs.
    - `demo`: the module (`gateway.demo.DemoPlatform`) that tells `gateway demo` how to run the emulator and
      what the gateway's variables then are; imported only by the demo.
    - `pace(settings)`: how fast the platform may be used (`Pace`), for estimates; None: nothing declared.
    - `incremental_lookback_seconds`: the least the nightly pull of the platform's people re-reads before its
      high-water mark, for a platform whose changes reach its change feed late (the larger of this and
      `GATEWAY_INCREMENTAL_OVERLAP_SECONDS` is used).
    - `doctor(settings, redis)`: extra `(check, passed, detail)` rows for `gateway doctor` — what the platform's
      readiness `check()` must not do on every probe (e.g. that a configured name exists on the platform).
    - `limits`: what the platform cannot do that its capability flags do not say, in plain sentences (shown with
      `Capabilities.scope` on the status page and by `gateway doctor`).
    """

    name: str
    title: str
    variables: type[Schema]
    settings: Callable[[Mapping[str, Any]], PlatformSettings]
    adapter: Callable[[Any, Redis], PlatformAdapter]
    capabilities: Capabilities
    emulator: str | None = None
    demo: str | None = None
    pace: Callable[[Any], Pace] | None = None
    incremental_lookback_seconds: int = 0
    doctor: Callable[[Any, Redis], Iterable[tuple[str, bool, str]]] | None = None
    limits: tuple[str, ...] = ()

    def preload(self) -> None:
        """Import the modules the entry names lazily (`Imported`): a worker does so once, so that the processes it
        forks for its jobs find them loaded instead of each importing them again."""
        for part in (self.adapter, self.pace, self.doctor):
            if isinstance(part, Imported):
                part.load()

    def scope(self) -> dict[str, list[str]]:
        """`{"syncs": […], "cannot": […]}`: what the gateway does with this platform and what it cannot."""
        syncs, cannot = self.capabilities.scope()
        return {"syncs": syncs, "cannot": [*cannot, *self.limits]}

    @property
    def prefix(self) -> str:
        """The prefix of its environment variables (`MOBILECOMMONS_`)."""
        return self.name.upper() + "_"


@dataclass(frozen=True)
class Imported:
    """A callable standing for `"module:attribute"` (dotted after the colon): it imports the module when first called
    (or `load`ed) and calls what it names. A registry entry names its adapter and pace this way, so that a process
    that never builds an adapter (a `gateway` command reading settings, the web without a platform) never loads its
    module and dependencies (`tests/unit/gateway/test_cli_imports.py`); a worker loads them once, before it forks a
    process per job (`PlatformEntry.preload`)."""

    path: str

    def load(self) -> Any:
        module, _, name = self.path.partition(":")
        target: Any = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
        return target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)
