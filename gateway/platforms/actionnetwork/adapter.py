"""The Action Network adapter: people, opt status and webhooks over Action Network's API v2 (OSDI, HAL+JSON).

Guarantees:
- Writes go through the person signup helper (`POST people/`), which finds people by email and phone itself. The
  phone's `status` is sent only when it must change, and `subscribed` only when Action Network shows the number is
  not opted out: the person linked by `platform_id` holds it subscribed, or a phone-only probe shows the number is
  subscribed or was new to Action Network (its holder was created by the probe). A number Action Network holds as
  unsubscribed is never subscribed from here: sticky STOP. That check is made on every attempt of a signup that
  would subscribe, in the same hold of the limiters, so its answer is at most one rate interval old when the
  signup leaves: a STOP that lands while a signup waits for the limiters or backs off after a 429 is never
  overwritten (the attempt after it sends no status). The Salesforce Id goes to the custom field
  `crm_id_field`; `source_tag` is added as a tag (Action Network ignores tags that do not exist yet).
- Reads: by platform id (`GET people/{uuid}`) and by email (`find_by_email`, the OData filter); there is no
  phone or custom-field filter, so those lookups raise `NotSupportedError` rather than guess.
- `changed_since` filters on `modified_date` from `since - lookback_seconds`, follows `_links.next` until it is
  absent or a page is empty, never trusts an order or a total, and never sends the token to another host.
- Every request takes a slot from the limits shared by all processes (`gateway.ratelimit`): at most
  `requests_per_second` and `max_concurrent` across the deployment. A 429 pushes the shared schedule back by its
  `Retry-After` (or backoff) for everyone; transient failures retry `max_attempts` times, then raise
  `SyncFailure` with a transient code so the job is retried later.
- The token and webhook secret never reach logs, reprs or errors; emails (in filters) are not logged either.

Facts and what stays UNCONFIRMED: `docs/platforms/actionnetwork.md`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from redis import Redis
from requests.adapters import HTTPAdapter

from gateway import sendguard
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.platforms.actionnetwork import CAPABILITIES, webhooks, wire
from gateway.platforms.actionnetwork.settings import ActionNetworkSettings
from gateway.platforms.base import (
    Campaign,
    InboundEvent,
    MessagePage,
    NotSupportedError,
    Pace,
    WebhookReply,
)
from gateway.ratelimit import PlatformLimits, Throttled, backoff_delay, effective_rate, limits_for

log = logging.getLogger(__name__)

NAME = webhooks.NAME
# One Salesforce record costs about two requests here: a new record opted in is a phone-only probe (may we
# subscribe?) and the signup; a linked one is a read by uuid and the signup (three when it also subscribes); a
# record not opted in is the signup alone. A subscribing signup that is retried makes its check again (two requests
# an attempt, not one). One `changed_since` request reads a page of 25 people.
CALLS_PER_WRITE = 2.0


def pace(settings: ActionNetworkSettings) -> Pace:
    """How fast the gateway uses Action Network (`PlatformEntry.pace`): the pace the shared limiter keeps."""
    rate = effective_rate(settings.requests_per_second)
    return Pace(rate, calls_per_write=CALLS_PER_WRITE, people_per_read=wire.MAX_PER_PAGE)


# A person counts as created by our own probe only if created at most this long before we sent it, on Action
# Network's clock: skew beyond it makes the adapter refuse to subscribe (the safe side), never the reverse.
CLOCK_TOLERANCE = timedelta(seconds=120)
# With Action Network's own Date header to compare against, the probe's person must be this fresh (the created
# date has one-second precision; the probe itself takes well under a second).
PROBE_WINDOW = timedelta(seconds=2)


class Answer(NamedTuple):
    """One successful API answer: status, parsed JSON body (None if not JSON), the server's Date (if sent)."""

    status: int
    body: Any
    date: datetime | None


SIGNUP = "the person signup helper"
# A subscribing signup holds two consecutive rate slots: its check, then the signup (`_subscribing_signup`).
REQUESTS_PER_HOLD = 2


