"""A platform that keeps no people (`contact_store=False`, no `lookup_*` flag, opt changes pushed): what the sync does
with Salesforce edits and with pushed STOP/START, as an admin sees it on the record and in the sync log.

The platform here is the real Twilio adapter pointed at an address nothing listens on: the sync must never call it
for people (its people methods raise `NotSupportedError`, which would show as a failure)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest
import redis

from gateway.config import Settings
from gateway.domain.contact import Contact, SmsStatus
from gateway.platforms.base import InboundEvent, InboundKind
from gateway.platforms.twilio import TwilioAdapter, TwilioSettings
from gateway.salesforce.results import RecordError, RecordResult
from gateway.sync import from_platform, to_platform, writeback
from gateway.sync.context import SyncContext
from tests.unit.sync.fakes import FakeSalesforce

ORG = "00D000000000001EAA"
PHONE = "+14155552671"
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger_platform() -> Iterator[TwilioAdapter]:
    adapter = TwilioAdapter(
        TwilioSettings(
            account_sid="AC" + "1" * 32,
            auth_token="t" * 32,
            from_numbers=("+12025550100",),
            base_url="http://127.0.0.1:9",
            webhook_base_url="https://gw.example.org",
            max_attempts=1,
        )
    )
    yield adapter
    adapter.close()


@pytest.fixture
def ledger(
    settings: Settings, connection: redis.Redis, ledger_platform: TwilioAdapter, salesforce: FakeSalesforce
) -> SyncContext:
    return SyncContext.build(settings, connection, platform=ledger_platform, salesforce=salesforce)  # type: ignore[arg-type]


class _Jobs:
    """`from_platform.FollowUp` run in line: a drain is done at once."""

    def __init__(self, context: SyncContext) -> None:
        self.context = context

    def drain(self, platform: str) -> None:
        from_platform.drain(self.context, self, platform)

    def sync_contacts(self, contacts: list[dict[str, Any]]) -> None:  # pragma: no cover - no polling here
        raise AssertionError("no poll in these tests")


def _event(record_id: str, *, subscriber: bool, minute: int = 0, **values: Any) -> dict[str, Any]:
    """A relayed change as the package sends it: the watched and matching fields, never the status fields."""
    modstamp = f"2026-11-25T08:{minute:02d}:00.000+0000"
    record = {"Id": record_id, "MobilePhone": "(415) 555-2671", "Mobile_Subscriber__c": subscriber, **values}
    return {
        "eventUuid": f"e-{record_id}-{minute}",
        "sobjectType": "Contact",
        "recordId": record_id,
        "operation": "update",
        "changedFields": ["Mobile_Subscriber__c", *values],
        "record": {**record, "SystemModstamp": modstamp},
        "publishedAt": f"2026-11-25T08:{minute:02d}:00.123Z",
    }


def _results(salesforce: FakeSalesforce, record_id: str | None = None) -> list[dict[str, Any]]:
    where = f" WHERE Record_Id__c = '{record_id}'" if record_id else ""
    return salesforce.rows(
        "SELECT Status__c, Error_Code__c, Message__c, Request_Endpoint__c, Request_Body__c, Direction__c "
        f"FROM Sync_Result__c{where} ORDER BY CreatedDate"
    )


def _pushed(kind: InboundKind, key: str, at: datetime, phone: str = PHONE) -> InboundEvent:
    status = {InboundKind.OPT_OUT: SmsStatus.UNSUBSCRIBED, InboundKind.OPT_IN: SmsStatus.SUBSCRIBED}
    contact = Contact(
        phone=phone,
        sms_status=status.get(kind, SmsStatus.UNKNOWN),
        version=at,
        opted_out_at=at if kind is InboundKind.OPT_OUT else None,
    )
    return InboundEvent(kind=kind, phone=phone, idempotency_key=key, occurred_at=at, contact=contact)


def _stopped_hopper(salesforce: FakeSalesforce) -> str:
    """A Contact the ledger holds unsubscribed (she texted STOP at 07:00)."""
    return salesforce.seed(
        "Contact",
        LastName="Hopper",
        MobilePhone="(415) 555-2671",
        Mobile_Subscriber__c=False,
        Messaging_Status__c="Unsubscribed",
        Messaging_Opted_Out_At__c="2026-11-25T07:00:00.000+0000",
    )


def test_a_salesforce_opt_out_is_recorded_in_the_ledger_without_calling_the_platform(
    ledger: SyncContext, salesforce: FakeSalesforce
) -> None:
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671")
    counts = to_platform.sync_events(ledger, ORG, [_event(record_id, subscriber=False)])

    assert counts == {"synced": 1, "skipped": 0, "failed": 0}
    assert salesforce.record("Contact", record_id)["Messaging_Status__c"] == "Unsubscribed"
    [result] = _results(salesforce, record_id)
    assert (result["Status__c"], result["Request_Endpoint__c"]) == ("Success", "twilio:ledger")


def test_a_resubscribe_of_someone_the_ledger_holds_unsubscribed_is_refused_even_after_redis_is_lost(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    record_id = _stopped_hopper(salesforce)
    connection.flushdb()  # nothing of the ledger lives in Redis: it is read back from the record
    salesforce.edit("Contact", record_id, Mobile_Subscriber__c=True)  # an admin ticks the box again
    counts = to_platform.sync_events(ledger, ORG, [_event(record_id, subscriber=True)])

    assert counts == {"synced": 1, "skipped": 0, "failed": 0}
    [result] = _results(salesforce, record_id)
    assert (result["Status__c"], result["Error_Code__c"]) == ("Partial Failure", "invalid-messaging-status")
    assert salesforce.record("Contact", record_id)["Messaging_Status__c"] == "Unsubscribed"
    assert "Messaging_Status__c" not in json.loads(result["Request_Body__c"])["event"]["record"]  # never replayed


def test_a_retick_after_the_persons_pushed_stop_is_refused_and_told(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    """The record read back whole maps to the values first recorded; the STOP came since, so it is no echo."""
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    to_platform.sync_events(ledger, ORG, [{**_event(record_id, subscriber=True), "operation": "insert"}])
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.OPT_OUT, "twilio:SM1", NOON)], 3600, _Jobs(ledger))
    assert salesforce.record("Contact", record_id)["Messaging_Status__c"] == "Unsubscribed"
    salesforce.edit("Contact", record_id, Mobile_Subscriber__c=True)  # an admin ticks the box again

    counts = to_platform.sync_events(ledger, ORG, [_event(record_id, subscriber=True, minute=5)])

    assert counts == {"synced": 1, "skipped": 0, "failed": 0}
    refused = _results(salesforce, record_id)[-1]
    assert (refused["Status__c"], refused["Error_Code__c"]) == ("Partial Failure", "invalid-messaging-status")
    assert salesforce.record("Contact", record_id)["Messaging_Status__c"] == "Unsubscribed"


def test_the_ledger_is_the_read_back_one_query_for_the_batch(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    """The ledger fields come with the read-back of the batch's records: no second query for the same records."""
    stopped = _stopped_hopper(salesforce)
    leaving = salesforce.seed("Contact", LastName="Lovelace", MobilePhone="(415) 555-2672", Mobile_Subscriber__c=True)
    salesforce.edit("Contact", stopped, Mobile_Subscriber__c=True)  # a re-subscribe the ledger must refuse
    salesforce.edit("Contact", leaving, Mobile_Subscriber__c=False)  # an opt-out the ledger records
    ledger.sync_config()  # the configuration is read once per process, not per batch
    salesforce.reads.clear()

    counts = to_platform.sync_events(
        ledger, ORG, [_event(stopped, subscriber=True), _event(leaving, subscriber=False, minute=1)]
    )

    assert counts == {"synced": 2, "skipped": 0, "failed": 0}
    assert salesforce.record("Contact", leaving)["Messaging_Status__c"] == "Unsubscribed"
    [refused] = _results(salesforce, stopped)
    assert refused["Error_Code__c"] == "invalid-messaging-status"
    reads_of_contacts = [q for q in salesforce.reads if " FROM Contact WHERE Id IN " in q]
    assert len(reads_of_contacts) == 1, salesforce.reads
    assert stopped in reads_of_contacts[0] and leaving in reads_of_contacts[0]


