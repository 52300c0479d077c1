"""The Upland Mobile Commons adapter: profiles, opt status, history and mData webhooks over MC's XML API.

Guarantees: phones are E.164 in and out (`1XXXXXXXXXX` only on the wire); the CRM id lives in one custom
column (`crm_id_column`, default `sf_id`); every failure is a `SyncFailure` with a dictionary code, the
transient ones (`platform-unavailable`, `rate-limited`) retried `max_attempts` times with backoff first;
the password, bearer token and webhook secret never appear in logs, reprs or error messages.

Assumptions where Mobile Commons' public contract is UNCONFIRMED (research §1). They live here and in
the constants below, nowhere else:
- A bearer token, when configured, replaces Basic auth as `Authorization: Bearer <token>` (UCM accounts).
- Opt status: with `campaign_id` configured, the contact's status is its subscription to that campaign
  (`status="Active"` and no `opted_out_at` → subscribed; any other subscription → unsubscribed; none →
  unknown). Without it, the profile's `<status>`/`<opted_out_at>` decide: "Active Subscriber" (any case)
  → subscribed, an `opted_out_at` → unsubscribed, anything else (e.g. "Profiles with no Subscriptions")
  → unknown.
- `profile_opt_out` is sent with `campaign_id` when configured (else MC opts out of every campaign);
  error 11 there means "was not subscribed", which is success for an opt-out.
- `profile?include_messages=1` returns the whole history as `<messages><message id= message_type=
  status=><body/><when/><campaign id= name=/></message></messages>`; the adapter pages it locally. The
  message types and their meaning are `_MESSAGE_TYPES`; an unknown type is an outgoing "other".
- `profiles?from=&to=` filters on `updated_at` inclusively at one-second precision, in a stable order,
  and reports `page_count = ceil(matching / limit)`. `changed_since` reads pages last to first (after
  one `limit=1` probe for the count), so a profile that leaves the window while we page (it was updated
  again, and the next poll sees it) shifts others onto pages already read only as duplicates, never as
  misses. Without `page_count` it falls back to reading forward until a short page.
- mData calls carry `phone`, `keyword`, `args`, `profile_*` fields and, for deduplication, `message_id`
  (without it the key is a hash of phone, text and the minute received). MC documents no signature, so
  the secret is the last segment of our webhook URL. STOP/START words follow the CTIA list below.
- Profile fields absent or empty in a `profile_update` are left as MC holds them (the adapter never
  clears a platform field by sending an empty value).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import os
import time
import xml.etree.ElementTree as ET  # only for the Element type; parsing goes through defusedxml
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

import requests
from defusedxml import ElementTree as SafeET
from requests.adapters import HTTPAdapter

from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.platforms.base import (
    Campaign,
    Capabilities,
    Direction,
    InboundEvent,
    InboundKind,
    Message,
    MessagePage,
    MessageReason,
    NotSupportedError,
    WebhookRejectedError,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://secure.mcommons.com/api/"
MAX_PAGE_SIZE = 1000

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})

# message_type → (direction, reason). UNCONFIRMED vocabulary (see the module docstring).
_MESSAGE_TYPES: dict[str, tuple[Direction, MessageReason | None]] = {
    "incoming": (Direction.INCOMING, None),
    "mo": (Direction.INCOMING, None),
    "broadcast": (Direction.OUTGOING, MessageReason.CAMPAIGN),
    "reply": (Direction.OUTGOING, MessageReason.LIVE_AGENT),
    "opt_in": (Direction.OUTGOING, MessageReason.AUTOMATION),
    "opt_out": (Direction.OUTGOING, MessageReason.AUTOMATION),
    "auto_response": (Direction.OUTGOING, MessageReason.AUTOMATION),
    "mdata": (Direction.OUTGOING, MessageReason.AUTOMATION),
    "drip": (Direction.OUTGOING, MessageReason.AUTOMATION),
    "api": (Direction.OUTGOING, MessageReason.OTHER),
}

# Mobile Commons error ids → our codes. 5 depends on the call (see `error_for_id`).
_RATE_LIMITED_IDS = frozenset({27})
_CONFIGURATION_IDS = {
    1: "MOBILECOMMONS_CAMPAIGN_ID",
    4: "MOBILECOMMONS_COMPANY_KEY",
    19: "MOBILECOMMONS_OPT_IN_PATH_ID",
}
_NOT_TEXTABLE_IDS = frozenset({11, 14})
_MISSING_PHONE_ID = 28
_PHONE_ID = 5

_PROFILE_FIELDS = ("first_name", "last_name", "email")
_ADDRESS_FIELDS = ("street1", "street2", "city", "state", "postal_code", "country")


@dataclass(frozen=True, slots=True)
class MobileCommonsSettings:
    """How to reach one Mobile Commons account. Built by `gateway.config` from `MOBILECOMMONS_*`."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    company_key: str | None = None
    opt_in_path_id: str | None = None
    campaign_id: str | None = None
    crm_id_column: str = "sf_id"
    webhook_secret: str | None = field(default=None, repr=False)
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_attempts: int = 3
    backoff_seconds: float = 0.5
    page_size: int = MAX_PAGE_SIZE
    pool_size: int = 10

    def __post_init__(self) -> None:
        if not self.bearer_token and not (self.username and self.password):
            raise ValueError(
                "Mobile Commons needs MOBILECOMMONS_USERNAME and MOBILECOMMONS_PASSWORD, or MOBILECOMMONS_BEARER_TOKEN"
            )
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("MOBILECOMMONS_BASE_URL must be an http(s) URL")
        if not self.crm_id_column:
            raise ValueError("MOBILECOMMONS_CRM_ID_COLUMN must not be empty")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MobileCommonsSettings:
        """Settings from `MOBILECOMMONS_*` variables (unset or empty ones take the defaults)."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(f"MOBILECOMMONS_{name}") or None

        return cls(
            username=get("USERNAME"),
            password=get("PASSWORD"),
            bearer_token=get("BEARER_TOKEN"),
            base_url=get("BASE_URL") or DEFAULT_BASE_URL,
            company_key=get("COMPANY_KEY"),
            opt_in_path_id=get("OPT_IN_PATH_ID"),
            campaign_id=get("CAMPAIGN_ID"),
            crm_id_column=get("CRM_ID_COLUMN") or "sf_id",
            webhook_secret=get("WEBHOOK_SECRET"),
        )


# ---------------------------------------------------------------------------------------------- wire helpers


def phone_to_wire(e164: str) -> str:
    """`+15105016227` → `15105016227`. Raises `SyncFailure(invalid-phone)` for anything not E.164."""
    digits = e164[1:] if e164.startswith("+") else ""
    if not digits.isdigit() or not 8 <= len(digits) <= 15:
        raise SyncFailure(SyncError(SyncErrorCode.INVALID_PHONE, f"{e164!r} is not an E.164 phone number."))
    return digits


def phone_from_wire(wire: str | None) -> str | None:
    """MC's `15105016227` (or a bare 10-digit US number, or `+1…`) → `+15105016227`; junk → None."""
    if not wire:
        return None
    digits = "".join(ch for ch in wire if ch.isdigit())
    if len(digits) == 10:
        digits = "1" + digits
    if not 8 <= len(digits) <= 15:
        return None
    return "+" + digits