class _Failed(SyncFailure):
    """One request's failure as `_attempts` decides on it: retried when transient (after `retry_after`, if the
    platform said), else raised to the caller."""

    def __init__(self, error: SyncError, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.retry_after = retry_after


class _ProbeInstead(Exception):
    """The linked person does not hold the number (gone, or another number now): the probe decides instead."""


@dataclass
class _SubscribeCheck:
    """What the may-we-subscribe checks of one subscribing signup carry from one attempt to the next."""

    ask_linked: bool  # the person linked by platform id is read first (its status decides while it holds the number)
    created_after: datetime | None = None  # the first probe's bound: a holder created since and unchanged is ours


class ActionNetworkAdapter:
    """One Action Network group (the API key's), through the shared limiters."""

    name = NAME
    capabilities = CAPABILITIES
    webhook_reply = WebhookReply()  # Action Network reads only the status code (none documented beyond 2xx)

    def __init__(
        self,
        settings: ActionNetworkSettings,
        *,
        limits: PlatformLimits,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._base = settings.api_url
        self._host = urlsplit(self._base).netloc
        self._limits = limits
        self._clock = clock
        self._session = requests.Session()
        pool = max(4, settings.max_concurrent)
        self._session.mount("https://", HTTPAdapter(pool_connections=pool, pool_maxsize=pool))
        self._session.mount("http://", HTTPAdapter(pool_connections=pool, pool_maxsize=pool))
        self._session.headers.update(
            {
                "OSDI-API-Token": settings.token,
                "Content-Type": "application/json",
                "Accept": "application/hal+json, application/json",
            }
        )

    @classmethod
    def build(cls, settings: ActionNetworkSettings, redis: Redis) -> ActionNetworkAdapter:
        """The adapter with its limiters on `redis`, shared by every process that uses the same Redis."""
        limits = limits_for(redis, NAME, settings, requests_per_hold=REQUESTS_PER_HOLD)
        return cls(settings, limits=limits)

    def __repr__(self) -> str:
        return f"ActionNetworkAdapter(base_url={self._base!r})"

    def close(self) -> None:
        if self._limits is not None:
            self._limits.close()  # the slots this process holds idle go back to the other workers now
        self._session.close()

    # -- lookups

    def find_contact(
        self, *, platform_id: str | None = None, crm_id: str | None = None, phone: str | None = None
    ) -> Contact | None:
        """By platform id only: Action Network documents no filter on phone numbers or custom fields."""
        if sum(key is not None for key in (platform_id, crm_id, phone)) != 1:
            raise ValueError("find_contact takes exactly one of platform_id, crm_id, phone")
        if crm_id is not None:
            raise NotSupportedError(self.name, "looking a person up by the CRM id (no filter on custom fields)")
        if phone is not None:
            raise NotSupportedError(self.name, "looking a person up by phone (no phone filter)")
        person = self._person(str(platform_id))
        return None if person is None else person.contact

    def find_contacts_by_phone(self, phones: list[str]) -> dict[str, Contact]:
        """Not offered: Action Network documents no phone filter (`lookup_many_by_phone` is False)."""
        raise NotSupportedError(self.name, "looking people up by phone (no phone filter)")

    def find_by_email(self, email: str) -> Contact | None:
        """The person with this email (`filter=email_address eq '…'`), or None. Action Network keeps one person
        per email, so the first match is the person."""
        params = {"filter": wire.email_filter(email), "per_page": "1"}
        body = self._request("GET", "people", params=params, what="the people collection (by email)").body
        for item in wire.parse_page(body).items:
            person = wire.parse_person(item, crm_id_field=self._settings.crm_id_field)
            if person is not None:
                return person.contact
        return None

    def changed_since(self, since: datetime, until: datetime) -> Iterator[Contact]:
        """People whose `modified_date` lies in [since - lookback, until], page by page. May repeat a person (no
        order is guaranteed, and a person changed while we page can be read twice); a person changed after
        `until` is left to the next window."""
        start = since - timedelta(seconds=self._settings.lookback_seconds)
        params = {"filter": wire.modified_since_filter(start), "per_page": str(wire.MAX_PER_PAGE)}
        try:
            body = self._request("GET", "people", params=params, what="the people collection").body
        except SyncFailure as failure:
            if failure.error.code is not SyncErrorCode.PLATFORM_REJECTED:
                raise
            # The documented examples filter on a date; a timestamp refused with 400 falls back to the day (a
            # superset: the window check below drops what is too old).
            params["filter"] = wire.modified_since_filter(start, date_only=True)
            body = self._request("GET", "people", params=params, what="the people collection").body
        seen: set[str] = set()
        while True:
            page = wire.parse_page(body)
            for item in page.items:
                person = wire.parse_person(item, crm_id_field=self._settings.crm_id_field)
                if person is None:
                    continue
                modified = person.modified_at
                if modified is not None and not start <= modified <= until:
                    continue
                yield person.contact
            if not page.items or page.next_href is None or page.next_href in seen:
                return
            seen.add(page.next_href)
            body = self._request("GET", self._next_url(page.next_href, params), what="the people collection").body

    # -- writes

    def upsert_contact(self, contact: Contact, *, subscribe: bool) -> Contact:
        """Create or update through the signup helper; the phone is subscribed only as the module states, checked
        right before each attempt (`_subscribing_signup`). A change that carries neither email nor phone but a
        platform id is sent with the linked person's own email and phone, the keys the helper finds people by."""
        contact = self._with_keys(contact)
        self._check_keys(contact)
        if subscribe and contact.phone is not None:
            return self._subscribing_signup(contact).contact
        return self._signup(self._signup_body(contact, phone_status=None)).contact

    def opt_out(self, contact: Contact) -> Contact:
        """Set the number's status to unsubscribed. Only the phone is sent: the helper then finds whoever holds
        the number (a phone-only request merges into its holder), and no other field can move the number."""
        if contact.phone is None and contact.platform_id:
            contact = self._with_keys(contact.with_changes(email=None))
        if contact.phone is None:
            raise SyncFailure(
                SyncError(SyncErrorCode.MISSING_REQUIRED_FIELD, "Opting out needs the phone number.", ("phone",))
            )
        body = {"person": {"phone_numbers": [{"number": self._wire_phone(contact.phone), "status": wire.UNSUBSCRIBED}]}}
        view = self._signup(body).contact
        if view.sms_status is not SmsStatus.UNSUBSCRIBED:
            raise SyncFailure(
                SyncError(
                    SyncErrorCode.PLATFORM_REJECTED,
                    "Action Network accepted the opt-out but still shows the number as "
                    f"{view.sms_status.value}; the opt-out will be retried.",
                )
            )
        return view

    # -- what Action Network does not have

    def messages(self, contact: Contact, *, limit: int = 50, before: str | None = None) -> MessagePage:
        raise NotSupportedError(self.name, "per-person text message history")

    def campaigns(self, contact: Contact) -> list[Campaign]:
        raise NotSupportedError(self.name, "per-person campaign history")

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
        """A webhook POST (a JSON array) as "look at this person now" events (`webhooks.parse_webhook`)."""
        return webhooks.parse_webhook(self._settings, path_secret, body, self._clock())

    def check(self) -> None:
        """Readiness: the API answers and accepts the key (one cheap authenticated read)."""
        self._request("GET", "people", params={"per_page": "1"}, what="the people collection")

    def has_tag(self, name: str, *, max_pages: int = 100) -> bool | None:
        """Whether the group has a tag called `name` (`GET tags`, paged: no filter on tags is documented); None when
        it was not among the first `max_pages` pages (the answer is then unknown, not no)."""
        body = self._request("GET", "tags", params={"per_page": str(wire.MAX_PER_PAGE)}, what="the tags").body
        seen: set[str] = set()
        for _ in range(max_pages):
            page = wire.parse_page(body, collection=wire.TAGS_KEY)
            if any(item.get("name") == name for item in page.items):
                return True
            if not page.items or page.next_href is None or page.next_href in seen:
                return False
            seen.add(page.next_href)
            body = self._request("GET", self._next_url(page.next_href, {}), what="the tags").body
        return None

    # -- plumbing

    def _subscribing_signup(self, contact: Contact) -> wire.Person:
        """The signup of a record that asks to subscribe its phone. Each attempt holds the limiters once for two
        consecutive rate slots: the check (`_may_subscribe`) goes in the first, the signup in the second, so the
        check's answer is at most one rate interval old (≈ 0.28 s at 3.6 requests/s) when the signup leaves —
        nothing queues and nothing backs off between them. The signup carries `status: subscribed` only when the
        check of its own attempt allowed it; a STOP that lands while an attempt waits, is throttled or backs off is
        seen by the next attempt's check, whose signup then carries no status (it cannot subscribe). Costs what
        one check and one signup did before; each retry costs the check again."""
        check = _SubscribeCheck(ask_linked=bool(contact.platform_id))

        def attempt(next_slot: Callable[[], None]) -> Answer:
            allowed = self._may_subscribe(contact, check)
            next_slot()
            phone_status = wire.SUBSCRIBED if allowed else None
            return self._send(
                "POST", "people/", json=self._signup_body(contact, phone_status=phone_status), what=SIGNUP
            )

        return self._person_in(self._attempts(attempt, slots=REQUESTS_PER_HOLD, what=SIGNUP).body)

    def _may_subscribe(self, contact: Contact, check: _SubscribeCheck) -> bool:
        """Whether Action Network shows `contact.phone` as not opted out now (see the module docstring): one request,
        sent in the caller's hold. Raises `_ProbeInstead` (after setting `check` to probe) when the linked person
        turns out not to hold the number."""
        assert contact.phone is not None
        if check.ask_linked:
            assert contact.platform_id is not None
            linked = self._person(contact.platform_id, held=True)
            if linked is not None and linked.contact.phone == contact.phone:
                return linked.phone_status == wire.SUBSCRIBED
            check.ask_linked = False
            raise _ProbeInstead
        sent_at = self._clock()
        answer = self._send(
            "POST",
            "people/",
            json={"person": {"phone_numbers": [{"number": self._wire_phone(contact.phone)}]}},
            what=SIGNUP,
        )
        holder = self._person_in(answer.body)
        if holder.phone_status == wire.SUBSCRIBED:
            return True
        # New to Action Network: its holder was created by this probe, or by the first probe of this signup (a
        # retry's), and never changed since. "Now" is Action Network's own clock (the answer's Date) when it sent
        # one, so our clock's skew does not widen the window.
        if check.created_after is None:
            check.created_after = answer.date - PROBE_WINDOW if answer.date else sent_at - CLOCK_TOLERANCE
        if holder.created_after(check.created_after):
            return True
        log.info("actionnetwork: not subscribing %s: the number is unsubscribed there", holder.contact.platform_id)
        return False

    def _signup_body(self, contact: Contact, *, phone_status: str | None) -> dict[str, Any]:
        tags = (self._settings.source_tag,) if self._settings.source_tag else ()
        return wire.signup_body(contact, crm_id_field=self._settings.crm_id_field, phone_status=phone_status, tags=tags)

    def _with_keys(self, contact: Contact) -> Contact:
        if contact.email or contact.phone or not contact.platform_id:
            return contact
        linked = self._person(contact.platform_id)
        if linked is None:
            raise SyncFailure(
                SyncError(SyncErrorCode.NOT_FOUND, f"Action Network has no person {contact.platform_id} any more.")
            )
        return contact.with_changes(email=linked.contact.email, phone=linked.contact.phone)

    def _check_keys(self, contact: Contact) -> None:
        if not contact.email and not contact.phone:
            raise SyncFailure(
                SyncError(
                    SyncErrorCode.MISSING_REQUIRED_FIELD,
                    "Action Network finds people by email or phone; this record has neither.",
                    ("email", "phone"),
                )
            )
        if contact.phone is not None:
            self._wire_phone(contact.phone)

    @staticmethod
    def _wire_phone(phone: str) -> str:
        try:
            return wire.phone_to_wire(phone)
        except ValueError as exc:
            raise SyncFailure(SyncError(SyncErrorCode.INVALID_PHONE, f"{exc}.", ("phone",))) from exc

    def _person(self, uuid: str, *, held: bool = False) -> wire.Person | None:
        """The person by uuid, or None when Action Network has none; `held`: sent in the caller's limiter hold."""
        if not uuid or "/" in uuid or "?" in uuid:
            raise SyncFailure(SyncError(SyncErrorCode.NOT_FOUND, "The linked Action Network id is malformed."))
        try:
            body = (self._send if held else self._request)("GET", f"people/{uuid}", what="the linked person").body
        except SyncFailure as failure:
            if failure.error.code is SyncErrorCode.NOT_FOUND:
                return None
            raise
        return wire.parse_person(body, crm_id_field=self._settings.crm_id_field)

    def _signup(self, body: dict[str, Any]) -> wire.Person:
        return self._person_in(self._request("POST", "people/", json=body, what=SIGNUP).body)

    def _person_in(self, answer: Any) -> wire.Person:
        person = wire.parse_person(answer, crm_id_field=self._settings.crm_id_field)
        if person is None or person.contact.platform_id is None:
            raise SyncFailure(
                SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, "The person signup helper answered without a person.")
            )
        return person

    def _next_url(self, href: str, params: Mapping[str, str]) -> str:
        """`_links.next` as an absolute URL on our API host, keeping our filter and page size if the link dropped
        them (whether it keeps them is UNCONFIRMED)."""
        parts = urlsplit(href if "://" in href else self._base + href.lstrip("/"))
        if parts.netloc != self._host:
            raise SyncFailure(
                SyncError(
                    SyncErrorCode.PLATFORM_REJECTED,
                    "Action Network's next-page link points to another host; the API key is not sent there.",
                )
            )
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        for name, value in params.items():
            query.setdefault(name, value)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        what: str,
    ) -> Answer:
        """One API call through the shared limiters, with bounded retries of transient failures."""

        def attempt(next_slot: Callable[[], None]) -> Answer:
            return self._send(method, path, params=params, json=json, what=what)

        return self._attempts(attempt, slots=1, what=what)

    def _attempts(self, attempt: Callable[[Callable[[], None]], Answer], *, slots: int, what: str) -> Answer:
        """`attempt` in one hold of the shared limiters (`slots` consecutive rate slots, `attempt` given the
        `next_slot()` to call before each request after its first), again after backoff while its request fails
        transiently, at most `max_attempts` times; then `SyncFailure`. A 429 pushes every process back."""
        attempt_no = 0
        while True:
            attempt_no += 1
            try:
                with self._limits.request(slots) as next_slot:
                    return attempt(next_slot)
            except Throttled as exc:
                raise SyncFailure(
                    SyncError(
                        SyncErrorCode.RATE_LIMITED,
                        f"The shared Action Network request budget is booked {exc.wait:.0f} s ahead; {what} waits "
                        "for a later retry.",
                    )
                ) from exc
            except _ProbeInstead:
                attempt_no -= 1  # not a failure: the attempt is made again at once, with the other check
                continue
            except _Failed as failed:
                error, retry_after = failed.error, failed.retry_after
            if not error.transient or attempt_no >= self._settings.max_attempts:
                if error.transient:
                    log.warning("actionnetwork %s failed after %d attempts: %s", what, attempt_no, error.code)
                raise SyncFailure(error)
            delay = backoff_delay(
                attempt_no,
                retry_after=retry_after,
                base=self._settings.backoff_seconds,
                cap=self._settings.max_backoff_seconds,
            )
            log.info("actionnetwork %s: %s, retrying in %.2f s", what, error.code, delay)
            if error.code is SyncErrorCode.RATE_LIMITED:
                self._limits.penalize(delay)  # every process waits, not only this one; acquire() sleeps it out
            else:
                time.sleep(delay)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        what: str,
    ) -> Answer:
        """One request, sent in the caller's hold of the limiters (its slot already come); `_Failed` when it fails."""
        url = path if "://" in path else self._base + path
        timeout = (self._settings.connect_timeout_seconds, self._settings.read_timeout_seconds)
        sendguard.check()  # the sync's claim, checked now that the request is about to leave
        try:
            response = self._session.request(method, url, params=params, json=json, timeout=timeout)
        except requests.RequestException as exc:
            raise _Failed(
                SyncError(
                    SyncErrorCode.PLATFORM_UNAVAILABLE, f"Action Network could not be reached ({type(exc).__name__})."
                )
            ) from exc
        body = _json_or_none(response)
        error = wire.error_for_status(response.status_code, body, what=what)
        if error is None:
            return Answer(response.status_code, body, _http_date(response.headers.get("Date")))
        retry_after = None
        if response.status_code == 429:
            retry_after = wire.retry_after_seconds(response.headers.get("Retry-After"))
        raise _Failed(error, retry_after)


def _http_date(header: str | None) -> datetime | None:
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


__all__ = ["CAPABILITIES", "NAME", "ActionNetworkAdapter", "pace"]
