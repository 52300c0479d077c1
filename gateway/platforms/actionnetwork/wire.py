"""Action Network's wire format, both ways: people, HAL pages, webhook arrays and error bodies (pure, no I/O).

Guarantees: every function here is total over JSON values — a shape it does not recognise yields None, an
empty result or a `SyncError`, never an exception other than `ValueError` for a bad argument of ours; phones
are E.164 on our side and digits with the country code on the wire; nothing here reads a secret.

Facts and their sources are in `docs/platforms/actionnetwork.md`. Where the real contract is UNCONFIRMED, the
parsers accept every plausible reading, as noted next to each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode

MAX_PER_PAGE = 25  # "a maximum of 25" per page (docs, people collection)
ID_PREFIX = "action_network:"
PEOPLE_KEY = "osdi:people"
TAGS_KEY = "osdi:tags"
PERSON_LINK = "osdi:person"
SPONSOR_KEY = "action_network:sponsor"

SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
# Email statuses the API reports; only the first two may be written through the signup helper.
EMAIL_STATUSES = frozenset(
    {SUBSCRIBED, UNSUBSCRIBED, "bouncing", "previous bounce", "spam complaint", "previous spam complaint"}
)

_MAX_DETAIL = 300


# ---------------------------------------------------------------------------------------------- scalars


def phone_to_wire(e164: str) -> str:
    """`+12025551234` → `12025551234` (country code and digits only, as OSDI's `number` holds it)."""
    digits = e164[1:] if e164.startswith("+") else ""
    if not digits.isdigit() or not 8 <= len(digits) <= 15:
        raise ValueError(f"{e164!r} is not an E.164 phone number")
    return digits


def phone_from_wire(value: object) -> str | None:
    """A wire `number` as E.164. Ten digits are read as a US number without its country code; anything that is
    not 8 to 15 digits (after dropping punctuation) is None."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) == 10:
        digits = "1" + digits
    if not 8 <= len(digits) <= 15:
        return None
    return "+" + digits


def parse_time(value: object) -> datetime | None:
    """Both forms seen on the wire: `2022-04-06T14:20:49Z` and `2019-02-28T00:00:00.000+0000`; None if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 → +00:00 (Python 3.11 reads only the colon form everywhere)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def time_to_wire(moment: datetime) -> str:
    """A moment as the OData filter takes it: ISO-8601 UTC at one-second precision."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_to_wire(moment: datetime) -> str:
    """The day of a moment (UTC), the only form the documented filter examples use (`'2014-03-25'`)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _quote(value: str) -> str:
    """An OData string literal (a quote inside is doubled, as OData escapes it)."""
    return "'" + value.replace("'", "''") + "'"


def email_filter(email: str) -> str:
    """`email_address eq 'jane@example.org'` (documented OData form; the caller URL-encodes it)."""
    return f"email_address eq {_quote(email.strip())}"


def modified_since_filter(since: datetime, *, date_only: bool = False) -> str:
    """`modified_date gt '…'`, at one-second precision or, with `date_only`, as the day (a superset)."""
    return f"modified_date gt {_quote(date_to_wire(since) if date_only else time_to_wire(since))}"


def person_uuid(value: object) -> str | None:
    """The Action Network uuid in an identifier (`action_network:<uuid>`) or a person URL (`…/people/<uuid>`)."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith(ID_PREFIX):
        found = value[len(ID_PREFIX) :]
        return found or None
    if "://" in value:
        parts = [p for p in urlsplit(value).path.split("/") if p]
        if len(parts) >= 2 and parts[-2] == "people":
            return parts[-1].removeprefix(ID_PREFIX) or None
    return None


# ---------------------------------------------------------------------------------------------- people


@dataclass(frozen=True, slots=True)
class Person:
    """One Action Network person as we read it: our Contact plus what only Action Network knows."""

    contact: Contact
    created_at: datetime | None
    modified_at: datetime | None
    email_status: str | None
    phone_status: str | None  # "subscribed" | "unsubscribed" | None (no phone, or a status we do not know)

    def created_after(self, moment: datetime) -> bool:
        """True when this person was created at or after `moment` and never modified since (parsons reads
        `created_date == modified_date` as "created by this request")."""
        return (
            self.created_at is not None
            and self.modified_at is not None
            and self.created_at == self.modified_at
            and self.created_at >= moment
        )


def _first(items: object, *, key: str) -> Mapping[str, Any] | None:
    """The primary entry of an OSDI list (`primary: true`), else the first one holding `key`."""
    if not isinstance(items, list):
        return None
    entries = [i for i in items if isinstance(i, Mapping)]
    for entry in entries:
        if entry.get("primary") is True and entry.get(key):
            return entry
    return next((e for e in entries if e.get(key)), None)


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _custom_value(value: object) -> str | None:
    """Custom-field values are strings, numbers or booleans on the wire (fixtures show all three); ours are text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(value)


def sms_status_of(phone_status: str | None, phone: str | None) -> SmsStatus:
    """Our status for a phone's Action Network status.

    Action Network's phone status does not say *why* a number is unsubscribed (never opted in, or texted STOP):
    the signup helper adds new numbers as unsubscribed. We read every unsubscribed number as opted out, the reading
    that can never text someone who said STOP (see the adapter for how a number new to Action Network is
    subscribed all the same). No phone → unknown; an unknown status word → unknown.
    """
    if phone is None:
        return SmsStatus.UNKNOWN
    if phone_status == SUBSCRIBED:
        return SmsStatus.SUBSCRIBED
    if phone_status == UNSUBSCRIBED:
        return SmsStatus.UNSUBSCRIBED
    return SmsStatus.UNKNOWN


def parse_person(data: object, *, crm_id_field: str) -> Person | None:
    """A person resource (as `GET /people/{uuid}`, the signup helper, a page or a webhook hold it); None when it is
    not an object. Custom fields other than `crm_id_field` become `custom_fields`."""
    if not isinstance(data, Mapping):
        return None
    uuid = None
    identifiers = data.get("identifiers")
    if isinstance(identifiers, list):
        uuid = next((found for found in map(person_uuid, identifiers) if found), None)
    if uuid is None:
        links = data.get("_links")
        self_link = links.get("self") if isinstance(links, Mapping) else None
        uuid = person_uuid(self_link.get("href")) if isinstance(self_link, Mapping) else None
    email_entry = _first(data.get("email_addresses"), key="address")
    phone_entry = _first(data.get("phone_numbers"), key="number")
    phone = phone_from_wire(phone_entry.get("number")) if phone_entry else None
    phone_status = _text(phone_entry.get("status")) if phone_entry else None
    address_entry = _first(data.get("postal_addresses"), key="country") or _first(
        data.get("postal_addresses"), key="postal_code"
    )
    address = PostalAddress()
    if address_entry is not None:
        lines = address_entry.get("address_lines")
        lines = [_text(line) for line in lines] if isinstance(lines, list) else []
        address = PostalAddress(
            street1=lines[0] if lines else None,
            street2=lines[1] if len(lines) > 1 else None,
            city=_text(address_entry.get("locality")),
            state=_text(address_entry.get("region")),
            postal_code=_text(address_entry.get("postal_code")),
            country=_text(address_entry.get("country")),
        )
    custom: dict[str, str] = {}
    crm_id = None
    raw_custom = data.get("custom_fields")
    if isinstance(raw_custom, Mapping):
        for name, raw in raw_custom.items():
            value = _custom_value(raw)
            if not isinstance(name, str) or value is None:
                continue
            if name == crm_id_field:
                crm_id = value
            else:
                custom[name] = value
    status = sms_status_of(phone_status, phone)
    modified = parse_time(data.get("modified_date"))
    contact = Contact(
        phone=phone,
        first_name=_text(data.get("given_name")),
        last_name=_text(data.get("family_name")),
        email=_text(email_entry.get("address")) if email_entry else None,
        address=address,
        custom_fields=MappingProxyType(custom),
        sms_status=status,
        platform_id=uuid,
        crm_id=crm_id,
        version=modified,
        # Action Network records no opt-out moment; the last change is the closest bound we have.
        opted_out_at=modified if status is SmsStatus.UNSUBSCRIBED else None,
    )
    return Person(
        contact=contact,
        created_at=parse_time(data.get("created_date")),
        modified_at=modified,
        email_status=_text(email_entry.get("status")) if email_entry else None,
        phone_status=phone_status if phone is not None else None,
    )


def signup_body(
    contact: Contact,
    *,
    crm_id_field: str,
    phone_status: str | None = None,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The person signup helper's body for `contact`: only the values it holds (an absent value leaves Action
    Network's as it is), the phone's `status` only when given (absent: an existing number keeps its status, a new
    one starts unsubscribed), never an email status (absent: a new person's email is subscribed, an existing
    one's unchanged). Raises ValueError for a contact with neither email nor phone, or a phone not E.164."""
    if phone_status not in (None, SUBSCRIBED, UNSUBSCRIBED):
        raise ValueError(f"phone_status must be subscribed or unsubscribed, not {phone_status!r}")
    if not contact.email and not contact.phone:
        raise ValueError("Action Network needs an email address or a phone number to find or create a person")
    person: dict[str, Any] = {}
    if contact.first_name:
        person["given_name"] = contact.first_name
    if contact.last_name:
        person["family_name"] = contact.last_name
    if contact.email:
        person["email_addresses"] = [{"address": contact.email}]
    if contact.phone:
        number: dict[str, Any] = {"number": phone_to_wire(contact.phone), "number_type": "Mobile"}
        if phone_status is not None:
            number["status"] = phone_status
        person["phone_numbers"] = [number]
    if not contact.address.is_empty():
        a = contact.address
        postal: dict[str, Any] = {}
        lines = [line for line in (a.street1, a.street2) if line]
        if lines:
            postal["address_lines"] = lines
        for wire_name, value in (("locality", a.city), ("region", a.state), ("postal_code", a.postal_code)):
            if value:
                postal[wire_name] = value
        if a.country:
            postal["country"] = a.country
        person["postal_addresses"] = [postal]
    custom = {name: value for name, value in contact.custom_fields.items() if value and name != crm_id_field}
    if contact.crm_id:
        custom[crm_id_field] = contact.crm_id
    if custom:
        person["custom_fields"] = custom
    body: dict[str, Any] = {"person": person}
    if tags:
        body["add_tags"] = list(tags)
    return body


# ---------------------------------------------------------------------------------------------- pages


@dataclass(frozen=True, slots=True)
class Page:
    """One HAL page of a collection: its items and the `next` link (None: the last page)."""

    items: tuple[Mapping[str, Any], ...]
    next_href: str | None


def parse_page(data: object, *, collection: str = PEOPLE_KEY) -> Page:
    """`_embedded[collection]` and `_links.next.href`. Totals are never read: the people collection does not
    return them. A body that is not a page is an empty last page."""
    if not isinstance(data, Mapping):
        return Page((), None)
    embedded = data.get("_embedded")
    raw = embedded.get(collection) if isinstance(embedded, Mapping) else None
    items = tuple(i for i in raw if isinstance(i, Mapping)) if isinstance(raw, list) else ()
    links = data.get("_links")
    nxt = links.get("next") if isinstance(links, Mapping) else None
    href = nxt.get("href") if isinstance(nxt, Mapping) else None
    return Page(items, href if isinstance(href, str) and href else None)


# ---------------------------------------------------------------------------------------------- webhooks


@dataclass(frozen=True, slots=True)
class WebhookItem:
    """One element of a webhook array: what happened (`kind`, e.g. `osdi:submission`), to whom, and its key."""

    kind: str
    idempotency_key: str
    person_uuid: str | None
    person: Person | None
    occurred_at: datetime | None


class WebhookFormatError(ValueError):
    """The body is not an Action Network webhook array."""


def parse_webhook_array(body: bytes, *, crm_id_field: str) -> list[WebhookItem]:
    """The elements of a webhook POST: a JSON array of objects, each keyed by its resource type
    (`osdi:submission`, `osdi:signature`, … — any key except `idempotency_key` and `action_network:sponsor`).

    An element without `idempotency_key` gets a stable one from a hash of its canonical JSON (so a redelivery of
    the same element still deduplicates). An element naming no person (no `_links.osdi:person`, no `person`) is
    skipped: there is nobody to look at. Raises `WebhookFormatError` when the body is not a JSON array.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookFormatError(f"the body is not JSON ({exc})") from exc
    if not isinstance(data, list):
        raise WebhookFormatError("the body is not a JSON array")
    items: list[WebhookItem] = []
    for element in data:
        if not isinstance(element, Mapping):
            continue
        kinds = [k for k in element if k not in ("idempotency_key", SPONSOR_KEY) and isinstance(element[k], Mapping)]
        if not kinds:
            continue
        kind = kinds[0]
        resource = element[kind]
        links = resource.get("_links")
        person_link = links.get(PERSON_LINK) if isinstance(links, Mapping) else None
        uuid = person_uuid(person_link.get("href")) if isinstance(person_link, Mapping) else None
        person = parse_person(resource.get("person"), crm_id_field=crm_id_field)
        if person is not None and uuid is not None and person.contact.platform_id is None:
            person = Person(
                person.contact.with_changes(platform_id=uuid),
                person.created_at,
                person.modified_at,
                person.email_status,
                person.phone_status,
            )
        uuid = uuid or (person.contact.platform_id if person else None)
        if uuid is None and (person is None or not (person.contact.email or person.contact.phone)):
            continue
        key = element.get("idempotency_key")
        if not isinstance(key, str) or not key:
            canonical = json.dumps(element, sort_keys=True, separators=(",", ":"), default=str)
            key = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]
        occurred = parse_time(resource.get("modified_date")) or parse_time(resource.get("created_date"))
        items.append(WebhookItem(kind, key, uuid, person, occurred))
    return items


# ---------------------------------------------------------------------------------------------- errors


def error_message(body: object) -> str | None:
    """The message of an error body: Action Network's `{"error": "…"}`, or OSDI's experimental `osdi:error`
    shape (`resource_status[].errors|error_descriptions[].description`), whose use by Action Network is
    UNCONFIRMED. Truncated; None when the body holds neither."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
    if not isinstance(body, Mapping):
        return None
    found: list[str] = []
    error = body.get("error")
    if isinstance(error, str) and error.strip():
        found.append(error.strip())
    elif isinstance(error, Mapping):
        text = _text(error.get("message")) or _text(error.get("description"))
        if text:
            found.append(text)
    statuses = body.get("resource_status")
    if isinstance(statuses, list):
        for status in statuses:
            if not isinstance(status, Mapping):
                continue
            for key in ("errors", "error_descriptions"):
                entries = status.get(key)
                for entry in entries if isinstance(entries, list) else []:
                    text = _text(entry.get("description")) if isinstance(entry, Mapping) else None
                    if text:
                        found.append(text)
    if not found:
        return None
    message = "; ".join(found)
    return message if len(message) <= _MAX_DETAIL else message[: _MAX_DETAIL - 1] + "…"


def error_for_status(status: int, body: object, *, what: str) -> SyncError | None:
    """Map one HTTP answer to the error dictionary (None for 2xx). `what` names the call for the admin."""
    if 200 <= status < 300:
        return None
    message = error_message(body)
    said = f": {message}" if message else ""
    if status in (401, 403):
        return SyncError(
            SyncErrorCode.CONFIGURATION,
            f"Action Network refused the API key (HTTP {status}) on {what}{said}. Check ACTIONNETWORK_API_TOKEN "
            "(a group's key, generated by a partner account).",
        )
    if status == 404:
        return SyncError(SyncErrorCode.NOT_FOUND, f"Action Network found nothing for {what}{said}.")
    if status == 429:
        return SyncError(SyncErrorCode.RATE_LIMITED, f"Action Network answered HTTP 429 (too many requests) on {what}.")
    if status >= 500 or status == 408:
        return SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, f"Action Network failed (HTTP {status}) on {what}.")
    return SyncError(SyncErrorCode.PLATFORM_REJECTED, f"Action Network refused {what} (HTTP {status}){said}.")


def retry_after_seconds(header: str | None, *, now: datetime | None = None) -> float | None:
    """A `Retry-After` header in seconds: delta-seconds or an HTTP date (RFC 9110); None when absent or
    unreadable. Whether Action Network sends it is UNCONFIRMED, so callers fall back to backoff."""
    if header is None or not header.strip():
        return None
    text = header.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
