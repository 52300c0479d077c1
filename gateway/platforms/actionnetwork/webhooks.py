"""Action Network's webhooks: verified by the secret in our URL path, each array element read into one "look at this
person now" event.

Action Network documents no signature, so the secret is the last segment of the webhook URL configured in Action
Network (API & Sync → Webhooks; `webhook_path_for`), compared in constant time. The body is a JSON array; each
element is keyed by its resource type and carries an `idempotency_key` (the dedup key). The person inside holds
only what the activist typed, so the event carries the person's uuid and an unknown status: the sync re-reads the
person by id (`lookup_by_platform_id`) before it writes anything.
"""

from __future__ import annotations

import hmac
from datetime import datetime

from gateway.domain.contact import Contact, SmsStatus
from gateway.platforms.actionnetwork import wire
from gateway.platforms.actionnetwork.settings import ActionNetworkSettings
from gateway.platforms.base import InboundEvent, InboundKind, WebhookRejectedError

NAME = "actionnetwork"


def parse_webhook(
    settings: ActionNetworkSettings, path_secret: str, body: bytes, received: datetime
) -> list[InboundEvent]:
    """One webhook POST as events; raises `WebhookRejectedError` (404 for a wrong or unset secret, 400 for a body
    that is not a JSON array). An element without a person link is skipped: there is nobody to re-read (what it
    typed is not the person's state), and the next poll of changed people finds whatever it changed."""
    expected = settings.webhook_secret
    if not expected:
        raise WebhookRejectedError("ACTIONNETWORK_WEBHOOK_SECRET is not set", status=404)
    if not hmac.compare_digest(path_secret.encode(), expected.reveal().encode()):
        raise WebhookRejectedError("wrong webhook secret", status=404)
    try:
        items = wire.parse_webhook_array(body, crm_id_field=settings.crm_id_field)
    except wire.WebhookFormatError as exc:
        raise WebhookRejectedError(str(exc), status=400) from exc
    events = []
    for item in items:
        if item.person_uuid is None:
            continue
        typed = item.person.contact if item.person else Contact()
        contact = typed.with_changes(
            platform_id=item.person_uuid, sms_status=SmsStatus.UNKNOWN, opted_out_at=None, version=None
        )
        events.append(
            InboundEvent(
                kind=InboundKind.PROFILE_UPDATE,
                phone=contact.phone,
                idempotency_key=f"{NAME}:webhook:{item.idempotency_key}",
                occurred_at=item.occurred_at or received,
                body=item.kind,
                contact=contact,
                platform_id=item.person_uuid,
            )
        )
    return events


def webhook_path_for(secret: str) -> str:
    """The path to configure as the webhook URL in Action Network (API & Sync → Webhooks), on the gateway host."""
    return f"/webhooks/platforms/{NAME}/{secret}"
