"""The write-back flush: every entry pending when a flush is called is written (by it or by the flusher holding the
lock), entries of syncs still running are left to their own flush instead of written a few at a time, and a status
held up in the queue never lands over the person's later STOP (real Redis, in-process Salesforce)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.freshness import parse_timestamp
from gateway.platforms.recording import RecordingAdapter
from gateway.sync import to_platform, to_salesforce, writeback
from gateway.sync.context import SyncContext
from tests.unit.sync.fakes import FakeSalesforce

ORG = "00D000000000001EAA"
STOPPED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _queue(connection: redis.Redis, count: int) -> None:
    pipe = connection.pipeline()
    writeback.queue_entries(
        pipe, [writeback.WriteBack(result={"direction": "To Platform", "status": "Success"}) for _ in range(count)]
    )
    pipe.execute()


class _BusySalesforce(FakeSalesforce):
    """Salesforce whose first write happens while another sync does `meanwhile` (queues entries, flushes…)."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        super().__init__()
        self.meanwhile: Callable[[], None] | None = meanwhile
        self.calls = 0

    def upsert(self, sobject: str, field: str, records: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return super().upsert(sobject, field, records, **kwargs)


def _logged(salesforce: FakeSalesforce) -> int:
    return len(salesforce.rows("SELECT Id FROM Sync_Result__c"))


def test_a_flush_that_finds_the_lock_taken_gets_its_entries_written_by_the_holder(connection: redis.Redis) -> None:
    salesforce: _BusySalesforce

    def another_sync_ends() -> None:
        _queue(connection, 5)
        assert writeback.flush(connection, salesforce) == 0  # type: ignore[arg-type]  # the lock is held

    salesforce = _BusySalesforce(another_sync_ends)
    _queue(connection, 3)

    written = writeback.flush(connection, salesforce)  # type: ignore[arg-type]

    assert written == 8
    assert writeback.pending_count(connection) == 0, "the other sync's log rows wait for a flush nobody will make"
    assert _logged(salesforce) == 8


def test_entries_of_syncs_still_running_are_left_to_their_own_flush(connection: redis.Redis) -> None:
    salesforce = _BusySalesforce(lambda: _queue(connection, 5))  # a sync still running queues its entries
    _queue(connection, 3)

    assert writeback.flush(connection, salesforce) == 3  # type: ignore[arg-type]
    assert writeback.pending_count(connection) == 5
    assert salesforce.calls == 1

    assert writeback.flush(connection, salesforce) == 5  # type: ignore[arg-type]  # that sync's end
    assert writeback.pending_count(connection) == 0
    assert _logged(salesforce) == 8


def test_everything_pending_at_the_start_is_written_whatever_the_batches(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeback, "BATCH", 3)
    _queue(connection, 5)  # a full batch, then a short one: both were pending when the flush began
    salesforce = FakeSalesforce()

    assert writeback.flush(connection, salesforce) == 5  # type: ignore[arg-type]
    assert writeback.pending_count(connection) == 0


def _inserted(salesforce: FakeSalesforce, record_id: str) -> dict[str, Any]:
    """The event the package publishes for a new Contact, as Salesforce holds it now."""
    held = salesforce.record("Contact", record_id)
    record = {name: held.get(name) for name in ("Id", "LastName", "MobilePhone", "Mobile_Subscriber__c")}
    return {
        "eventUuid": f"e-{record_id}",
        "sobjectType": "Contact",
        "recordId": record_id,
        "operation": "insert",
        "changedFields": [],
        "record": {**record, "SystemModstamp": held["SystemModstamp"]},
        "publishedAt": held["SystemModstamp"],
    }


def _stop(at: datetime = STOPPED) -> Contact:
    """The person's STOP as the platform reports it."""
    return Contact(phone="+14155552671", sms_status=SmsStatus.UNSUBSCRIBED, version=at, opted_out_at=at)


def _subscribed_with_its_write_back_held_up(
    context: SyncContext, salesforce: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A new Contact subscribed on the platform, whose write-back (link, "Subscribed") waits in the queue."""
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    # the sync's own flush does not happen: out of budget, the lock held by a long flush, a Salesforce 503…
    monkeypatch.setattr(writeback, "flush", lambda *args, **kwargs: 0)
    to_platform.sync_events(context, ORG, [_inserted(salesforce, record_id)])
    monkeypatch.undo()
    assert writeback.pending_count(context.redis) == 1
    return record_id


def test_a_write_back_held_up_past_the_persons_stop_links_the_record_and_leaves_it_unsubscribed(
    context: SyncContext,
    recorder: RecordingAdapter,
    salesforce: FakeSalesforce,
    connection: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record_id = _subscribed_with_its_write_back_held_up(context, salesforce, monkeypatch)
    to_salesforce.sync_contacts(context, [_stop()])  # she texts STOP: written at once, in the opt-out lane
    assert salesforce.record("Contact", record_id)["Messaging_Status__c"] == "Unsubscribed"

    writeback.flush(connection, salesforce)  # type: ignore[arg-type]  # the cron's, 30 s later

    record = salesforce.record("Contact", record_id)
    assert (record["Messaging_Status__c"], record["Mobile_Subscriber__c"]) == ("Unsubscribed", False)
    assert parse_timestamp(record["Messaging_Opted_Out_At__c"]) == STOPPED, "the STOP's time was cleared"
    [created] = recorder.recorded()
    assert record["Messaging_Contact_Id__c"] == created.platform_id  # the rest of the write-back landed
    [row] = salesforce.rows(
        f"SELECT Status__c, Message__c FROM Sync_Result__c WHERE Record_Id__c = '{record_id}' "
        "AND Direction__c = 'To Platform'"
    )
    assert row["Status__c"] == "Success"  # the platform write was done
    assert "opted out after this sync read the record" in row["Message__c"]
    assert "Messaging_Status__c" in row["Message__c"]


def test_a_status_planned_after_the_stop_was_recorded_still_lands(
    context: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    to_salesforce.sync_contacts(context, [_stop()])
    salesforce.edit("Contact", record_id, FirstName="Grace")  # a version read after the STOP was recorded
    read = salesforce.record("Contact", record_id)["SystemModstamp"]
    fields = {"Messaging_Status__c": "Subscribed", "Messaging_Opted_Out_At__c": None}  # e.g. after her START
    entry = writeback.WriteBack(
        result={"direction": "To Platform", "status": "Success"},
        object_name="Contact",
        record_id=record_id,
        fields=fields,
        version=parse_timestamp(read).isoformat(),
        status_fields=tuple(fields),
    )
    pipe = connection.pipeline()
    writeback.queue_entries(pipe, [entry])
    pipe.execute()

    writeback.flush(connection, salesforce)  # type: ignore[arg-type]

    record = salesforce.record("Contact", record_id)
    assert (record["Messaging_Status__c"], record["Messaging_Opted_Out_At__c"]) == ("Subscribed", None)


def test_a_write_back_salesforce_keeps_locked_waits_at_the_end_and_is_logged_only_when_it_lands(
    connection: redis.Redis,
) -> None:
    """`UNABLE_TO_LOCK_ROW` after the client's own retries is no refusal: the entry (link, status, log row) goes back
    to the end of the queue, the entries beside it are written, and a later flush writes it."""
    salesforce = FakeSalesforce()
    locked = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671")
    free = salesforce.seed("Contact", LastName="Lovelace", MobilePhone="(415) 555-2672")
    pipe = connection.pipeline()
    writeback.queue_entries(
        pipe,
        [
            writeback.WriteBack(
                result={"direction": "To Platform", "status": "Success", "record_id": rid},
                object_name="Contact",
                record_id=rid,
                fields={"Messaging_Contact_Id__c": f"mc-{n}"},
            )
            for n, rid in enumerate((locked, free))
        ],
    )
    pipe.execute()
    salesforce.locked[locked] = 1

    assert writeback.flush(connection, salesforce) == 1  # type: ignore[arg-type]

    assert salesforce.record("Contact", free)["Messaging_Contact_Id__c"] == "mc-1"
    assert not salesforce.record("Contact", locked).get("Messaging_Contact_Id__c")
    assert writeback.pending_count(connection) == 1 and _logged(salesforce) == 1

    assert writeback.flush(connection, salesforce) == 1  # type: ignore[arg-type]  # the cron's, 30 s later

    assert salesforce.record("Contact", locked)["Messaging_Contact_Id__c"] == "mc-0"
    assert writeback.pending_count(connection) == 0
    statuses = salesforce.rows("SELECT Status__c FROM Sync_Result__c")
    assert [row["Status__c"] for row in statuses] == ["Success", "Success"]
