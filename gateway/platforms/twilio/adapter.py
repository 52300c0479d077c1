"""The Twilio adapter: conversation history from the Messages API, opt changes from signed webhooks, and a ledger
instead of a contact store.

Guarantees:
- Twilio keeps no people (docs/platforms/twilio.md §No contact store): `contact_store` and every `lookup_*` flag are
  False, so the sync never looks a person up or writes one here (those methods raise `NotSupportedError`); it
  records opt changes in Salesforce (`Messaging_Status__c`), which is the ledger, and holds Salesforce edits to the
  sticky-STOP rule against it. The one authority that lifts a STOP is the person's own START, pushed as a webhook.
- `messages` reads `Messages.json?To=<person>` and `?From=<person>` (PageSize ≤ 1000, following `next_page_uri`),
  keeps the messages exchanged with the configured senders, merges them by `date_sent` and pages them with an
  opaque `before` cursor, oldest → newest within a page, like every adapter.
- `changed_since` is a backstop for missed webhooks: the opt-out and opt-in keywords people texted the configured
  senders in the window, read back from the Messages API (`OptOutType` is not stored there, so only the default
  keywords are recognised).
- Every REST call holds one of `TWILIO_MAX_CONCURRENT` slots and is paced to `TWILIO_REQUESTS_PER_SECOND`, both
  shared by every worker on every machine (`gateway.ratelimit`, when built by the registry: `build`); 429/20429,
  5xx and transport failures are retried `max_attempts` times with backoff (Retry-After honoured, capped), then
  raised as `SyncFailure` with the dictionary code from `errors.error_for`. Credentials never reach logs, reprs or
  errors.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from redis import Redis
from requests.adapters import HTTPAdapter

from gateway import sendguard
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.platforms.base import (
    Campaign,
    Direction,
    InboundEvent,
    InboundKind,
    Message,
    MessagePage,
    MessageReason,
    NotSupportedError,
    WebhookReply,
)
from gateway.platforms.twilio import CAPABILITIES, webhooks
from gateway.platforms.twilio.errors import error_for, read_error, unreachable
from gateway.platforms.twilio.settings import WEBHOOK_PATH, TwilioSettings
from gateway.ratelimit import PlatformLimits, Throttled, limits_for

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
MAX_PAGE_SIZE = 1000
_REASONS = {
    "outbound-api": MessageReason.OTHER,  # created through the REST API by whatever tool the organisation uses
    "outbound-reply": MessageReason.AUTOMATION,  # a TwiML reply to an incoming message (keyword confirmations)
    "outbound-call": MessageReason.OTHER,
}


def parse_twilio_time(value: object) -> datetime | None:
    """Twilio's RFC 2822 timestamps (`Fri, 24 May 2019 17:44:50 +0000`) as aware datetimes; junk → None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def message_from_resource(item: Mapping[str, Any]) -> Message | None:
    """A Message resource as our `Message` (None when it has no sid or no time)."""
    sid = item.get("sid")
    at = parse_twilio_time(item.get("date_sent")) or parse_twilio_time(item.get("date_created"))
    if not isinstance(sid, str) or not sid or at is None:
        return None
    incoming = item.get("direction") == "inbound"
    return Message(
        id=sid,
        direction=Direction.INCOMING if incoming else Direction.OUTGOING,
        body=str(item.get("body") or ""),
        at=at.astimezone(UTC),
        status=str(item["status"]) if item.get("status") else None,
        reason=None if incoming else _REASONS.get(str(item.get("direction")), MessageReason.OTHER),
    )


def _sort_key(message: Message) -> tuple[datetime, str]:
    return (message.at, message.id)


