"""The poll queues what the platform changed and leaves out only what the job would skip first: the gateway's own
writes read back and versions already synced, judged on the newest view of each person (real Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from gateway.domain.contact import Contact, SmsStatus
from gateway.platforms.base import Capabilities
from gateway.sync import from_platform, state
from gateway.sync.context import SyncContext

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@dataclass
class _Feed:
    """A platform whose change feed lists `people` (several views of one person included)."""

    people: list[Contact]
    name: str = "feed"
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(change_feed=True))

    def changed_since(self, since: datetime, until: datetime) -> Iterator[Contact]:
        return iter(self.people)


class _Queued:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def drain(self, platform: str) -> None:
        pass

    def sync_contacts(self, contacts: list[dict[str, Any]]) -> None:
        self.batches.append(contacts)


def _ada(**changes: Any) -> Contact:
    base = Contact(phone="+14155550123", first_name="Ada", platform_id="p1", sms_status=SmsStatus.SUBSCRIBED)
    return base.with_changes(**changes)


def _written_by_the_gateway(connection: redis.Redis, view: Contact) -> None:
    pipe = connection.pipeline()
    state.mark(pipe, [state.platform_written(view)])
    pipe.execute()


def _poll(context: SyncContext, people: list[Contact]) -> list[dict[str, Any]]:
    queued = _Queued()
    feed = SyncContext.build(context.settings, context.redis, platform=_Feed(people))  # type: ignore[arg-type]
    from_platform.poll(feed, queued, now=T0 + timedelta(minutes=1))
    return [person for batch in queued.batches for person in batch]


def test_the_gateways_own_write_read_back_queues_nothing(context: SyncContext, connection: redis.Redis) -> None:
    ours = _ada(first_name="Grace", version=T0)
    _written_by_the_gateway(connection, ours)

    assert _poll(context, [ours]) == []


def test_an_older_view_listed_beside_the_gateways_write_does_not_pass_alone(
    context: SyncContext, connection: redis.Redis
) -> None:
    # the feed lists the person twice: before the gateway wrote a Salesforce edit to them, and after (its own write)
    before = _ada(version=T0)
    ours = _ada(first_name="Grace", version=T0 + timedelta(seconds=5))
    _written_by_the_gateway(connection, ours)

    assert _poll(context, [before, ours]) == [], "the older view would overwrite the edit in Salesforce"


def test_a_stop_after_the_gateways_write_is_queued(context: SyncContext, connection: redis.Redis) -> None:
    ours = _ada(first_name="Grace", version=T0)
    _written_by_the_gateway(connection, ours)
    stop = ours.with_changes(sms_status=SmsStatus.UNSUBSCRIBED, version=T0 + timedelta(seconds=5))

    (queued,) = _poll(context, [ours, stop])
    assert queued["sms_status"] == SmsStatus.UNSUBSCRIBED.value
