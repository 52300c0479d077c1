"""The `PlatformAdapter` for Upland Mobile Commons over its XML API: profiles, opt status, history, campaigns.

Guarantees: phones are E.164 in and out (`1XXXXXXXXXX` only on the wire); the CRM id lives in one custom
column (`crm_id_column`, default `sf_id`); every failure is a `SyncFailure` with a dictionary code, the
transient ones (`platform-unavailable`, `rate-limited`) retried `max_attempts` times with backoff first;
the password, bearer token and webhook secret never appear in logs, reprs or error messages. Built by the registry
(`build`), every call holds one of `MOBILECOMMONS_MAX_CONCURRENT` slots shared by every worker on every machine
(and keeps `MOBILECOMMONS_REQUESTS_PER_SECOND` when one is set): `gateway.ratelimit`.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET  # only for the Element type; `wire.parse_response` parses (defusedxml for a DTD)
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import urllib3
from defusedxml import ElementTree as SafeET
from redis import Redis

from gateway import sendguard
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.http_pool import UNREACHABLE, ApiPool
from gateway.platforms.base import (
    Campaign,
    InboundEvent,
    MessagePage,
    NotSupportedError,
    WebhookReply,
)
from gateway.platforms.mobilecommons import CAPABILITIES
from gateway.platforms.mobilecommons.settings import MAX_PAGE_SIZE, MobileCommonsSettings
from gateway.platforms.mobilecommons.webhooks import parse_mdata
from gateway.platforms.mobilecommons.wire import (
    ADDRESS_FIELDS,
    PROFILE_FIELDS,
    error_for_http,
    error_for_id,
    page_messages,
    parse_response,
    parse_time,
    phone_to_wire,
    profile_messages,
    profile_to_contact,
    response_error,
    subscription_status,
    time_to_wire,
)
from gateway.ratelimit import PlatformLimits, Throttled, limits_for

log = logging.getLogger(__name__)


class MobileCommonsAdapter:
    """The `PlatformAdapter` for Upland Mobile Commons. Thread-safe (one connection pool, `gateway.http_pool`)."""

    name = "mobilecommons"
    capabilities = CAPABILITIES
    webhook_reply = WebhookReply()  # an empty answer: the platform texts nothing back

    def __init__(
        self,
        settings: MobileCommonsSettings,
        *,
        limits: PlatformLimits | None = None,
    ) -> None:
        """`limits`: the deployment's shared limits (`build` passes them; None: this adapter keeps none)."""
        self._settings = settings
        self._limits = limits
        self._base_url = settings.base_url if settings.base_url.endswith("/") else settings.base_url + "/"
        if settings.bearer_token:
            credentials = {"Authorization": f"Bearer {settings.bearer_token.reveal()}"}
        else:
            password = settings.password.reveal() if settings.password else ""
            credentials = urllib3.make_headers(basic_auth=f"{settings.username or ''}:{password}")
        # one kept connection per request the shared limit lets this process have in flight
        self._api = ApiPool(
            self._base_url,
            maxsize=settings.max_concurrent,
            headers={"Accept": "application/xml", **credentials},
            timeout=(settings.connect_timeout_seconds, settings.read_timeout_seconds),
        )

    @classmethod
    def build(cls, settings: MobileCommonsSettings, redis: Redis) -> MobileCommonsAdapter:
        """The adapter with its limits on `redis`, shared by every process that uses the same Redis."""
        return cls(settings, limits=limits_for(redis, cls.name, settings))

    def __repr__(self) -> str:
        return f"MobileCommonsAdapter(base_url={self._base_url!r}, username={self._settings.username!r})"

    def close(self) -> None:
        if self._limits is not None:
            self._limits.close()  # the slots this process holds idle go back to the other workers now
        self._api.close()

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
        """The contacts holding any of `phones` (E.164, at most `PHONE_BATCH`), keyed by phone; one `profiles`
        call instead of one `find_contact` per person.

        MC answers error 5 ("Invalid phone number", also its "not found" on lookups) for a number it cannot hold —
        a number outside North America, one the account does not know. Whether one such number in a list fails the
        whole call is UNCONFIRMED (the emulator fails it): a batch answered with 5 is split in halves until the
        numbers it names are alone, and each of those is found by nobody, so one bad phone costs about
        2·log2(batch) calls, never the batch's sync."""
        if not phones:
            return {}
        wire = ",".join(phone_to_wire(p) for p in phones)
        params = {"phone_number": wire, "limit": str(MAX_PAGE_SIZE), "page": "1"}
        try:
            root = self._call("GET", "profiles", params, not_found_on_5=True)
        except SyncFailure as failure:
            if failure.error.code is not SyncErrorCode.NOT_FOUND:
                raise
            if len(phones) == 1:
                return {}
            middle = len(phones) // 2
            return {**self.find_contacts_by_phone(phones[:middle]), **self.find_contacts_by_phone(phones[middle:])}
        found = (self._to_contact(profile) for profile in root.findall("profiles/profile"))
        return {contact.phone: contact for contact in found if contact.phone}

    def changed_since(self, since: datetime, until: datetime) -> Iterator[Contact]:
        """The profiles updated in [since, until], read so that a profile updated while we read never makes another
        one missed.

        MC answers `profiles` with `num` and `page` but no `page_count` (recorded responses), in an order it does
        not document, and a profile updated while we page leaves the window: reading one window's pages forward
        could shift a profile onto a page already read. So a window whose first page is full is halved (at MC's
        one-second precision) until each half fits one call; a single second holding a full page or more (a bulk
        import) has its last page found by probing and is read last page first, so a shift only repeats a profile.
        Cost: one call for a quiet window, about two per `page_size` profiles changed otherwise.
        """
        params = {"include_custom_columns": "true", "include_subscriptions": "true"}
        limit = self._settings.page_size
        first = since.astimezone(UTC).replace(microsecond=0)
        windows = [(first, max(first, until.astimezone(UTC).replace(microsecond=0)))]
        while windows:
            start, end = windows.pop()
            found = self._profiles_page(params, start, end, limit, 1)
            if len(found) < limit:
                yield from (self._to_contact(profile) for profile in found)
            elif end > start:
                middle = start + timedelta(seconds=(end - start).total_seconds() // 2)
                windows.append((middle + timedelta(seconds=1), end))
                windows.append((start, middle))  # the older half first
            else:
                for page in range(self._last_page(params, start, limit), 0, -1):
                    yield from (self._to_contact(p) for p in self._profiles_page(params, start, start, limit, page))

    def _last_page(self, params: dict[str, str], second: datetime, limit: int) -> int:
        """The last non-empty page of one second's profiles, whose page 1 is full: doubling, then bisecting."""
        full, probe = 1, 2
        sizes: dict[int, int] = {}
        while (sizes.setdefault(probe, len(self._profiles_page(params, second, second, limit, probe)))) >= limit:
            full, probe = probe, probe * 2
        while probe - full > 1:
            middle = (full + probe) // 2
            sizes[middle] = len(self._profiles_page(params, second, second, limit, middle))
            full, probe = (middle, probe) if sizes[middle] >= limit else (full, middle)
        return probe if sizes[probe] else full

    def _profiles_page(
        self, params: dict[str, str], start: datetime, end: datetime, limit: int, page: int
    ) -> list[ET.Element]:
        window = {"from": time_to_wire(start), "to": time_to_wire(end), "limit": str(limit), "page": str(page)}
        return self._call("GET", "profiles", {**params, **window}).findall("profiles/profile")

    # -- writes

    def upsert_contact(self, contact: Contact, *, subscribe: bool) -> Contact:
        if contact.phone is None:
            raise SyncFailure(
                SyncError(SyncErrorCode.MISSING_REQUIRED_FIELD, "Mobile Commons keys people by phone.", ("phone",))
            )
        params: dict[str, str] = {"phone_number": phone_to_wire(contact.phone)}
        for name in PROFILE_FIELDS:
            value = getattr(contact, name)
            if value:
                params[name] = value
        for name in ADDRESS_FIELDS:
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
            status = subscription_status(sub)
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
        *,
        url: str = "",
    ) -> list[InboundEvent]:
        """An mData call: verified by the secret in our URL path (constant-time), then one event."""
        return parse_mdata(self._settings, path_secret, form)

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
        try:
            with self._slot():
                sendguard.check()  # the sync's claim, checked now that the request is about to leave
                if method == "GET":
                    response = self._api.get(endpoint, urlencode(params))
                else:
                    response = self._api.post_form(endpoint, urlencode(params))
        except Throttled as exc:
            detail = f"Every one of the deployment's Mobile Commons request slots stayed busy ({exc})."
            return SyncError(SyncErrorCode.RATE_LIMITED, detail), None
        except UNREACHABLE as exc:
            return (
                SyncError(
                    SyncErrorCode.PLATFORM_UNAVAILABLE,
                    f"Mobile Commons could not be reached ({type(exc).__name__}).",
                ),
                None,
            )
        retry_after = _retry_after(response.headers.get("Retry-After"), self._settings.backoff_seconds)
        page = response.data.decode("utf-8", "replace") if response.status >= 500 else ""
        http_error = error_for_http(response.status, page, response.headers.get("Location"))
        if http_error is not None:
            return http_error, retry_after
        try:
            root = parse_response(response.data)
        except (ET.ParseError, ValueError, SafeET.DefusedXmlException):
            return (
                SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, f"Mobile Commons answered {endpoint} with no XML."),
                None,
            )
        failure = response_error(root)
        if failure is not None:
            return error_for_id(*failure, not_found_on_5=not_found_on_5), None
        return root, None

    def _slot(self) -> AbstractContextManager[object]:
        return self._limits.request() if self._limits is not None else nullcontext()


def _retry_after(header: str | None, backoff: float) -> float | None:
    """A Retry-After in seconds, capped so a retry never stalls a worker for long."""
    if not header:
        return None
    try:
        return min(float(header), max(backoff * 8, 1.0))
    except ValueError:
        return None