def encode_cursor(message: Message) -> str:
    raw = f"{message.at.isoformat()}|{message.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at_text, sid = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|", 1)
        at = datetime.fromisoformat(at_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SyncFailure(SyncError(SyncErrorCode.PLATFORM_REJECTED, "The `before` cursor is not valid.")) from exc
    return (at if at.tzinfo else at.replace(tzinfo=UTC), sid)


class TwilioAdapter:
    """The `PlatformAdapter` for Twilio Programmable Messaging. Thread-safe (one pooled `requests.Session`)."""

    name = "twilio"
    capabilities = CAPABILITIES
    webhook_reply = WebhookReply(webhooks.EMPTY_TWIML, "text/xml")  # TwiML that sends nothing back

    def __init__(
        self,
        settings: TwilioSettings,
        *,
        session: requests.Session | None = None,
        limits: PlatformLimits | None = None,
    ) -> None:
        """`limits`: the deployment's shared limits (`build` passes them; None: this adapter keeps none)."""
        self._settings = settings
        self._limits = limits
        self._base = settings.base_url.rstrip("/")
        self._account_path = f"/{API_VERSION}/Accounts/{settings.account_sid}"
        self._session = session or requests.Session()
        pool = HTTPAdapter(pool_connections=2, pool_maxsize=settings.max_concurrent, max_retries=0)
        self._session.mount("https://", pool)
        self._session.mount("http://", pool)
        self._session.auth = settings.rest_credentials
        self._session.headers["Accept"] = "application/json"

    @classmethod
    def build(cls, settings: TwilioSettings, redis: Redis) -> TwilioAdapter:
        """The adapter with its limits on `redis`, shared by every process that uses the same Redis."""
        return cls(settings, limits=limits_for(redis, cls.name, settings))

    def __repr__(self) -> str:
        return f"TwilioAdapter(base_url={self._base!r}, account_sid={self._settings.account_sid!r})"

    def close(self) -> None:
        if self._limits is not None:
            self._limits.close()  # the slots this process holds idle go back to the other workers now
        self._session.close()

    # -- people: there is no contact store (`contact_store`, `lookup_*` are False; the sync never calls these)

    def find_contact(
        self, *, platform_id: str | None = None, crm_id: str | None = None, phone: str | None = None
    ) -> Contact | None:
        raise NotSupportedError(self.name, "looking a contact up (Twilio keeps no contacts)")

    def find_contacts_by_phone(self, phones: list[str]) -> dict[str, Contact]:
        raise NotSupportedError(self.name, "looking contacts up (Twilio keeps no contacts)")

    def upsert_contact(self, contact: Contact, *, subscribe: bool) -> Contact:
        raise NotSupportedError(self.name, "storing a contact (Twilio keeps no contacts)")

    def opt_out(self, contact: Contact) -> Contact:
        raise NotSupportedError(self.name, "an opt-out list the gateway could write (only the person's STOP blocks)")

    def changed_since(self, since: datetime, until: datetime) -> Iterator[Contact]:
        """People who texted an opt-out or opt-in keyword to a configured sender in [since, until], newest first."""
        since, until = since.astimezone(UTC), until.astimezone(UTC)
        filters: list[dict[str, str]] = [{"To": number} for number in self._settings.from_numbers] or [{}]
        seen: set[str] = set()
        for sender in filters:
            query = {**sender, "DateSent>": since.date().isoformat()}  # on or after that day
            for item in self._list(query, MAX_PAGE_SIZE):
                message = message_from_resource(item)
                if message is None or message.at < since:
                    break  # the list is sorted by date_sent, newest first
                if message.at > until or message.direction is not Direction.INCOMING or message.id in seen:
                    continue
                seen.add(message.id)
                contact = self._keyword_contact(item, message)
                if contact is not None:
                    yield contact

    def _keyword_contact(self, item: Mapping[str, Any], message: Message) -> Contact | None:
        phone = webhooks.phone_or_none(str(item.get("from") or ""))
        if phone is None:
            return None
        kind = webhooks.keyword_kind(message.body, advanced_opt_out=self._settings.advanced_opt_out)
        ours = self._settings.is_ours(to=item.get("to"), messaging_service_sid=item.get("messaging_service_sid"))
        if kind is InboundKind.OPT_OUT:
            return Contact(phone=phone, sms_status=SmsStatus.UNSUBSCRIBED, version=message.at, opted_out_at=message.at)
        if kind is InboundKind.OPT_IN and ours:
            return Contact(phone=phone, sms_status=SmsStatus.SUBSCRIBED, version=message.at)
        return None

    # -- history

    def messages(self, contact: Contact, *, limit: int = 50, before: str | None = None) -> MessagePage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        phone = self._phone_of(contact)
        bound = decode_cursor(before) if before else None
        query: dict[str, str] = {}
        if bound is not None:
            query["DateSent<"] = bound[0].astimezone(UTC).date().isoformat()  # on or before that day
        page_size = min(self._settings.page_size, MAX_PAGE_SIZE, max(limit + 1, 50))
        wanted = limit + 1
        found: dict[str, Message] = {}
        for side in ("To", "From"):
            taken = 0
            for item in self._list({**query, side: phone}, page_size):
                message = message_from_resource(item)
                if message is None or not self._exchanged_with_us(item, side):
                    continue
                if bound is not None and _sort_key(message) >= bound:
                    continue
                found[message.id] = message
                taken += 1
                if taken >= wanted:
                    break  # each side is newest first: the merged newest `wanted` are within each side's first
        newest_first = sorted(found.values(), key=_sort_key, reverse=True)
        page = newest_first[:limit]
        more = len(newest_first) > limit
        return MessagePage(messages=tuple(reversed(page)), next_before=encode_cursor(page[-1]) if more else None)

    def _exchanged_with_us(self, item: Mapping[str, Any], side: str) -> bool:
        """The message went between the person and a configured sender (`side` is where the person stands)."""
        ours = item.get("from") if side == "To" else item.get("to")
        return self._settings.is_ours(to=ours, messaging_service_sid=item.get("messaging_service_sid"))

    def campaigns(self, contact: Contact) -> list[Campaign]:
        raise NotSupportedError(self.name, "campaigns")

    # -- inbound

    def parse_webhook(
        self,
        path_secret: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
        *,
        url: str = "",
    ) -> list[InboundEvent]:
        """Verify X-Twilio-Signature over `TWILIO_WEBHOOK_BASE_URL` + `url` (the path and raw query string the
        request came to) and the parameters in the raw `body`, then read its events (`webhooks.parse`). `form`, a
        parsed dictionary, is not used: a signature covers the parameters as sent. Without `url` the request is
        taken as sent to `/webhooks/platforms/twilio[/<path_secret>]`."""
        path = url or WEBHOOK_PATH + (f"/{path_secret}" if path_secret else "")
        return webhooks.parse(self._settings, path, headers, body)

    # -- readiness

    def check(self) -> None:
        """The credentials open the account's Messages, and every configured number belongs to the account."""
        if self._settings.webhook_url is None:
            raise SyncFailure(
                SyncError(SyncErrorCode.CONFIGURATION, "TWILIO_WEBHOOK_BASE_URL is not set: no webhook can be checked.")
            )
        self._call("GET", f"{self._account_path}/Messages.json", {"PageSize": "1"})
        for number in self._settings.from_numbers:
            answer = self._call("GET", f"{self._account_path}/IncomingPhoneNumbers.json", {"PhoneNumber": number})
            listed = answer.get("incoming_phone_numbers") or []
            if not any(isinstance(n, dict) and n.get("phone_number") == number for n in listed):
                raise SyncFailure(
                    SyncError(
                        SyncErrorCode.CONFIGURATION,
                        f"{number} is not a phone number of Twilio account {self._settings.account_sid}; "
                        "check TWILIO_FROM_NUMBERS.",
                    )
                )

    # -- plumbing

    def _phone_of(self, contact: Contact) -> str:
        if contact.phone is None:
            raise SyncFailure(
                SyncError(SyncErrorCode.MISSING_REQUIRED_FIELD, "Twilio knows people by phone only.", ("phone",))
            )
        return contact.phone

    def _list(self, query: Mapping[str, str], page_size: int) -> Iterator[dict[str, Any]]:
        """Every Message resource matching `query`, newest first, page by page through `next_page_uri`."""
        answer = self._call("GET", f"{self._account_path}/Messages.json", {**query, "PageSize": str(page_size)})
        while True:
            for item in answer.get("messages") or []:
                if isinstance(item, dict):
                    yield item
            next_uri = answer.get("next_page_uri")
            if not isinstance(next_uri, str) or not next_uri:
                return
            answer = self._call("GET", next_uri, None)

    def _call(self, method: str, path: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        """One REST call (`path` relative to the base URL, query string allowed) with bounded retries."""
        url = path if path.startswith(("https://", "http://")) else self._base + path
        if not url.startswith(self._base + "/"):
            # a next_page_uri is relative to the API; credentials never follow an answer to another host
            raise SyncFailure(SyncError(SyncErrorCode.PLATFORM_REJECTED, "Twilio answered a page URL on another host."))
        attempt = 0
        while True:
            attempt += 1
            outcome, retry_after = self._attempt(method, url, params)
            if isinstance(outcome, dict):
                return outcome
            if not outcome.transient or attempt >= self._settings.max_attempts:
                level = logging.WARNING if outcome.transient else logging.DEBUG
                where = path.split("?", maxsplit=1)[0]
                log.log(level, "twilio %s %s failed (%d attempts): %s", method, where, attempt, outcome.code)
                raise SyncFailure(outcome)
            delay = retry_after if retry_after is not None else self._settings.backoff_seconds * 2 ** (attempt - 1)
            log.info("twilio %s: %s, retrying in %.2fs", method, outcome.code, delay)
            time.sleep(delay)

    def _attempt(
        self, method: str, url: str, params: Mapping[str, str] | None
    ) -> tuple[dict[str, Any] | SyncError, float | None]:
        timeout = (self._settings.connect_timeout_seconds, self._settings.read_timeout_seconds)
        try:
            with self._limits.request() if self._limits is not None else nullcontext():
                sendguard.check()  # the sync's claim, checked now that the request is about to leave
                if method == "GET":
                    response = self._session.get(url, params=params, timeout=timeout)
                else:
                    response = self._session.request(method, url, data=params, timeout=timeout)
        except Throttled as exc:
            detail = f"The deployment's shared Twilio request budget stayed spent ({exc})."
            return SyncError(SyncErrorCode.RATE_LIMITED, detail), None
        except requests.RequestException as exc:
            return unreachable(type(exc).__name__), None
        if response.status_code >= 400:
            error = error_for(
                read_error(response.status_code, response.content),
                credentials=self._settings.credential_variables,
            )
            return error, _retry_after(response.headers.get("Retry-After"), self._settings.backoff_seconds)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, "Twilio answered without a JSON object."), None
        return payload, None


def _retry_after(header: str | None, backoff: float) -> float | None:
    """A Retry-After in seconds, capped so one retry never stalls a worker for long."""
    if not header:
        return None
    try:
        return max(0.0, min(float(header), max(backoff * 8, 1.0)))
    except ValueError:
        return None


__all__ = [
    "API_VERSION",
    "MAX_PAGE_SIZE",
    "TwilioAdapter",
    "decode_cursor",
    "encode_cursor",
    "message_from_resource",
    "parse_twilio_time",
]