def test_an_edit_that_changes_no_opt_status_is_skipped_with_the_reason(
    ledger: SyncContext, salesforce: FakeSalesforce
) -> None:
    record_id = salesforce.seed(
        "Contact",
        LastName="Hopper",
        MobilePhone="(415) 555-2671",
        Mobile_Subscriber__c=True,
        Messaging_Status__c="Subscribed",
    )
    salesforce.edit("Contact", record_id, FirstName="Grace")  # the edit the event tells of
    counts = to_platform.sync_events(ledger, ORG, [_event(record_id, subscriber=True, FirstName="Grace")])

    assert counts == {"synced": 0, "skipped": 1, "failed": 0}
    [result] = _results(salesforce, record_id)
    assert result["Status__c"] == "Skipped" and "keeps no contacts" in result["Message__c"]


def test_a_pushed_stop_then_the_persons_own_start_survive_the_queue_and_decide(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone="415.555.2671", Mobile_Subscriber__c=True)
    jobs = _Jobs(ledger)
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.OPT_OUT, "twilio:SM1", NOON)], 3600, jobs)
    stopped = salesforce.record("Contact", record_id)
    assert (stopped["Messaging_Status__c"], stopped["Mobile_Subscriber__c"]) == ("Unsubscribed", False)
    assert stopped["Messaging_Opted_Out_At__c"]

    later = NOON + timedelta(minutes=5)
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.OPT_IN, "twilio:SM2", later)], 3600, jobs)
    started = salesforce.record("Contact", record_id)
    assert (started["Messaging_Status__c"], started["Mobile_Subscriber__c"]) == ("Subscribed", True)
    assert not started["Messaging_Opted_Out_At__c"]


