"""Mobile Commons' wire format: E.164 ↔ MC phones, MC timestamps, `<response>` XML, error ids and HTTP failures
mapped to the error dictionary, profiles as `Contact`s, message histories and their paging. Pure functions.

Assumptions where MC's public contract is UNCONFIRMED are listed in `gateway.platforms.mobilecommons`.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from types import MappingProxyType

from defusedxml import ElementTree as SafeET

from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.platforms.base import Direction, Message, MessagePage, MessageReason

# message_type → (direction, reason). UNCONFIRMED vocabulary (see `gateway.platforms.mobilecommons`).
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

PROFILE_FIELDS = ("first_name", "last_name", "email")
ADDRESS_FIELDS = ("street1", "street2", "city", "state", "postal_code", "country")


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


# What only a document type declaration can bring (entity declarations, external references: what defusedxml
# forbids), and the zero bytes of a UTF-16 or UTF-32 document, in which those markers would not be seen as bytes.
_NEEDS_DEFUSEDXML = (b"<!DOCTYPE", b"<!ENTITY", b"\x00")


def parse_response(body: bytes | str) -> ET.Element:
    """The `<response>` element of an MC answer; no entity is declared and nothing external is read.

    Mobile Commons answers carry no document type declaration (docs/platforms/mobilecommons.md, "Answers"): such
    a document can declare no entity and reference nothing outside itself, and the standard library's C parser reads
    it (expat's own limits hold against entity amplification). Any document that holds a declaration or is not in an
    ASCII-compatible encoding goes through defusedxml, which refuses entities and external references: about three
    times slower, so not the common path (measured 50 against 18 µs a profile, 12 % of a syncing worker's CPU)."""
    raw = body.encode() if isinstance(body, str) else body  # only to look for the markers: `body` is parsed
    if any(marker in raw for marker in _NEEDS_DEFUSEDXML):
        root: ET.Element = SafeET.fromstring(body)
    else:
        root = ET.fromstring(body)  # noqa: S314 - no DTD in it (checked above), so nothing to defuse
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


def error_for_http(status: int, body: str, location: str | None = None) -> SyncError | None:
    """Transport-level failures (the body is MC's HTML page; `location`, a redirect's target); None for 2xx."""
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
    if 300 <= status < 400:  # not followed (gateway.http_pool): a redirected form would be re-sent without its fields
        where = f" to {location}" if location else ""
        if status in (301, 308):  # moved for good: the base URL is out of date
            return SyncError(
                SyncErrorCode.CONFIGURATION,
                f"Mobile Commons answered HTTP {status}, moved{where}; the gateway does not follow redirects. Check "
                "MOBILECOMMONS_BASE_URL: it should be the API's own address, such as https://secure.mcommons.com/api/.",
            )
        return SyncError(  # 302, 303, 307: a detour for now (a failover, maintenance): retried
            SyncErrorCode.PLATFORM_UNAVAILABLE,
            f"Mobile Commons answered HTTP {status}, a temporary redirect{where}, which the gateway does not follow.",
        )
    if status >= 500:
        if "heavy load" in body:
            reason = "is under heavy load"
        elif "Site Maintenance" in body:
            reason = "is down for maintenance"
        else:
            reason = "failed"
        return SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, f"Mobile Commons {reason} (HTTP {status}).")
    return SyncError(SyncErrorCode.PLATFORM_REJECTED, f"Mobile Commons answered HTTP {status}.")


def _word(value: str | None) -> str:
    """A status as letters only, lower case: "Opted-Out", "Opted Out" and "opted_out" all read "optedout"."""
    return "".join(ch for ch in (value or "").lower() if ch.isalpha())


def subscription_status(sub: ET.Element) -> SmsStatus:
    """A `<subscription>`'s opt status. Subscribed only when its `status` reads "Active" (any case or spelling) and
    no opt-out is later than its activation (within one second, the status decides); anything else, including a
    status never seen, is unsubscribed, so an unknown word never makes someone textable. Whether MC clears
    `opted_out_at` when a person texts START again is UNCONFIRMED (profiles keep theirs): an opt-out older than
    `activated_at` is read as history."""
    if not _word(sub.get("status")).startswith("active"):
        return SmsStatus.UNSUBSCRIBED
    opted_out = parse_time(sub.get("opted_out_at"))
    activated = parse_time(sub.get("activated_at"))
    if opted_out is not None and (activated is None or opted_out > activated):
        return SmsStatus.UNSUBSCRIBED
    return SmsStatus.SUBSCRIBED


def profile_status(profile: ET.Element) -> SmsStatus:
    """A profile's opt status from its `<status>` alone (no campaign configured): "Active Subscriber" in any case is
    subscribed (even with an old `opted_out_at`: recorded profiles keep it once active again); otherwise an
    `opted_out_at` means unsubscribed ("Undeliverable" after a STOP or an API opt-out); anything else, e.g.
    "Profiles with no Subscriptions", is unknown."""
    if _word(_text(profile, "status")).startswith("active"):
        return SmsStatus.SUBSCRIBED
    if parse_time(_text(profile, "opted_out_at")) is not None:
        return SmsStatus.UNSUBSCRIBED
    return SmsStatus.UNKNOWN


def profile_to_contact(profile: ET.Element, *, crm_id_column: str, campaign_id: str | None) -> Contact:
    """A `<profile>` element as our Contact (custom columns except the CRM-id column become custom_fields; their
    text is stripped of the padding MC puts around it, and a column listed empty is no value)."""
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
    status = profile_status(profile)
    if campaign_id is not None and status is not SmsStatus.UNSUBSCRIBED:
        # the campaign's subscription decides, unless the person opted out of everything (a STOP covers every
        # campaign, even one they never joined: it must still reach Salesforce)
        mine = [s for s in subscriptions if s.get("campaign_id") == str(campaign_id)]
        status = subscription_status(mine[0]) if mine else SmsStatus.UNKNOWN
        if mine and status is SmsStatus.UNSUBSCRIBED:
            opted_out_at = parse_time(mine[0].get("opted_out_at")) or opted_out_at
    return Contact(
        phone=phone_from_wire(_text(profile, "phone_number")),
        first_name=_text(profile, "first_name"),
        last_name=_text(profile, "last_name"),
        email=_text(profile, "email"),
        address=PostalAddress(**{name: _text(address, name) for name in ADDRESS_FIELDS}),
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
