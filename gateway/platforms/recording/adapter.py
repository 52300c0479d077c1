"""A platform adapter that records what it is asked to do, in Redis, instead of texting anyone.

For tests and dry runs (`MESSAGING_PLATFORM=recording`): every upsert is appended to a log and the latest view of
each contact is kept, both in Redis, so a test can see across worker processes exactly what the platform got.
Its settings (`RecordingSettings.delay_ms`) slow each write's answer, so a test can stop or kill a worker in the middle
of a job. The write is recorded before the wait, as a real platform applies a request while its answer is on the way:
a worker stopped during the call has already written, and one that wakes up late writes nothing more by itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

import redis

from gateway import sendguard
from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.platforms.base import (
    Campaign,
    InboundEvent,
    MessagePage,
    NotSupportedError,
    WebhookReply,
)
from gateway.platforms.recording import CAPABILITIES
from gateway.platforms.recording.settings import RecordingSettings

LOG_KEY = "gateway:recording:log"
CONTACTS_KEY = "gateway:recording:contacts"


def _to_json(contact: Contact) -> str:
    data = {f.name: getattr(contact, f.name) for f in fields(contact)}
    data["address"] = asdict(contact.address)
    data["custom_fields"] = dict(contact.custom_fields)
    for key in ("version", "opted_out_at"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return json.dumps(data, sort_keys=True)


def _from_json(raw: bytes | str) -> Contact:
    data: dict[str, Any] = json.loads(raw)
    data["address"] = PostalAddress(**data["address"])
    data["sms_status"] = SmsStatus(data["sms_status"])
    for key in ("version", "opted_out_at"):
        if data[key] is not None:
            data[key] = datetime.fromisoformat(data[key])
    return Contact().with_changes(**data)


class RecordingAdapter:
    name = "recording"
    capabilities = CAPABILITIES
    webhook_reply = WebhookReply()

    def __init__(self, connection: redis.Redis, settings: RecordingSettings | None = None) -> None:
        self.redis = connection
        self.delay = (settings or RecordingSettings()).delay_ms / 1000

    @classmethod
    def build(cls, settings: RecordingSettings | None, connection: redis.Redis) -> RecordingAdapter:
        """The registry's constructor (`PlatformEntry.adapter`: settings, then the deployment's Redis)."""
        return cls(connection, settings)

    def recorded(self) -> list[Contact]:
        """Every upsert received, in order (a test's view of 'what the platform saw')."""
        return [_from_json(raw) for raw in self.redis.lrange(LOG_KEY, 0, -1)]

    def find_contact(
        self, *, platform_id: str | None = None, crm_id: str | None = None, phone: str | None = None
    ) -> Contact | None:
        key = platform_id or crm_id or phone
        raw = self.redis.hget(CONTACTS_KEY, f"crm:{crm_id}") if crm_id else None
        if raw is None and key:
            for value in self.redis.hvals(CONTACTS_KEY):
                contact = _from_json(value)
                if key in (contact.platform_id, contact.phone):
                    return contact
        return _from_json(raw) if raw else None

    def upsert_contact(self, contact: Contact, *, subscribe: bool) -> Contact:
        stored = contact.with_changes(
            platform_id=contact.platform_id or f"rec-{contact.crm_id or contact.phone}",
            sms_status=SmsStatus.SUBSCRIBED if subscribe else contact.sms_status,
        )
        raw = _to_json(stored)
        sendguard.check()  # as every adapter does right before a request leaves
        pipe = self.redis.pipeline()
        pipe.rpush(LOG_KEY, raw)
        pipe.hset(CONTACTS_KEY, f"crm:{stored.crm_id}", raw)
        pipe.execute()
        if self.delay:
            time.sleep(self.delay)  # the answer is on its way
        return stored

    def opt_out(self, contact: Contact) -> Contact:
        return self.upsert_contact(contact.with_changes(sms_status=SmsStatus.UNSUBSCRIBED), subscribe=False)

    def find_contacts_by_phone(self, phones: list[str]) -> dict[str, Contact]:
        raise NotSupportedError(self.name, "looking contacts up a hundred phones at a time")

    def changed_since(self, since: datetime, until: datetime) -> Iterator[Contact]:
        raise NotSupportedError(self.name, "listing changed contacts")

    def messages(self, contact: Contact, *, limit: int = 50, before: str | None = None) -> MessagePage:
        raise NotSupportedError(self.name, "conversation history")

    def campaigns(self, contact: Contact) -> list[Campaign]:
        raise NotSupportedError(self.name, "campaigns")

    def parse_webhook(
        self, path_secret: str, headers: Mapping[str, str], form: Mapping[str, str], body: bytes, *, url: str = ""
    ) -> list[InboundEvent]:
        raise NotSupportedError(self.name, "inbound webhooks")

    def check(self) -> None:
        self.redis.ping()

    def close(self) -> None:
        """Nothing to release: the Redis connection belongs to the caller."""