def test_a_pushed_help_or_reply_changes_nobody(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone=PHONE, Messaging_Status__c="Subscribed")
    jobs = _Jobs(ledger)
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.MESSAGE, "twilio:SM3", NOON)], 3600, jobs)
    assert salesforce.record("Contact", record_id)["Messaging_Status__c"] == "Subscribed"
    assert _results(salesforce) == []


def test_an_unknown_number_creates_nothing_unless_configured_and_is_logged_once_a_day(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    config = ledger.sync_config()
    ledger._config = replace(
        config,
        objects=MappingProxyType(
            {name: replace(obj, create_unmatched_to_salesforce=False) for name, obj in config.objects.items()}
        ),
    )
    jobs = _Jobs(ledger)
    stranger = "+13125550142"
    for n in range(3):
        event = _pushed(InboundKind.OPT_OUT, f"twilio:SMx{n}", NOON + timedelta(minutes=n), phone=stranger)
        from_platform.accept(connection, "twilio", [event], 3600, jobs)

    assert salesforce.rows("SELECT Id FROM Contact") == []
    [logged] = _results(salesforce)
    assert logged["Status__c"] == "Skipped" and logged["Direction__c"] == "To Salesforce"
    assert stranger in logged["Request_Body__c"]


def test_a_stop_whose_queueing_failed_is_taken_as_new_when_the_platform_delivers_it_again(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    """Claiming the STOP's key and queueing it are one step: a webhook answered 5xx (Redis refused the push here)
    claims nothing, so the platform's redelivery is not taken for a duplicate of a STOP that was never queued."""
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    stop = _pushed(InboundKind.OPT_OUT, "twilio:SM1", NOON)
    pending = from_platform.INBOUND_KEY.format("twilio")
    connection.set(pending, "not a list")  # Redis refuses the push (WRONGTYPE)
    with pytest.raises(redis.ResponseError):
        from_platform.accept(connection, "twilio", [stop], 3600, _Jobs(ledger))
    connection.delete(pending)

    assert from_platform.accept(connection, "twilio", [stop, stop], 3600, _Jobs(ledger)) == 1  # the redelivery
    assert salesforce.record("Contact", record_id)["Messaging_Status__c"] == "Unsubscribed"
    assert from_platform.accept(connection, "twilio", [stop], 3600, _Jobs(ledger)) == 0  # and now a duplicate


def test_a_stop_whose_record_stays_locked_waits_behind_the_others_and_is_written_by_a_later_drain(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    """`UNABLE_TO_LOCK_ROW` still there after the client's own retries is no refusal: the STOP goes back to the end
    of the queue (the STOP beside it is written, nothing waits behind it), no failure is logged meanwhile, and the
    next drain (the cron's, within 30 s) writes it."""
    hopper = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    lovelace = salesforce.seed("Contact", LastName="Lovelace", MobilePhone="(415) 555-2672", Mobile_Subscriber__c=True)
    salesforce.locked[hopper] = 1
    stops = [
        _pushed(InboundKind.OPT_OUT, "twilio:SM1", NOON),
        _pushed(InboundKind.OPT_OUT, "twilio:SM2", NOON, phone="+14155552672"),
    ]
    pending = from_platform.INBOUND_KEY.format("twilio")

    from_platform.accept(connection, "twilio", stops, 3600, _Jobs(ledger))  # drained in line

    assert salesforce.record("Contact", lovelace)["Messaging_Status__c"] == "Unsubscribed"
    assert salesforce.record("Contact", hopper)["Messaging_Status__c"] != "Unsubscribed"
    assert connection.llen(pending) == 1
    assert _results(salesforce, hopper) == []

    from_platform.drain(ledger, _Jobs(ledger), "twilio")  # the cron's drain

    assert connection.llen(pending) == 0
    stopped = salesforce.record("Contact", hopper)
    assert (stopped["Messaging_Status__c"], stopped["Mobile_Subscriber__c"]) == ("Unsubscribed", False)
    assert [row["Status__c"] for row in _results(salesforce, hopper)] == ["Success"]


def test_a_stop_salesforce_keeps_locked_for_a_quarter_of_an_hour_is_logged_to_be_resent(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    hopper = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    salesforce.locked[hopper] = -1
    pending = from_platform.INBOUND_KEY.format("twilio")
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.OPT_OUT, "twilio:SM1", NOON)], 3600, _Jobs(ledger))
    from_platform.drain(ledger, _Jobs(ledger), "twilio", now=datetime.now(UTC) + timedelta(minutes=5))
    assert connection.llen(pending) == 1 and _results(salesforce, hopper) == []

    from_platform.drain(ledger, _Jobs(ledger), "twilio", now=datetime.now(UTC) + writeback.LOCKED_FOR)

    assert connection.llen(pending) == 0
    [failed] = _results(salesforce, hopper)
    assert (failed["Status__c"], failed["Error_Code__c"]) == ("Failure", "salesforce-unavailable")
    assert "UNABLE_TO_LOCK_ROW" in failed["Message__c"] and "Resend" in failed["Message__c"]
    assert json.loads(failed["Request_Body__c"])["contact"]  # what the resend sends again


def test_a_record_salesforce_refuses_is_final_and_leaves_the_queue(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)

    def update(sobject: str, records: Any, **options: Any) -> list[RecordResult]:
        error = RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Opt-outs need a reason", ("Messaging_Status__c",))
        return [RecordResult(index=i, id=None, success=False, errors=(error,)) for i, _ in enumerate(records)]

    monkeypatch.setattr(salesforce, "update", update)
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.OPT_OUT, "twilio:SM1", NOON)], 3600, _Jobs(ledger))

    assert connection.llen(from_platform.INBOUND_KEY.format("twilio")) == 0
    [refused] = _results(salesforce, record_id)
    assert (refused["Status__c"], refused["Error_Code__c"]) == ("Failure", "salesforce-rejected")
    assert "Opt-outs need a reason" in refused["Message__c"]


