"""A bulk run's links written back: a flush of the run's tail writes whole sObject Collections calls and leaves the
rest for the next, the run's end writes everything, it waits for a flush under way instead of giving up, and the
run's statuses never land over a STOP recorded meanwhile (real Redis, in-process Salesforce)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.freshness import parse_timestamp
from gateway.sync import fencing, to_salesforce
from gateway.sync.bulk import links
from gateway.sync.bulk.runs import key
from gateway.sync.context import SyncContext
from tests.unit.sync.fakes import FakeSalesforce

RUN = "run-links"


class _CountedSalesforce(FakeSalesforce):
    """Salesforce that remembers the records of each update (the client sends them 200 a Collections call)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def update(self, sobject: str, records: Sequence[dict[str, Any]], **kwargs: Any) -> Any:
        self.calls.append(len(records))
        return super().update(sobject, records, **kwargs)


@pytest.fixture
def salesforce() -> _CountedSalesforce:
    return _CountedSalesforce()


def _owe(context: SyncContext, salesforce: FakeSalesforce, count: int) -> list[str]:
    ids = [salesforce.seed("Contact", LastName=f"Linked{n}") for n in range(count)]
    pipe = context.redis.pipeline()
    for n, record_id in enumerate(ids):
        links.owe(pipe, RUN, links.Owed("Contact", record_id, {"Messaging_Contact_Id__c": f"mc-{n}"}))
    pipe.execute()
    return ids


def _linked(salesforce: FakeSalesforce) -> int:
    return len(salesforce.rows("SELECT Id FROM Contact WHERE Messaging_Contact_Id__c != null"))


def test_a_tail_flush_writes_whole_collections_calls_and_the_runs_end_the_rest(
    context: SyncContext, salesforce: _CountedSalesforce
) -> None:
    _owe(context, salesforce, 450)

    assert links.flush(context, RUN, at_least=200) == 400
    assert salesforce.calls == [400], "two whole calls: a call for 50 records costs as much as one for 200"
    assert links.owed(context.redis, RUN, "Contact") == 50
    assert links.flush(context, RUN, at_least=200) == 0  # less than a call's worth: left for later

    assert links.flush(context, RUN, everything=True) == 50
    assert salesforce.calls == [400, 50]
    assert links.owed(context.redis, RUN, "Contact") == 0
    assert _linked(salesforce) == 450


def test_the_runs_end_waits_for_a_flush_under_way_then_writes_the_rest(
    context: SyncContext, salesforce: _CountedSalesforce, connection: redis.Redis
) -> None:
    _owe(context, salesforce, 30)
    holder = fencing.claim(connection, key(RUN, "flush_lock"), links.LOCK_SECONDS)  # a mid-run flush job writing
    assert holder is not None

    with pytest.raises(links.FlushBusy):
        links.flush(context, RUN, everything=True)  # not waiting: two flushers would send the same batch twice
    assert salesforce.calls == []

    released = threading.Timer(0.3, fencing.release, (connection, holder))
    released.start()
    started = time.monotonic()
    assert links.flush(context, RUN, everything=True, wait=10.0) == 30
    released.join()
    assert 0.3 <= time.monotonic() - started < 5.0, "it waited for the holder, and no longer"
    assert salesforce.calls == [30]
    assert _linked(salesforce) == 30


def test_the_runs_end_does_not_wait_for_a_lock_held_long_since(
    context: SyncContext, salesforce: _CountedSalesforce, connection: redis.Redis
) -> None:
    """A lock taken a minute ago is a long Bulk job or a flusher that died holding it: waiting would only hold the
    worker (the finish looks again in a later job, and the lock lapses after `LOCK_SECONDS`)."""
    _owe(context, salesforce, 30)
    assert fencing.claim(connection, key(RUN, "flush_lock"), links.LOCK_SECONDS) is not None
    connection.expire(key(RUN, "flush_lock"), links.LOCK_SECONDS - 60)

    started = time.monotonic()
    with pytest.raises(links.FlushBusy):
        links.flush(context, RUN, everything=True, wait=10.0)
    assert time.monotonic() - started < 1.0
    assert salesforce.calls == []
    assert links.owed(context.redis, RUN, "Contact") == 30  # nothing lost: the next look writes them


def test_a_runs_subscribed_does_not_land_over_a_stop_drained_during_the_run_and_its_link_does(
    context: SyncContext, salesforce: _CountedSalesforce
) -> None:
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    read = parse_timestamp(salesforce.record("Contact", record_id)["SystemModstamp"])  # the chunk's read of it
    owed = {
        "Messaging_Contact_Id__c": "mc-1",
        "Messaging_Status__c": "Subscribed",
        "Messaging_Opted_Out_At__c": None,
        "Messaging_Last_Synced_At__c": "2026-11-25T11:00:00.000+0000",
    }
    pipe = context.redis.pipeline()
    links.owe(pipe, RUN, links.Owed("Contact", record_id, owed, read))
    pipe.execute()
    stopped = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    stop = Contact(phone="+14155552671", sms_status=SmsStatus.UNSUBSCRIBED, version=stopped, opted_out_at=stopped)
    to_salesforce.sync_contacts(context, [stop])  # she texts STOP while the run goes on: drained at once

    assert links.flush(context, RUN, everything=True) == 1  # the run's end

    record = salesforce.record("Contact", record_id)
    assert (record["Messaging_Status__c"], record["Mobile_Subscriber__c"]) == ("Unsubscribed", False)
    assert parse_timestamp(record["Messaging_Opted_Out_At__c"]) == stopped, "the STOP's time was cleared"
    assert record["Messaging_Contact_Id__c"] == "mc-1"  # the link the run owed landed all the same
    assert record["Messaging_Last_Synced_At__c"]
    assert links.owed(context.redis, RUN, "Contact") == 0


def test_a_link_salesforce_keeps_locked_waits_for_a_later_flush_and_only_the_runs_end_gives_up(
    context: SyncContext, salesforce: _CountedSalesforce
) -> None:
    ids = _owe(context, salesforce, 400)
    salesforce.locked[ids[0]] = 1  # still locked after the client's own retries, once
    salesforce.locked[ids[1]] = -1  # locked for good

    assert links.flush(context, RUN, at_least=200) == 398
    assert links.owed(context.redis, RUN, "Contact") == 2  # kept, not counted as errors
    assert context.redis.hgetall(key(RUN, "errors")) == {}

    assert links.flush(context, RUN, everything=True) == 2
    assert _linked(salesforce) == 399
    assert links.owed(context.redis, RUN, "Contact") == 0
    assert context.redis.hgetall(key(RUN, "errors")) == {b"salesforce-writeback:UNABLE_TO_LOCK_ROW": b"1"}
