"""Mobile Commons' inbound calls (mData): verified by the secret in our URL path, read into one event.

MC documents no signature, so the secret is the last segment of the mData URL configured in MC
(`webhook_path_for`), compared in constant time. mData is per keyword: calls carry `phone` (10 digits), `keyword`
(lower case), `args`, `profile_id` and `profile_*` fields; `message_id` was never recorded, so the deduplication
key is a hash of phone, text and the minute received (or `message_id` when one is sent). MC answers STOP itself and
documents no STOP reaching mData; a stop word that does arrive (a keyword named like one) is still read as an
opt-out, by the CTIA list below, since that is the safe reading.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.platforms.base import InboundEvent, InboundKind, WebhookRejectedError
from gateway.platforms.mobilecommons.settings import MobileCommonsSettings
from gateway.platforms.mobilecommons.wire import ADDRESS_FIELDS, phone_from_wire

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})


def classify_text(text: str) -> InboundKind:
    """What a text means: a CTIA stop or start word alone is an opt-out or opt-in, anything else a message."""
    word = text.strip().upper()
    if word in STOP_WORDS:
        return InboundKind.OPT_OUT
    if word in START_WORDS:
        return InboundKind.OPT_IN
    return InboundKind.MESSAGE


def parse_mdata(settings: MobileCommonsSettings, path_secret: str, form: Mapping[str, str]) -> list[InboundEvent]:
    """One mData call as events; raises `WebhookRejectedError` (404 for a wrong or unset secret, 400 without a
    readable phone)."""
    expected = settings.webhook_secret
    if not expected:
        raise WebhookRejectedError("MOBILECOMMONS_WEBHOOK_SECRET is not set", status=404)
    if not hmac.compare_digest(path_secret.encode(), expected.reveal().encode()):
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
        address=PostalAddress(**{name: form.get(f"profile_{name}") or None for name in ADDRESS_FIELDS}),
        sms_status=status,
        platform_id=form.get("profile_id") or None,
        crm_id=form.get(f"profile_{settings.crm_id_column}") or None,
        opted_out_at=received if kind is InboundKind.OPT_OUT else None,
    )
    return [
        InboundEvent(
            kind=kind,
            phone=phone,
            idempotency_key=key,
            occurred_at=received,
            body=text,
            contact=contact,
            platform_id=contact.platform_id,
        )
    ]


def webhook_path_for(secret: str) -> str:
    """The path Mobile Commons' mData must call (configure it as the mData URL on the gateway host)."""
    return f"/webhooks/platforms/mobilecommons/{secret}"
