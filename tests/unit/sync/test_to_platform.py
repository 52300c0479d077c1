"""Salesforce → platform, as an admin and the person texted would see it: what reaches the platform, what is written
back to the Salesforce record, and what the sync log says (recording platform, real Redis, in-process Salesforce)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.plans import Direction, SyncPlan
from gateway.platforms.recording import RecordingAdapter
from gateway.sync import catch_up, to_platform
from gateway.sync.context import SyncContext
from tests.unit.sync.fakes import FakeSalesforce

ORG = "00D000000000001EAA"
STOPPED = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


GRACE = {
    "FirstName": "Grace",
    "LastName": "Hopper",
    "MobilePhone": "(415) 555-2671",
    "Email": "grace@example.org",
    "Mobile_Subscriber__c": True,
}


def _event(
    salesforce: FakeSalesforce,
    record_id: str,
    *,
    operation: str = "update",
    changed: tuple[str, ...] = ("FirstName", "MobilePhone", "Mobile_Subscriber__c"),
    modstamp: str | None = None,
    **claims: Any,
) -> dict[str, Any]:
    """The event the package publishes for the record as Salesforce holds it now (`claims` overrides its values,
    as a stale or made-up event would)."""
    held = salesforce.record("Contact", record_id)
    record = {name: held.get(name) for name in (*GRACE, "SystemModstamp")} | {"Id": record_id, **claims}
    if modstamp is not None:
        record["SystemModstamp"] = modstamp
    return {
        "eventUuid": f"e-{record_id}-{record['SystemModstamp']}",
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


def _contact(salesforce: FakeSalesforce, **values: Any) -> str:
    return salesforce.seed("Contact", **(GRACE | values))


def test_a_new_contact_reaches_the_platform_and_salesforce_learns_its_platform_id(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    counts = to_platform.sync_events(context, ORG, [_event(salesforce, record_id, operation="insert")])

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


def test_a_replayed_event_changes_nothing(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    event = _event(salesforce, record_id)
    to_platform.sync_events(context, ORG, [event])

    counts = to_platform.sync_events(context, ORG, [{**event, "eventUuid": "replayed"}])

    assert counts == {"synced": 0, "skipped": 1, "failed": 0}
    assert [c.first_name for c in recorder.recorded()] == ["Grace"]
    assert len(_results(salesforce, record_id)) == 1


def test_of_two_events_of_one_record_in_a_batch_the_platform_gets_what_salesforce_holds_once(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    older = _event(salesforce, record_id, changed=("FirstName",))
    salesforce.edit("Contact", record_id, FirstName="New Grace", MobilePhone="+1 415 555 2672")
    newer = _event(salesforce, record_id, changed=("FirstName",))

    to_platform.sync_events(context, ORG, [newer, older])

    [sent] = recorder.recorded()
    # the newest event's own change, and the phone: a created contact gets every mapped field
    assert (sent.first_name, sent.phone) == ("New Grace", "+14155552672")


def test_an_event_older_than_what_salesforce_holds_sends_every_field_not_only_its_own_change(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    to_platform.sync_events(context, ORG, [_event(salesforce, record_id)])
    salesforce.edit("Contact", record_id, FirstName="Amazing Grace")
    first_edit = _event(salesforce, record_id, changed=("FirstName",))
    salesforce.edit("Contact", record_id, Email="grace@navy.example.org")  # its event is still on its way

    to_platform.sync_events(context, ORG, [first_edit])

    sent = recorder.recorded()[-1]  # the values sent in the update
    assert (sent.first_name, sent.email) == ("Amazing Grace", "grace@navy.example.org")
    # the second edit's event, when it comes, is not newer than what was synced: nothing is sent twice
    later = _event(salesforce, record_id, changed=("Email",))
    assert to_platform.sync_events(context, ORG, [later])["skipped"] == 1


def test_an_echo_of_what_was_sent_is_not_sent_again(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    to_platform.sync_events(context, ORG, [_event(salesforce, record_id)])
    # The gateway's own write-back bumped SystemModstamp; the values the platform cares about are the same.
    echo = _event(salesforce, record_id)

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
    salesforce.edit("Contact", record_id, FirstName="Still Grace", Mobile_Subscriber__c=True)

    counts = to_platform.sync_events(context, ORG, [_event(salesforce, record_id)])

    assert counts == {"synced": 1, "skipped": 0, "failed": 0}
    after = recorder.recorded()[before:]
    assert [c.first_name for c in after] == ["Still Grace"]  # the rest of the edit goes through
    assert all(c.sms_status is not SmsStatus.SUBSCRIBED for c in after)
    assert recorder.find_contact(crm_id=record_id).sms_status is SmsStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    [result] = _results(salesforce, record_id)
    assert (result["Status__c"], result["Error_Code__c"]) == ("Partial Failure", "invalid-messaging-status")
    assert "STOP" in result["Message__c"]
    assert salesforce.record("Contact", record_id)["Messaging_Status__c"] == "Unsubscribed"


def test_a_retick_alone_after_a_stop_is_refused_and_told_though_it_maps_to_what_was_first_sent(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    """Read back whole, the re-ticked record maps to exactly the values first sent; it is still no echo: the person's
    STOP came since (Salesforce records them unsubscribed)."""
    record_id = _contact(salesforce)
    to_platform.sync_events(context, ORG, [_event(salesforce, record_id, operation="insert")])
    [sent] = recorder.recorded()
    recorder.opt_out(sent)  # the person texts STOP; the platform → Salesforce sync records it:
    salesforce.edit("Contact", record_id, Mobile_Subscriber__c=False, Messaging_Status__c="Unsubscribed")
    salesforce.edit("Contact", record_id, Mobile_Subscriber__c=True)  # an admin ticks the box again
    before = len(recorder.recorded())

    counts = to_platform.sync_events(context, ORG, [_event(salesforce, record_id, changed=("Mobile_Subscriber__c",))])

    assert counts == {"synced": 1, "skipped": 0, "failed": 0}
    assert all(c.sms_status is not SmsStatus.SUBSCRIBED for c in recorder.recorded()[before:])
    assert recorder.find_contact(crm_id=record_id).sms_status is SmsStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    refused = _results(salesforce, record_id)[-1]
    assert (refused["Status__c"], refused["Error_Code__c"]) == ("Partial Failure", "invalid-messaging-status")


def test_a_phone_that_cannot_be_real_is_refused_with_a_reason_and_nothing_is_sent(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce, MobilePhone="555-01")

    counts = to_platform.sync_events(context, ORG, [_event(salesforce, record_id, operation="insert")])

    assert counts == {"synced": 0, "skipped": 0, "failed": 1}
    assert recorder.recorded() == []
    [result] = _results(salesforce, record_id)
    assert (result["Status__c"], result["Error_Code__c"]) == ("Failure", "invalid-phone")
    # a failure is not marked done: once the phone is fixed, the next edit goes through
    salesforce.edit("Contact", record_id, MobilePhone="(415) 555-2671")
    fixed = _event(salesforce, record_id, operation="insert")
    assert to_platform.sync_events(context, ORG, [fixed])["synced"] == 1


def test_the_platform_gets_salesforces_values_never_the_events(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce, Mobile_Subscriber__c=False)
    forged = _event(
        salesforce,
        record_id,
        operation="insert",
        FirstName="Mallory",
        MobilePhone="+1 212 555 0199",
        Mobile_Subscriber__c=True,
        Messaging_Contact_Id__c="rec-someone-else",
    )

    to_platform.sync_events(context, ORG, [forged])

    [sent] = recorder.recorded()
    assert (sent.first_name, sent.phone) == ("Grace", "+14155552671")
    assert sent.sms_status is not SmsStatus.SUBSCRIBED  # no opt-in: Salesforce holds no consent
    assert salesforce.record("Contact", record_id)["Messaging_Contact_Id__c"] == sent.platform_id
    assert "Mallory" not in _results(salesforce, record_id)[0]["Request_Body__c"].split("platformRequest")[1]


def test_an_event_for_a_record_salesforce_does_not_hold_creates_nothing_and_logs_no_row(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    made_up = {**_event(salesforce, record_id, operation="insert"), "recordId": "003000000000404AAA"}
    made_up["record"] = {**made_up["record"], "Id": "003000000000404AAA"}

    counts = to_platform.sync_events(context, ORG, [made_up])

    assert counts == {"synced": 0, "skipped": 1, "failed": 0}
    assert recorder.recorded() == []
    assert _results(salesforce, "003000000000404AAA") == []


def _catch_up_event(salesforce: FakeSalesforce, record_id: str) -> dict[str, Any]:
    """What the catch-up queues for a record whose own event was lost: which record, at which version, no fields."""
    return _event(salesforce, record_id, changed=()) | {"changedFields": []}


def test_an_opt_out_whose_event_was_lost_reaches_the_platform_through_an_event_that_names_no_field(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    """A record the gateway holds no marks for (never synced here, or its marks expired) whose box an admin unticked:
    the catch-up's event names no changed field, and the opt-out must still be sent, never written back over."""
    record_id = _contact(salesforce, Mobile_Subscriber__c=False)
    recorder.upsert_contact(Contact(phone="+14155552671", first_name="Grace", crm_id=record_id), subscribe=True)

    to_platform.sync_events(context, ORG, [_catch_up_event(salesforce, record_id)])

    assert recorder.find_contact(crm_id=record_id).sms_status is SmsStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    assert salesforce.record("Contact", record_id)["Mobile_Subscriber__c"] is False