def parse_time(value: str | None) -> datetime | None:
    """Both MC formats: `2019-06-06 19:33:03 UTC` (profiles) and `2019-06-06T19:33:03Z` (attributes)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    elif text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def time_to_wire(moment: datetime) -> str:
    """ISO-8601 UTC at one-second precision, the form `profiles?from=&to=` takes."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(element: ET.Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def parse_response(body: bytes | str) -> ET.Element:
    """The `<response>` element of an MC answer (defusedxml: no entities, no external references)."""
    root: ET.Element = SafeET.fromstring(body)
    if root.tag != "response":
        raise ValueError(f"expected <response>, got <{root.tag}>")
    return root


def response_error(root: ET.Element) -> tuple[int, str] | None:
    """(id, message) of a `success="false"` answer, else None."""
    if root.get("success", "true").lower() != "false":
        return None
    error = root.find("error")
    if error is None:
        return 0, "unknown error"
    try:
        error_id = int(error.get("id", "0"))
    except ValueError:
        error_id = 0
    return error_id, error.get("message") or (error.text or "").strip() or "unknown error"


def error_for_id(error_id: int, message: str, *, not_found_on_5: bool) -> SyncError:
    """Map a Mobile Commons error id to the error dictionary (5 is "not found" on lookups)."""
    detail = f"Mobile Commons error {error_id}: {message}."
    if error_id in _RATE_LIMITED_IDS:
        return SyncError(SyncErrorCode.RATE_LIMITED, detail)
    if error_id == _PHONE_ID:
        code = SyncErrorCode.NOT_FOUND if not_found_on_5 else SyncErrorCode.INVALID_PHONE
        return SyncError(code, detail, ("phone",))
    if error_id == _MISSING_PHONE_ID:
        return SyncError(SyncErrorCode.MISSING_REQUIRED_FIELD, detail, ("phone",))
    if error_id in _NOT_TEXTABLE_IDS:
        return SyncError(SyncErrorCode.INVALID_MESSAGING_STATUS, detail)
    if error_id in _CONFIGURATION_IDS:
        return SyncError(SyncErrorCode.CONFIGURATION, f"{detail} Check {_CONFIGURATION_IDS[error_id]}.")
    return SyncError(SyncErrorCode.PLATFORM_REJECTED, detail)


