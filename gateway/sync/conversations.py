"""A person's text conversation and campaigns, in one shape for every platform, for the record page.

Guarantees:
- A person is named by the platform's contact id, a phone, or a Salesforce record id (`crm_id`). Where the platform
  cannot look people up by that id, the gateway reads the phone from the linked Salesforce record (one API call:
  a record id is looked for only in the synced object its key prefix names, a platform id in every synced object
  with one Composite call) and checks that the platform contact found by that phone carries the same id, so a
  reassigned phone never shows someone else's texts.
- A lookup that finds nobody is remembered for `MISS_TTL` seconds: asking again for the same unknown id costs no
  Salesforce or platform call. Every lookup that will call out (not answered from a cache) is first `charge`d to the
  caller (the web tier's per-client quota: `ConversationError(429)` with `retry_after`).
- The whole history (at most `HISTORY_LIMIT` newest messages) and the campaigns are cached in Redis for the TTL the
  caller gives, per person: pages of one conversation within the TTL cost no platform or Salesforce call.
- Messages are oldest → newest; `next_before` is an opaque cursor for the next older page (None: no more).
- A platform without history or campaigns answers `supported: False` with empty lists, never an error.
- Every failure is a `ConversationError` with an HTTP status and a code from the error vocabulary.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.domain import platform_fields
from gateway.domain.contact import Contact
from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.domain.phones import InvalidPhoneNumber, normalize_phone
from gateway.platforms.base import Campaign, Message
from gateway.salesforce import queries
from gateway.salesforce.errors import SalesforceError, SalesforceRequestError
from gateway.sync import readback
from gateway.sync.context import SyncContext

HISTORY_LIMIT = 10_000
HISTORY_KEY = "gateway:history:{}:{}"  # platform, person key -> {"contact", "messages"}
CAMPAIGNS_KEY = "gateway:campaigns:{}:{}"  # platform, person key -> {"contact", "campaigns"}
MISS_KEY = "gateway:lookup-miss:{}:{}"  # platform, person key -> why nobody was found (kept MISS_TTL)
MISS_TTL = 300
_NOT_AN_ID = {"INVALID_QUERY_FILTER_OPERATOR", "MALFORMED_ID", "INVALID_ID_FIELD"}


class ConversationError(Exception):
    """Why a conversation cannot be shown; `status` is the HTTP answer, `code` the error code, `retry_after` (429)
    the seconds until the caller may ask again."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


Charge = Callable[[], None]  # counts one lookup that calls out against the caller's quota; raises ConversationError


def _free() -> None:
    """No quota (callers inside the gateway)."""


@dataclass(frozen=True)
class PersonRef:
    """How the caller names the person: any of the three (at least one)."""

    platform_id: str | None = None
    phone: str | None = None
    crm_id: str | None = None

    def cache_key(self) -> str:
        return "|".join(v or "" for v in (self.platform_id, self.phone, self.crm_id))


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "direction": message.direction.value,
        "body": message.body,
        "at": _iso(message.at),
        "status": message.status,
        "reason": message.reason.value if message.reason is not None else None,
        "campaignName": message.campaign_name,
    }


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "type": campaign.type,
        "status": campaign.status,
        "at": _iso(campaign.at),
    }


def _sort_key(message: dict[str, Any]) -> tuple[str, int, str]:
    ident = str(message["id"])
    return (str(message["at"]), int(ident) if ident.isdigit() else 0, ident)


def encode_cursor(message: dict[str, Any]) -> str:
    raw = json.dumps([message["at"], str(message["id"])], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int, str]:
    try:
        at, ident = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(at, str) or not isinstance(ident, str):
            raise TypeError("cursor parts must be strings")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ConversationError(400, "invalid-cursor", "`before` is not a cursor this API returned") from None
    return _sort_key({"at": at, "id": ident})