def test_the_write_back_never_ticks_a_box_that_holds_an_admins_opt_out(context: SyncContext) -> None:
    """The platform answers "subscribed" to a sync that did not send the record's opt-out (Salesforce had recorded
    no status yet): the status is written back as the platform holds it, the admin's unticked box is kept."""
    obj = context.sync_config().active_objects[0]
    plan = SyncPlan(Direction.TO_PLATFORM, object_name=obj.object_name, record_id="003000000000001AAA")
    view = Contact(phone="+14155552671", platform_id="p1", sms_status=SmsStatus.SUBSCRIBED)

    owed = to_platform.owed_fields(obj, plan, view, SmsStatus.UNKNOWN, requested=SmsStatus.UNSUBSCRIBED)

    assert owed[obj.status_field] == "Subscribed"
    assert obj.opt_out is not None and obj.opt_out.field not in owed
    repeated = to_platform.owed_fields(obj, plan, view, SmsStatus.UNSUBSCRIBED, requested=SmsStatus.UNSUBSCRIBED)
    assert repeated[obj.opt_out.field] is True  # a box that only repeated the platform's STOP follows its START
    assert repeated["Messaging_Opted_Out_At__c"] is None
    stop = Contact(phone="+14155552671", platform_id="p1", sms_status=SmsStatus.UNSUBSCRIBED, opted_out_at=STOPPED)
    stopped = to_platform.owed_fields(obj, plan, stop, SmsStatus.SUBSCRIBED, requested=SmsStatus.SUBSCRIBED)
    assert (stopped[obj.status_field], stopped[obj.opt_out.field]) == ("Unsubscribed", False)
    assert stopped["Messaging_Opted_Out_At__c"] == "2026-11-30T10:00:00.000Z"  # when, kept against stale views