def error_for_http(status: int, body: str) -> SyncError | None:
    """Transport-level failures (the body is MC's HTML page); None for 2xx."""
    if 200 <= status < 300:
        return None
    if status in (401, 403):
        return SyncError(
            SyncErrorCode.CONFIGURATION,
            f"Mobile Commons refused the credentials (HTTP {status}). Check MOBILECOMMONS_USERNAME and "
            "MOBILECOMMONS_PASSWORD (or MOBILECOMMONS_BEARER_TOKEN) and MOBILECOMMONS_COMPANY_KEY.",
        )
    if status == 429:
        return SyncError(SyncErrorCode.RATE_LIMITED, "Mobile Commons answered HTTP 429 (too many requests).")
    if status >= 500:
        if "heavy load" in body:
            reason = "is under heavy load"
        elif "Site Maintenance" in body:
            reason = "is down for maintenance"
        else:
            reason = "failed"
        return SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, f"Mobile Commons {reason} (HTTP {status}).")
    return SyncError(SyncErrorCode.PLATFORM_REJECTED, f"Mobile Commons answered HTTP {status}.")


def _subscription_status(sub: ET.Element) -> SmsStatus:
    if sub.get("opted_out_at") or not (sub.get("status") or "").lower().startswith("active"):
        return SmsStatus.UNSUBSCRIBED
    return SmsStatus.SUBSCRIBED


def profile_to_contact(profile: ET.Element, *, crm_id_column: str, campaign_id: str | None) -> Contact:
    """A `<profile>` element as our Contact (custom columns except the CRM-id column become custom_fields)."""
    custom: dict[str, str] = {}
    crm_id = None
    for column in profile.findall("custom_columns/custom_column"):
        name = column.get("name")
        value = (column.text or "").strip()
        if not name or not value:
            continue
        if name == crm_id_column:
            crm_id = value
        else:
            custom[name] = value
    address = profile.find("address")
    opted_out_at = parse_time(_text(profile, "opted_out_at"))
    subscriptions = profile.findall("subscriptions/subscription")
    if campaign_id is not None:
        mine = [s for s in subscriptions if s.get("campaign_id") == str(campaign_id)]
        status = _subscription_status(mine[0]) if mine else SmsStatus.UNKNOWN
        if mine and status is SmsStatus.UNSUBSCRIBED:
            opted_out_at = parse_time(mine[0].get("opted_out_at")) or opted_out_at
    else:
        profile_status = (_text(profile, "status") or "").lower()
        if profile_status.startswith("active"):
            status = SmsStatus.SUBSCRIBED
        elif opted_out_at is not None:
            status = SmsStatus.UNSUBSCRIBED
        else:
            status = SmsStatus.UNKNOWN
    return Contact(
        phone=phone_from_wire(_text(profile, "phone_number")),
        first_name=_text(profile, "first_name"),
        last_name=_text(profile, "last_name"),
        email=_text(profile, "email"),
        address=PostalAddress(**{name: _text(address, name) for name in _ADDRESS_FIELDS}),
        custom_fields=MappingProxyType(custom),
        sms_status=status,
        platform_id=profile.get("id"),
        crm_id=crm_id,
        version=parse_time(_text(profile, "updated_at")),
        opted_out_at=opted_out_at if status is SmsStatus.UNSUBSCRIBED else None,
    )