def page(
    history: Sequence[dict[str, Any]], *, limit: int, before: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The newest `limit` messages of `history` (oldest first) older than the cursor, and the next cursor."""
    older = list(history)
    if before is not None:
        bound = decode_cursor(before)
        older = [m for m in older if _sort_key(m) < bound]
    chosen = older[-limit:] if limit > 0 else []
    more = len(older) > len(chosen)
    return chosen, (encode_cursor(chosen[0]) if more and chosen else None)


def _contact_json(contact: Contact | None, ref: PersonRef) -> dict[str, Any]:
    return {
        "platformId": (contact.platform_id if contact else None) or ref.platform_id,
        "phone": (contact.phone if contact else None) or ref.phone,
    }


def _phone_from_salesforce(context: SyncContext, *, by_platform_id: bool, value: str) -> str | None:
    """The phone on the synced Salesforce record whose platform-id field (or Id) is `value`."""
    config = context.sync_config()
    asked: list[tuple[list[str], str]] = []
    for obj in config.active_objects:
        phone_fields = [
            name
            for mapping in obj.mappings
            if mapping.platform_field == platform_fields.PHONE
            for name in mapping.salesforce_fields
        ]
        if not phone_fields:
            continue
        if not by_platform_id and not readback.id_fits(context, value, obj.object_name):
            continue  # a record id names one object (its key prefix): the others cannot hold it
        key_field = obj.platform_id_field if by_platform_id else "Id"
        soql = queries.phone_of_record(obj.object_name, key_field=key_field, value=value, phone_fields=phone_fields)
        asked.append((phone_fields, soql))
    try:
        answers = context.salesforce.query_each([soql for _, soql in asked])
    except SalesforceRequestError as exc:
        if exc.status == 400 and set(exc.codes) & _NOT_AN_ID:
            return None  # not an id Salesforce can read (it checks ids, and their checksum, per object)
        raise
    for (phone_fields, _), rows in zip(asked, answers, strict=True):
        for row in rows:
            for name in phone_fields:
                if row.get(name):
                    return str(row[name])
    return None


def _normalized(context: SyncContext, phone: str) -> str:
    try:
        return normalize_phone(phone, context.settings.phone_default_region)
    except InvalidPhoneNumber as exc:
        raise ConversationError(400, "invalid-phone", str(exc)) from None


def resolve_person(context: SyncContext, ref: PersonRef) -> Contact:
    """The platform's contact for `ref`, or `ConversationError(404)`."""
    platform = context.platform
    caps = platform.capabilities
    phone = _normalized(context, ref.phone) if ref.phone else None
    if phone is None and ref.platform_id and caps.lookup_by_platform_id:
        found = platform.find_contact(platform_id=ref.platform_id)
    elif phone is None and ref.crm_id and caps.lookup_by_crm_id and not ref.platform_id:
        found = platform.find_contact(crm_id=ref.crm_id)
    else:
        if phone is None:
            stored = _phone_from_salesforce(
                context,
                by_platform_id=ref.platform_id is not None,
                value=ref.platform_id or ref.crm_id or "",
            )
            if stored is None:
                what = f"platform id {ref.platform_id}" if ref.platform_id else f"Id {ref.crm_id}"
                raise ConversationError(404, "not-found", f"no synced Salesforce record with a phone has {what}")
            try:
                phone = normalize_phone(stored, context.settings.phone_default_region)
            except InvalidPhoneNumber:
                raise ConversationError(
                    404, "not-found", "the linked Salesforce record's phone is not a valid number"
                ) from None
        # A platform that keeps no people knows a person by their phone alone: there is no one to look up.
        found = platform.find_contact(phone=phone) if caps.contact_store else Contact(phone=phone)
        if found is not None and ref.platform_id and found.platform_id != ref.platform_id:
            found = None  # the phone now belongs to another platform contact
    if found is None:
        raise ConversationError(404, "not-found", f"{platform.name} has no such contact")
    return found


def _cached(context: SyncContext, key: str) -> dict[str, Any] | None:
    raw = context.redis.get(key)
    return None if raw is None else dict(json.loads(raw))


def _guarded(fn: Any) -> Any:
    try:
        return fn()
    except SyncFailure as failure:
        error = failure.error
        if error.code is SyncErrorCode.NOT_FOUND:
            raise ConversationError(404, "not-found", error.detail) from None
        if error.transient:
            raise ConversationError(503, str(error.code), error.detail) from None
        raise ConversationError(502, str(error.code), error.detail) from None
    except SalesforceRequestError as exc:
        raise ConversationError(502, "salesforce-rejected", f"Salesforce refused the lookup: {exc}") from None
    except SalesforceError as exc:
        raise ConversationError(503, "salesforce-unavailable", f"Salesforce could not be read: {exc}") from None


def _lookup(context: SyncContext, ref: PersonRef, charge: Charge) -> None:
    """Before a lookup calls out: answer a remembered miss at once, else charge the caller."""
    missed = context.redis.get(MISS_KEY.format(context.platform.name, ref.cache_key()))
    if missed is not None:
        raise ConversationError(404, "not-found", missed.decode() if isinstance(missed, bytes) else str(missed))
    charge()


def _resolve(context: SyncContext, ref: PersonRef) -> Contact:
    """`resolve_person`, remembering a miss for `MISS_TTL` seconds."""
    try:
        return resolve_person(context, ref)
    except ConversationError as exc:
        if exc.status == 404:
            context.redis.set(MISS_KEY.format(context.platform.name, ref.cache_key()), str(exc), ex=MISS_TTL)
        raise


def _history(context: SyncContext, ref: PersonRef, ttl: int, charge: Charge) -> dict[str, Any]:
    key = HISTORY_KEY.format(context.platform.name, ref.cache_key())
    cached = _cached(context, key)
    if cached is not None:
        return cached
    _lookup(context, ref, charge)

    def fetch() -> dict[str, Any]:
        contact = _resolve(context, ref)
        fetched = context.platform.messages(contact, limit=HISTORY_LIMIT)
        return {"contact": _contact_json(contact, ref), "messages": [message_json(m) for m in fetched.messages]}

    value: dict[str, Any] = _guarded(fetch)
    value["messages"].sort(key=_sort_key)
    context.redis.set(key, json.dumps(value, separators=(",", ":")), ex=max(1, ttl))
    return value


def _title(context: SyncContext) -> str:
    """How people call the platform (its registry title), else its name."""
    entry = context.settings.platform_entry
    return entry.title if entry is not None else context.platform.name


def conversation(
    context: SyncContext, ref: PersonRef, *, limit: int, before: str | None, ttl: int, charge: Charge = _free
) -> dict[str, Any]:
    """The `GET …/messages` answer: one page of the conversation, with counts over the whole history."""
    if before is not None:
        decode_cursor(before)  # a bad cursor is the caller's error whatever the platform holds
    if not context.platform.capabilities.conversation_history:
        return {
            "contact": _contact_json(None, ref),
            "supported": False,
            "platform": context.platform.name,
            "platformTitle": _title(context),  # what the record page names ("… does not share conversation history")
            "messages": [],
            "counts": {"incoming": 0, "outgoing": 0},
            "nextBefore": None,
        }
    history = _history(context, ref, ttl, charge)
    messages = history["messages"]
    chosen, next_before = page(messages, limit=limit, before=before)
    incoming = sum(1 for m in messages if m["direction"] == "incoming")
    return {
        "contact": history["contact"],
        "supported": True,
        "platform": context.platform.name,
        "platformTitle": _title(context),
        "messages": chosen,
        "counts": {"incoming": incoming, "outgoing": len(messages) - incoming},
        "nextBefore": next_before,
    }


def campaigns(context: SyncContext, ref: PersonRef, *, ttl: int, charge: Charge = _free) -> dict[str, Any]:
    """The `GET …/campaigns` answer: every campaign the person is or was in."""
    if not context.platform.capabilities.campaigns:
        return {"supported": False, "campaigns": [], "count": 0}
    key = CAMPAIGNS_KEY.format(context.platform.name, ref.cache_key())
    cached = _cached(context, key)
    if cached is None:
        _lookup(context, ref, charge)

        def fetch() -> dict[str, Any]:
            contact = _resolve(context, ref)
            return {
                "contact": _contact_json(contact, ref),
                "campaigns": [campaign_json(c) for c in context.platform.campaigns(contact)],
            }

        cached = _guarded(fetch)
        context.redis.set(key, json.dumps(cached, separators=(",", ":")), ex=max(1, ttl))
    found = cached["campaigns"]
    return {"supported": True, "campaigns": found, "count": len(found)}
