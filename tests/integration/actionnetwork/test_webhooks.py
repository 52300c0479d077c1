"""Webhook arrays: what the emulator pushes when activists act, and what the adapter makes of them."""

from __future__ import annotations

import pytest
import redis

from gateway import jobs
from gateway.domain.contact import SmsStatus
from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter
from gateway.platforms.base import InboundKind, WebhookRejectedError

from .conftest import WEBHOOK_SECRET, Control, Receiver


@pytest.fixture
def wired(control: Control, receiver: Receiver, emulator: object) -> Control:
    emulator.app.webhook_url = receiver.url  # type: ignore[attr-defined]
    return control


def test_activists_acting_push_one_array_whose_elements_become_person_events(
    adapter: ActionNetworkAdapter, wired: Control, receiver: Receiver
) -> None:
    sent = wired.post(
        "action",
        {
            "actions": [
                {"email": "mo@example.org", "given_name": "Mo", "phone": "+12025550301", "sms_opt_in": True},
                {"email": "ni@example.org", "type": "osdi:signature"},
            ]
        },
    )
    assert sent["delivered"] == 200
    [(path, body)] = receiver.calls
    secret = path.rsplit("/", 1)[-1]
    events = adapter.parse_webhook(secret, {"Content-Type": "application/json"}, {}, body)
    assert [e.kind for e in events] == [InboundKind.PROFILE_UPDATE, InboundKind.PROFILE_UPDATE]
    assert [e.platform_id for e in events] == sent["people"]  # what the sync re-reads the person by
    assert [e.idempotency_key for e in events] == [f"actionnetwork:webhook:{k}" for k in sent["idempotency_keys"]]
    assert events[0].phone == "+12025550301" and events[0].body == "osdi:submission"
    assert events[0].contact is not None and events[0].contact.sms_status is SmsStatus.UNKNOWN  # re-read decides
    person = adapter.find_contact(platform_id=sent["people"][0])
    assert person is not None and person.sms_status is SmsStatus.SUBSCRIBED


def test_a_redelivered_array_is_accepted_once(
    adapter: ActionNetworkAdapter, wired: Control, receiver: Receiver, conn: redis.Redis
) -> None:
    wired.post("action", {"email": "oz@example.org"})
    wired.post("webhooks/replay")
    first, second = (adapter.parse_webhook(WEBHOOK_SECRET, {}, {}, body) for _, body in receiver.calls)
    assert [e.idempotency_key for e in first] == [e.idempotency_key for e in second]
    assert jobs.accept_platform_events(conn, adapter.name, first, 3600) == 1
    assert jobs.accept_platform_events(conn, adapter.name, second, 3600) == 0


def test_a_wrong_secret_or_a_body_that_is_not_an_array_is_rejected(adapter: ActionNetworkAdapter) -> None:
    with pytest.raises(WebhookRejectedError) as wrong:
        adapter.parse_webhook("guess", {}, {}, b"[]")
    assert wrong.value.status == 404
    with pytest.raises(WebhookRejectedError) as bad:
        adapter.parse_webhook(WEBHOOK_SECRET, {}, {}, b'{"osdi:submission": {}}')
    assert bad.value.status == 400
    assert adapter.parse_webhook(WEBHOOK_SECRET, {}, {}, b"[]") == []