def profile_messages(profile: ET.Element) -> list[Message]:
    """The `<messages>` of a profile, oldest first (ties broken by id)."""
    result = []
    for element in profile.findall("messages/message"):
        at = parse_time(_text(element, "when"))
        message_id = element.get("id")
        if at is None or not message_id:
            continue
        message_type = (element.get("message_type") or _text(element, "message_type") or "").lower()
        direction, reason = _MESSAGE_TYPES.get(message_type, (Direction.OUTGOING, MessageReason.OTHER))
        campaign = element.find("campaign")
        result.append(
            Message(
                id=message_id,
                direction=direction,
                body=(_text(element, "body") or ""),
                at=at,
                status=element.get("status") or _text(element, "status"),
                reason=reason,
                campaign_name=campaign.get("name") if campaign is not None else None,
            )
        )
    result.sort(key=_message_sort_key)
    return result


def _message_sort_key(message: Message) -> tuple[datetime, int, str]:
    return (message.at, int(message.id) if message.id.isdigit() else 0, message.id)


def _cursor(message: Message) -> str:
    raw = f"{message.at.isoformat()}|{message.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at_text, message_id = raw.split("|", 1)
        at = datetime.fromisoformat(at_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SyncFailure(SyncError(SyncErrorCode.PLATFORM_REJECTED, "The `before` cursor is not valid.")) from exc
    return (at, int(message_id) if message_id.isdigit() else 0, message_id)


def page_messages(history: list[Message], *, limit: int, before: str | None) -> MessagePage:
    """The newest `limit` messages of `history` (oldest first) that sort before the cursor."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if before is not None:
        bound = _decode_cursor(before)
        history = [m for m in history if _message_sort_key(m) < bound]
    page = history[-limit:]
    more = len(history) > len(page)
    return MessagePage(messages=tuple(page), next_before=_cursor(page[0]) if more and page else None)


def classify_text(text: str) -> InboundKind:
    """What a text means: a CTIA stop or start word alone is an opt-out or opt-in, anything else a message."""
    word = text.strip().upper()
    if word in STOP_WORDS:
        return InboundKind.OPT_OUT
    if word in START_WORDS:
        return InboundKind.OPT_IN
    return InboundKind.MESSAGE


# ---------------------------------------------------------------------------------------------- the adapter


class MobileCommonsAdapter:
    """The `PlatformAdapter` for Upland Mobile Commons. Thread-safe (one pooled `requests.Session`)."""

    name = "mobilecommons"
    capabilities = Capabilities(
        contacts=True,
        custom_fields=True,
        conversation_history=True,
        campaigns=True,
        inbound_webhooks=True,
        opt_out_webhooks=False,  # mData is keyword-scoped; STOP must be polled (research §1)
        lookup_by_crm_id=False,
        lookup_by_platform_id=False,
    )

    def __init__(self, settings: MobileCommonsSettings, *, session: requests.Session | None = None) -> None:
        self._settings = settings
        self._base_url = settings.base_url if settings.base_url.endswith("/") else settings.base_url + "/"
        self._session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=settings.pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["Accept"] = "application/xml"
        if settings.bearer_token:
            self._session.headers["Authorization"] = f"Bearer {settings.bearer_token}"
        else:
            self._session.auth = (settings.username or "", settings.password or "")

    def __repr__(self) -> str:
        return f"MobileCommonsAdapter(base_url={self._base_url!r}, username={self._settings.username!r})"

    def close(self) -> None:
        self._session.close()

    # -- lookups

    def find_contact(
        self, *, platform_id: str | None = None, crm_id: str | None = None, phone: str | None = None
    ) -> Contact | None:
        if platform_id is not None:
            raise NotSupportedError(self.name, "looking a contact up by its platform id")
        if crm_id is not None:
            raise NotSupportedError(self.name, "looking a contact up by its CRM id")
        if phone is None:
            raise ValueError("find_contact needs a phone for Mobile Commons")
        profile = self._profile(phone, include_messages=False)
        return None if profile is None else self._to_contact(profile)

    def find_contacts_by_phone(self, phones: list[str]) -> dict[str, Contact]:
        """The contacts holding any of `phones` (E.164, at most 100), keyed by phone; one `profiles` call.
        Used by bulk runs instead of one `find_contact` per person."""
        if not phones:
            return {}
        wire = ",".join(phone_to_wire(p) for p in phones)
        root = self._call("GET", "profiles", {"phone_number": wire, "limit": str(MAX_PAGE_SIZE), "page": "1"})
        found = (self._to_contact(profile) for profile in root.findall("profiles/profile"))
        return {contact.phone: contact for contact in found if contact.phone}

    def changed_since(self, since: datetime, until: datetime) -> Iterator[Contact]:
        params = {
            "from": time_to_wire(since),
            "to": time_to_wire(until),
            "include_custom_columns": "true",
            "include_subscriptions": "true",
        }
        probe = self._call("GET", "profiles", {**params, "limit": "1", "page": "1"})
        profiles = probe.find("profiles")
        page_count = profiles.get("page_count") if profiles is not None else None
        limit = self._settings.page_size
        if page_count is None:
            yield from self._changed_forward(params, limit)
            return
        pages = math.ceil(int(page_count) / limit)
        for page in range(pages, 0, -1):
            root = self._call("GET", "profiles", {**params, "limit": str(limit), "page": str(page)})
            for profile in root.findall("profiles/profile"):
                yield self._to_contact(profile)

    def _changed_forward(self, params: dict[str, str], limit: int) -> Iterator[Contact]:
        page = 1
        while True:
            root = self._call("GET", "profiles", {**params, "limit": str(limit), "page": str(page)})
            found = root.findall("profiles/profile")
            for profile in found:
                yield self._to_contact(profile)
            if len(found) < limit:
                return
            page += 1

    # -- writes

    def upsert_contact(self, contact: Contact, *, subscribe: bool) -> Contact:
        if contact.phone is None:
            raise SyncFailure(
                SyncError(SyncErrorCode.MISSING_REQUIRED_FIELD, "Mobile Commons keys people by phone.", ("phone",))
            )
        params: dict[str, str] = {"phone_number": phone_to_wire(contact.phone)}
        for name in _PROFILE_FIELDS:
            value = getattr(contact, name)
            if value:
                params[name] = value
        for name in _ADDRESS_FIELDS:
            value = getattr(contact.address, name)
            if value:
                params[name] = value
        for name, value in contact.custom_fields.items():
            if value and name not in params:
                params[name] = value
        if contact.crm_id:
            params[self._settings.crm_id_column] = contact.crm_id
        if subscribe:
            if not self._settings.opt_in_path_id:
                raise SyncFailure(
                    SyncError(
                        SyncErrorCode.CONFIGURATION,
                        "Subscribing needs an opt-in path; set MOBILECOMMONS_OPT_IN_PATH_ID.",
                    )
                )
            params["opt_in_path_id"] = self._settings.opt_in_path_id
        root = self._call("POST", "profile_update", params)
        return self._to_contact(self._required_profile(root))

    def opt_out(self, contact: Contact) -> Contact:
        phone = self._phone_of(contact)
        params = {"phone_number": phone_to_wire(phone)}
        if self._settings.campaign_id:
            params["campaign_id"] = self._settings.campaign_id
        try:
            self._call("POST", "profile_opt_out", params, not_found_on_5=True)
        except SyncFailure as failure:
            if failure.error.code is not SyncErrorCode.INVALID_MESSAGING_STATUS:
                raise  # 11: this number was not subscribed to the campaign, which is what we want
        after = self._profile(phone, include_messages=False)
        if after is None:
            raise SyncFailure(SyncError(SyncErrorCode.NOT_FOUND, f"No Mobile Commons profile has {phone}."))
        return self._to_contact(after)

    # -- history

    def messages(self, contact: Contact, *, limit: int = 50, before: str | None = None) -> MessagePage:
        phone = self._phone_of(contact)
        profile = self._profile(phone, include_messages=True)
        if profile is None:
            raise SyncFailure(SyncError(SyncErrorCode.NOT_FOUND, f"No Mobile Commons profile has {phone}."))
        return page_messages(profile_messages(profile), limit=limit, before=before)

    def campaigns(self, contact: Contact) -> list[Campaign]:
        phone = self._phone_of(contact)
        profile = self._profile(phone, include_messages=False)
        if profile is None:
            raise SyncFailure(SyncError(SyncErrorCode.NOT_FOUND, f"No Mobile Commons profile has {phone}."))
        result = []
        for sub in profile.findall("subscriptions/subscription"):
            status = _subscription_status(sub)
            at = parse_time(sub.get("opted_out_at")) if status is SmsStatus.UNSUBSCRIBED else None
            result.append(
                Campaign(
                    id=sub.get("campaign_id") or "",
                    name=sub.get("campaign_name") or "",
                    type="campaign",
                    status="active" if status is SmsStatus.SUBSCRIBED else "opted-out",
                    at=at or parse_time(sub.get("activated_at")) or parse_time(sub.get("created_at")),
                )
            )
        return result

    # -- inbound

    def parse_webhook(
        self,
        path_secret: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
    ) -> list[InboundEvent]:
        """An mData call: verified by the secret in our URL path (constant-time), then one event."""
        expected = self._settings.webhook_secret
        if not expected:
            raise WebhookRejectedError("MOBILECOMMONS_WEBHOOK_SECRET is not set", status=404)
        if not hmac.compare_digest(path_secret.encode(), expected.encode()):
            raise WebhookRejectedError("wrong webhook secret", status=404)
        phone = phone_from_wire(form.get("phone"))
        if phone is None:
            raise WebhookRejectedError("mData call without a readable phone", status=400)
        keyword = (form.get("keyword") or "").strip()
        args = (form.get("args") or "").strip()
        text = f"{keyword} {args}".strip()
        received = datetime.now(UTC)
        kind = classify_text(text)
        message_id = form.get("message_id")
        if message_id:
            key = f"mobilecommons:mdata:{message_id}"
        else:
            minute = received.replace(second=0, microsecond=0).isoformat()
            digest = hashlib.sha256(f"{phone}|{text}|{minute}".encode()).hexdigest()[:32]
            key = f"mobilecommons:mdata:{digest}"
        status = {InboundKind.OPT_OUT: SmsStatus.UNSUBSCRIBED, InboundKind.OPT_IN: SmsStatus.SUBSCRIBED}.get(
            kind, SmsStatus.UNKNOWN
        )
        contact = Contact(
            phone=phone,
            first_name=form.get("profile_first_name") or None,
            last_name=form.get("profile_last_name") or None,
            email=form.get("profile_email") or None,
            address=PostalAddress(**{name: form.get(f"profile_{name}") or None for name in _ADDRESS_FIELDS}),
            sms_status=status,
            platform_id=form.get("profile_id") or None,
            crm_id=form.get(f"profile_{self._settings.crm_id_column}") or None,
            opted_out_at=received if kind is InboundKind.OPT_OUT else None,
        )
        return [
            InboundEvent(kind=kind, phone=phone, idempotency_key=key, occurred_at=received, body=text, contact=contact)
        ]

    def check(self) -> None:
        """Reachable, credentials accepted, and the configured campaign and opt-in path exist."""
        root = self._call("GET", "campaigns", {"include_opt_in_paths": "1"})
        campaign_ids = {c.get("id") for c in root.findall("campaigns/campaign")}
        path_ids = {p.get("id") for p in root.findall("campaigns/campaign/opt_in_paths/opt_in_path")}
        if self._settings.campaign_id and self._settings.campaign_id not in campaign_ids:
            raise SyncFailure(
                SyncError(
                    SyncErrorCode.CONFIGURATION,
                    f"Mobile Commons has no campaign {self._settings.campaign_id}; check MOBILECOMMONS_CAMPAIGN_ID.",
                )
            )
        if self._settings.opt_in_path_id and self._settings.opt_in_path_id not in path_ids:
            raise SyncFailure(
                SyncError(
                    SyncErrorCode.CONFIGURATION,
                    f"Mobile Commons has no opt-in path {self._settings.opt_in_path_id}; "
                    "check MOBILECOMMONS_OPT_IN_PATH_ID.",
                )
            )

    # -- plumbing

    def _phone_of(self, contact: Contact) -> str:
        if contact.phone is None:
            raise SyncFailure(
                SyncError(SyncErrorCode.MISSING_REQUIRED_FIELD, "Mobile Commons keys people by phone.", ("phone",))
            )
        return contact.phone

    def _to_contact(self, profile: ET.Element) -> Contact:
        return profile_to_contact(
            profile, crm_id_column=self._settings.crm_id_column, campaign_id=self._settings.campaign_id
        )

    def _profile(self, phone: str, *, include_messages: bool) -> ET.Element | None:
        params = {"phone_number": phone_to_wire(phone)}
        if include_messages:
            params["include_messages"] = "1"
        try:
            root = self._call("GET", "profile", params, not_found_on_5=True)
        except SyncFailure as failure:
            if failure.error.code is SyncErrorCode.NOT_FOUND:
                return None
            raise
        return self._required_profile(root)

    @staticmethod
    def _required_profile(root: ET.Element) -> ET.Element:
        profile = root.find("profile")
        if profile is None:
            raise SyncFailure(SyncError(SyncErrorCode.PLATFORM_REJECTED, "Mobile Commons answered without a profile."))
        return profile

    def _call(self, method: str, endpoint: str, params: dict[str, str], *, not_found_on_5: bool = False) -> ET.Element:
        """One API call with bounded retries of transient failures; the parsed `<response>` on success."""
        if self._settings.company_key:
            params = {**params, "company": self._settings.company_key}
        attempt = 0
        while True:
            attempt += 1
            error, retry_after = self._attempt(method, endpoint, params, not_found_on_5=not_found_on_5)
            if isinstance(error, ET.Element):
                return error
            if not error.transient or attempt >= self._settings.max_attempts:
                level = logging.WARNING if error.transient else logging.DEBUG
                log.log(level, "mobilecommons %s %s failed (%d attempts): %s", method, endpoint, attempt, error.code)
                raise SyncFailure(error)
            delay = retry_after if retry_after is not None else self._settings.backoff_seconds * 2 ** (attempt - 1)
            log.info("mobilecommons %s %s: %s, retrying in %.2fs", method, endpoint, error.code, delay)
            time.sleep(delay)

    def _attempt(
        self, method: str, endpoint: str, params: dict[str, str], *, not_found_on_5: bool
    ) -> tuple[ET.Element | SyncError, float | None]:
        url = self._base_url + endpoint
        timeout = (self._settings.connect_timeout_seconds, self._settings.read_timeout_seconds)
        try:
            if method == "GET":
                response = self._session.get(url, params=params, timeout=timeout)
            else:
                response = self._session.post(url, data=params, timeout=timeout)
        except requests.RequestException as exc:
            return (
                SyncError(
                    SyncErrorCode.PLATFORM_UNAVAILABLE,
                    f"Mobile Commons could not be reached ({type(exc).__name__}).",
                ),
                None,
            )
        retry_after = _retry_after(response.headers.get("Retry-After"), self._settings.backoff_seconds)
        http_error = error_for_http(response.status_code, response.text if response.status_code >= 500 else "")
        if http_error is not None:
            return http_error, retry_after
        try:
            root = parse_response(response.content)
        except (ET.ParseError, ValueError, SafeET.DefusedXmlException):
            return (
                SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, f"Mobile Commons answered {endpoint} with no XML."),
                None,
            )
        failure = response_error(root)
        if failure is not None:
            return error_for_id(*failure, not_found_on_5=not_found_on_5), None
        return root, None


def _retry_after(header: str | None, backoff: float) -> float | None:
    """A Retry-After in seconds, capped so a retry never stalls a worker for long."""
    if not header:
        return None
    try:
        return min(float(header), max(backoff * 8, 1.0))
    except ValueError:
        return None


def webhook_path_for(secret: str) -> str:
    """The path Mobile Commons' mData must call (configure it as the mData URL on the gateway host)."""
    return f"/webhooks/platforms/mobilecommons/{secret}"


__all__ = [
    "DEFAULT_BASE_URL",
    "MobileCommonsAdapter",
    "MobileCommonsSettings",
    "classify_text",
    "error_for_http",
    "error_for_id",
    "page_messages",
    "parse_response",
    "parse_time",
    "phone_from_wire",
    "phone_to_wire",
    "profile_messages",
    "profile_to_contact",
    "time_to_wire",
    "webhook_path_for",
]