def _household(salesforce: FakeSalesforce) -> tuple[str, str]:
    """A Contact and a Lead that both hold Hopper's number, typed two ways, both subscribed."""
    contact = salesforce.seed(
        "Contact",
        LastName="Hopper",
        MobilePhone="(415) 555-2671",
        Mobile_Subscriber__c=True,
        Messaging_Status__c="Subscribed",
    )
    lead = salesforce.seed(
        "Lead",
        LastName="Hopper",
        Company="Navy",
        MobilePhone="415-555-2671",
        Mobile_Subscriber__c=True,
        Messaging_Status__c="Subscribed",
    )
    return contact, lead


def test_a_stop_from_a_phone_a_contact_and_a_lead_share_is_recorded_on_both_and_logged(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    """The number said STOP: neither record may be texted, though which one is the person is for an admin to say."""
    contact, lead = _household(salesforce)
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.OPT_OUT, "twilio:SM1", NOON)], 3600, _Jobs(ledger))

    assert connection.llen(from_platform.INBOUND_KEY.format("twilio")) == 0
    for sobject, record_id in (("Contact", contact), ("Lead", lead)):
        record = salesforce.record(sobject, record_id)
        assert (record["Messaging_Status__c"], record["Mobile_Subscriber__c"]) == ("Unsubscribed", False), sobject
        assert record["Messaging_Opted_Out_At__c"].startswith("2026-11-25T12:00:00"), sobject
    [logged] = _results(salesforce)
    assert (logged["Status__c"], logged["Error_Code__c"]) == (
        "Partial Failure",
        "multiple-salesforce-matches-opted-out",
    )
    assert contact in logged["Message__c"] and lead in logged["Message__c"]
    assert "recorded on each" in logged["Message__c"]