def test_a_recorded_stop_is_sent_to_a_contact_other_than_the_one_it_came_from(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    """Salesforce recorded the person's STOP from the profile it is linked to; the record now matches another,
    subscribed profile (the phone moved, the profile was re-created): that profile gets the opt-out."""
    record_id = _contact(
        salesforce,
        Mobile_Subscriber__c=False,
        Messaging_Status__c="Unsubscribed",
        Messaging_Contact_Id__c="rec-the-old-profile",
    )
    recorder.upsert_contact(
        Contact(phone="+14155552671", first_name="Grace", crm_id=record_id, platform_id="rec-the-new-profile"),
        subscribe=True,
    )

    to_platform.sync_events(context, ORG, [_event(salesforce, record_id)])

    assert recorder.find_contact(crm_id=record_id).sms_status is SmsStatus.UNSUBSCRIBED  # type: ignore[union-attr]


def test_the_platform_write_is_what_samples_how_fast_the_platform_answers(
    context: SyncContext, salesforce: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Pace` bounds a job by the items that wrote to the platform (`platform_call(write=True)`, see
    `test_pace.py`): the create is a write; the lookup before it, which may make no request, is not."""
    calls: list[bool] = []
    real = to_platform.platform_call

    def spying(*, write: bool = False) -> Any:
        calls.append(write)
        return real(write=write)

    monkeypatch.setattr(to_platform, "platform_call", spying)
    record_id = _contact(salesforce)
    counts = to_platform.sync_events(context, ORG, [_event(salesforce, record_id, operation="insert")])

    assert counts["synced"] == 1
    assert sorted(calls) == [False, True]  # one lookup, one write


# -- records leaving the sync criteria (the package sends the update that takes a record out of them)


def _criteria(context: SyncContext, field: str) -> None:
    """The objects' sync criteria set to `field`, as an admin configures it (a checkbox or a formula)."""
    config = context.sync_config()
    objects = {name: replace(obj, sync_criteria_field=field) for name, obj in config.objects.items()}
    context._config = replace(config, objects=MappingProxyType(objects))


def test_an_opt_out_that_takes_the_record_out_of_the_sync_criteria_reaches_the_platform(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    """Criteria such as "Mobile_Subscriber__c AND NOT ISBLANK(MobilePhone)": unticking the box leaves them."""
    _criteria(context, "Mobile_Subscriber__c")
    record_id = _contact(salesforce)
    to_platform.sync_events(context, ORG, [_event(salesforce, record_id, operation="insert")])
    assert recorder.find_contact(crm_id=record_id).sms_status is SmsStatus.SUBSCRIBED  # type: ignore[union-attr]
    salesforce.edit("Contact", record_id, Mobile_Subscriber__c=False, FirstName="Not Synced Any More")
    before = len(recorder.recorded())

    counts = to_platform.sync_events(
        context, ORG, [_event(salesforce, record_id, changed=("Mobile_Subscriber__c", "FirstName"))]
    )

    assert counts == {"synced": 1, "skipped": 0, "failed": 0}
    held = recorder.find_contact(crm_id=record_id)
    assert held is not None and held.sms_status is SmsStatus.UNSUBSCRIBED
    [sent] = recorder.recorded()[before:]  # one call: the opt-out, with nothing of the record but who it is
    assert (sent.sms_status, sent.first_name, sent.phone) == (SmsStatus.UNSUBSCRIBED, None, "+14155552671")
    assert salesforce.record("Contact", record_id)["Mobile_Subscriber__c"] is False
    result = _results(salesforce, record_id)[-1]
    assert (result["Direction__c"], result["Status__c"]) == ("To Platform", "Success")


def test_the_catch_up_finds_an_opt_out_whose_event_was_lost_though_it_left_the_sync_criteria(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    """Its event lost (a relay failure, a publish that failed at the end): the catch-up lists the record though it no
    longer meets the criteria, or the platform would go on texting the person."""
    _criteria(context, "Mobile_Subscriber__c")
    record_id = _contact(salesforce)
    to_platform.sync_events(context, ORG, [_event(salesforce, record_id, operation="insert")])
    salesforce.edit("Contact", record_id, Mobile_Subscriber__c=False)  # its event never reaches the gateway
    queued: list[dict[str, Any]] = []

    catch_up.catch_up(context, queued.extend, now=datetime.now(UTC) + catch_up.SETTLE + timedelta(seconds=5))
    to_platform.sync_events(context, ORG, queued)

    assert [event["recordId"] for event in queued] == [record_id]
    assert recorder.find_contact(crm_id=record_id).sms_status is SmsStatus.UNSUBSCRIBED  # type: ignore[union-attr]


def test_an_opt_out_outside_the_criteria_creates_nobody_on_the_platform(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    _criteria(context, "Mobile_Subscriber__c")
    record_id = _contact(salesforce, Mobile_Subscriber__c=False)

    counts = to_platform.sync_events(context, ORG, [_event(salesforce, record_id, changed=("Mobile_Subscriber__c",))])

    assert counts["failed"] == 0
    assert recorder.recorded() == []
    assert recorder.find_contact(crm_id=record_id) is None


def test_a_record_leaving_the_criteria_with_its_box_ticked_sends_nothing(
    context: SyncContext, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    """It left for another reason (the phone blanked, a criteria box unticked): no write, above all no subscribe,
    and no failure logged for the blank phone a record outside the sync may have."""
    _criteria(context, "DoNotCall")
    record_id = _contact(salesforce, DoNotCall=True)
    to_platform.sync_events(context, ORG, [_event(salesforce, record_id, operation="insert")])
    rows = len(_results(salesforce, record_id))
    salesforce.edit("Contact", record_id, DoNotCall=False, MobilePhone=None)
    before = len(recorder.recorded())

    counts = to_platform.sync_events(context, ORG, [_event(salesforce, record_id, changed=("MobilePhone",))])

    assert counts == {"synced": 0, "skipped": 1, "failed": 0}
    assert recorder.recorded()[before:] == []
    assert len(_results(salesforce, record_id)) == rows
