"""Salesforce → platform, as an admin and the person texted would see it: what reaches the platform, what is written
back to the Salesforce record, and what the sync log says (recording platform, real Redis, in-process Salesforce)."""

from __future__ import annotations

import json
from typing import Any

from gateway.domain.contact import Contact, SmsStatus
from gateway.platforms.recording import RecordingAdapter
from gateway.sync import to_platform
from gateway.sync.context import SyncContext
from tests.unit.sync.fakes import FakeSalesforce

ORG = "00D000000000001EAA"


def _event(
    record_id: str,
    *,
    modstamp: str = "2026-11-25T08:00:00.000+0000",
    operation: str = "update",
    changed: tuple[str, ...] = ("FirstName", "MobilePhone", "Mobile_Subscriber__c"),
    **values: Any,
) -> dict[str, Any]:
    record = {
        "Id": record_id,
        "FirstName": "Grace",
        "LastName": "Hopper",
        "MobilePhone": "(415) 555-2671",
        "Email": "grace@example.org",
        "Mobile_Subscriber__c": True,
        "SystemModstamp": modstamp,
        **values,
    }
    return {
        "eventUuid": f"e-{record_id}-{modstamp}",
        "sobjectType": "Contact",
        "recordId": record_id,
        "operation": operation,
        "changedFields": list(changed),
        "record": record,
        "publishedAt": "2026-11-25T08:00:00.123Z",
    }


def _results(salesforce: FakeSalesforce, record_id: str) -> list[dict[str, Any]]:
    return salesforce.rows(
        "SELECT Status__c, Error_Code__c, Message__c, Request_Body__c, Platform_Contact_Id__c, Direction__c "
        f"FROM Sync_Result__c WHERE Record_Id__c = '{record_id}' ORDER BY CreatedDate"
    )


def _contact(salesforce: FakeSalesforce) -> str:
    return salesforce.seed("Contact", FirstName="Grace", LastName="Hopper")


def test_a_new_contact_reaches_the_platform_and_salesforce_learns_its_platform_id(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    counts = to_platform.sync_events(context, ORG, [_event(record_id, operation="insert")])

    assert counts == {"synced": 1, "skipped": 0, "failed": 0}
    [sent] = recorder.recorded()
    assert (sent.phone, sent.first_name, sent.email, sent.crm_id) == (
        "+14155552671",
        "Grace",
        "grace@example.org",
        record_id,
    )
    assert sent.sms_status is SmsStatus.SUBSCRIBED
    written = salesforce.record("Contact", record_id)
    assert written["Messaging_Contact_Id__c"] == sent.platform_id
    assert written["Messaging_Last_Synced_At__c"]
    [result] = _results(salesforce, record_id)
    assert (result["Direction__c"], result["Status__c"]) == ("To Platform", "Success")
    assert result["Platform_Contact_Id__c"] == sent.platform_id
    body = json.loads(result["Request_Body__c"])
    assert body["event"]["recordId"] == record_id  # what a resend replays
    assert body["platformRequest"]["phone"] == "+14155552671"


def test_a_replayed_older_version_changes_nothing(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    to_platform.sync_events(context, ORG, [_event(record_id, modstamp="2026-11-25T09:00:00.000+0000")])
    older = _event(record_id, modstamp="2026-11-25T08:00:00.000+0000", FirstName="Old Grace")

    counts = to_platform.sync_events(context, ORG, [older])

    assert counts == {"synced": 0, "skipped": 1, "failed": 0}
    assert [c.first_name for c in recorder.recorded()] == ["Grace"]
    assert len(_results(salesforce, record_id)) == 1


def test_of_two_versions_in_one_batch_only_the_newest_is_sent(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    newer = _event(record_id, modstamp="2026-11-25T09:00:00.000+0000", FirstName="New Grace")
    older = _event(record_id, modstamp="2026-11-25T08:00:00.000+0000", FirstName="Old Grace")

    to_platform.sync_events(context, ORG, [newer, older])

    assert [c.first_name for c in recorder.recorded()] == ["New Grace"]


def test_an_echo_of_what_was_sent_is_not_sent_again(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    to_platform.sync_events(context, ORG, [_event(record_id, modstamp="2026-11-25T08:00:00.000+0000")])
    # The gateway's own write-back bumps SystemModstamp; the values the platform cares about are the same.
    echo = _event(record_id, modstamp="2026-11-25T08:00:05.000+0000")

    counts = to_platform.sync_events(context, ORG, [echo])

    assert counts["skipped"] == 1
    assert len(recorder.recorded()) == 1
    assert len(_results(salesforce, record_id)) == 1


def test_a_salesforce_edit_never_resubscribes_someone_who_texted_stop(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    recorder.opt_out(Contact(phone="+14155552671", first_name="Grace", crm_id=record_id, platform_id="rec-ada"))
    before = len(recorder.recorded())
    edit = _event(record_id, FirstName="Still Grace", Mobile_Subscriber__c=True)

    counts = to_platform.sync_events(context, ORG, [edit])

    assert counts == {"synced": 1, "skipped": 0, "failed": 0}
    after = recorder.recorded()[before:]
    assert [c.first_name for c in after] == ["Still Grace"]  # the rest of the edit goes through
    assert all(c.sms_status is not SmsStatus.SUBSCRIBED for c in after)
    assert recorder.find_contact(crm_id=record_id).sms_status is SmsStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    [result] = _results(salesforce, record_id)
    assert (result["Status__c"], result["Error_Code__c"]) == ("Partial Failure", "invalid-messaging-status")
    assert "STOP" in result["Message__c"]
    assert salesforce.record("Contact", record_id)["Messaging_Status__c"] == "Unsubscribed"


def test_a_phone_that_cannot_be_real_is_refused_with_a_reason_and_nothing_is_sent(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)

    counts = to_platform.sync_events(context, ORG, [_event(record_id, operation="insert", MobilePhone="555-01")])

    assert counts == {"synced": 0, "skipped": 0, "failed": 1}
    assert recorder.recorded() == []
    [result] = _results(salesforce, record_id)
    assert (result["Status__c"], result["Error_Code__c"]) == ("Failure", "invalid-phone")
    # a failure is not marked done: once the phone is fixed, the next edit goes through
    fixed = _event(record_id, modstamp="2026-11-25T08:01:00.000+0000", operation="insert")
    assert to_platform.sync_events(context, ORG, [fixed])["synced"] == 1