def test_a_start_from_a_shared_phone_subscribes_neither(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    contact, lead = _household(salesforce)
    jobs = _Jobs(ledger)
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.OPT_OUT, "twilio:SM1", NOON)], 3600, jobs)
    later = NOON + timedelta(minutes=5)
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.OPT_IN, "twilio:SM2", later)], 3600, jobs)

    assert salesforce.record("Contact", contact)["Messaging_Status__c"] == "Unsubscribed"
    assert salesforce.record("Lead", lead)["Messaging_Status__c"] == "Unsubscribed"
    refused = _results(salesforce)[-1]
    assert (refused["Status__c"], refused["Error_Code__c"]) == ("Failure", "multiple-salesforce-matches")


def test_a_write_back_held_up_past_a_shared_phones_stop_does_not_undo_it(
    ledger: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Salesforce edit subscribed the Contact and its write-back waits (the budget, a 503…); the number's STOP,
    recorded on the Contact and the Lead that share it, stands when the write-back lands."""
    record_id = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    flush = writeback.flush
    monkeypatch.setattr(writeback, "flush", lambda *args, **kwargs: 0)
    to_platform.sync_events(ledger, ORG, [{**_event(record_id, subscriber=True), "operation": "insert"}])
    lead = salesforce.seed(
        "Lead", LastName="Hopper", Company="Navy", MobilePhone="415-555-2671", Mobile_Subscriber__c=True
    )
    from_platform.accept(connection, "twilio", [_pushed(InboundKind.OPT_OUT, "twilio:SM1", NOON)], 3600, _Jobs(ledger))

    flush(connection, salesforce)  # type: ignore[arg-type]  # the cron's, 30 s later

    for sobject, shared in (("Contact", record_id), ("Lead", lead)):
        record = salesforce.record(sobject, shared)
        assert (record["Messaging_Status__c"], record["Mobile_Subscriber__c"]) == ("Unsubscribed", False), sobject
        assert record["Messaging_Opted_Out_At__c"], sobject
