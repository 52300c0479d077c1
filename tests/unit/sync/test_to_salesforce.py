"""Platform → Salesforce, as an admin would see it: which record a platform person updates or creates, that a STOP
always lands, that nothing is created twice, and what the sync log says (real Redis, in-process Salesforce)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.domain.plans import SalesforceWrite, SyncPlan, SyncStatus
from gateway.domain.sync_config import Direction
from gateway.sync import state, to_salesforce
from gateway.sync.context import SyncContext
from tests.phone_table import FORMS, typed_as
from tests.unit.sync.fakes import FakeSalesforce

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _person(**values: Any) -> Contact:
    base: dict[str, Any] = {
        "phone": "+14155552671",
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@example.org",
        "sms_status": SmsStatus.SUBSCRIBED,
        "platform_id": "p-1001",
        "version": NOON,
    }
    return Contact().with_changes(**{**base, **values})


def _contacts(salesforce: FakeSalesforce) -> list[dict[str, Any]]:
    return salesforce.rows(
        "SELECT Id, FirstName, LastName, MobilePhone, Messaging_Contact_Id__c, Messaging_Status__c, "
        "Mobile_Subscriber__c FROM Contact ORDER BY CreatedDate"
    )


def _results(salesforce: FakeSalesforce) -> list[dict[str, Any]]:
    return salesforce.rows(
        "SELECT Status__c, Error_Code__c, Record_Id__c, Request_Endpoint__c, Request_Body__c, Direction__c "
        "FROM Sync_Result__c ORDER BY CreatedDate"
    )


def test_a_new_platform_person_becomes_a_contact_linked_by_the_platform_id(
    context: SyncContext, salesforce: FakeSalesforce
) -> None:
    counts = to_salesforce.sync_contacts(context, [_person()])

    assert counts == {"synced": 1, "skipped": 0, "failed": 0}
    [created] = _contacts(salesforce)
    assert (created["FirstName"], created["LastName"], created["Messaging_Contact_Id__c"]) == (
        "Grace",
        "Hopper",
        "p-1001",
    )
    assert created["Mobile_Subscriber__c"] is True
    [result] = _results(salesforce)
    assert (result["Direction__c"], result["Status__c"], result["Record_Id__c"]) == (
        "To Salesforce",
        "Success",
        created["Id"],
    )
    assert result["Request_Endpoint__c"] == "salesforce:create:Contact"
    assert json.loads(result["Request_Body__c"])["contact"]["platform_id"] == "p-1001"  # what a resend replays


def test_a_retried_create_never_makes_a_second_contact(
    context: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    to_salesforce.sync_contacts(context, [_person()])
    connection.flushdb()  # the job is retried after its marks were lost: the create is an upsert by platform id

    to_salesforce.sync_contacts(context, [_person()], force=True)

    assert len(_contacts(salesforce)) == 1


def test_a_stop_on_the_platform_unsubscribes_the_matching_contact(
    context: SyncContext, salesforce: FakeSalesforce
) -> None:
    record_id = salesforce.seed(
        "Contact", FirstName="Grace", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True
    )
    stop = _person(sms_status=SmsStatus.UNSUBSCRIBED, opted_out_at=NOON, platform_id=None)

    counts = to_salesforce.sync_contacts(context, [stop])

    assert counts["synced"] == 1
    record = salesforce.record("Contact", record_id)
    assert record["Mobile_Subscriber__c"] is False
    assert record["Messaging_Status__c"] == "Unsubscribed"
    assert record["Messaging_Opted_Out_At__c"]
    assert len(_contacts(salesforce)) == 1  # matched by a phone typed another way, not created again


def test_people_match_contacts_and_leads_whatever_format_their_phone_was_typed_in(
    context: SyncContext, salesforce: FakeSalesforce
) -> None:
    """Older records through the search index, newer ones through the recent-changes query: none created again."""
    salesforce.search_index_delay = 0.0
    people, records = [], {}
    for i, form in enumerate(FORMS):
        for sobject, extra in (("Contact", {}), ("Lead", {"Company": "Acme"})):
            national = f"307399{7000 + 2 * i + (sobject == 'Lead'):04d}"
            record_id = salesforce.seed(sobject, LastName=f"Typed {i}", MobilePhone=typed_as(form, national), **extra)
            platform_id = f"p-{sobject}-{i}"
            records[platform_id] = (sobject, record_id)
            people.append(_person(phone=f"+1{national}", platform_id=platform_id, last_name=f"Typed {i}"))

    counts = to_salesforce.sync_contacts(context, people)

    assert counts == {"synced": len(people), "skipped": 0, "failed": 0}
    for platform_id, (sobject, record_id) in records.items():
        assert salesforce.record(sobject, record_id)["Messaging_Contact_Id__c"] == platform_id
    assert len(_contacts(salesforce)) == len(FORMS)  # no Contact created for anyone
    assert len(salesforce.rows("SELECT Id FROM Lead")) == len(FORMS)


def test_the_gateways_own_write_coming_back_is_an_echo(
    context: SyncContext, salesforce: FakeSalesforce, connection: redis.Redis
) -> None:
    person = _person()
    pipe = connection.pipeline()
    state.mark(pipe, [state.platform_written(person)])  # what a Salesforce → platform sync just wrote there
    pipe.execute()

    counts = to_salesforce.sync_contacts(context, [person.with_changes(version=NOON.replace(hour=13))])

    assert counts == {"synced": 0, "skipped": 1, "failed": 0}
    assert salesforce.writes == {}


def test_an_older_view_of_a_person_is_not_applied(context: SyncContext, salesforce: FakeSalesforce) -> None:
    to_salesforce.sync_contacts(context, [_person(first_name="Grace")])
    stale = _person(first_name="Stale Grace", version=NOON.replace(hour=11))

    counts = to_salesforce.sync_contacts(context, [stale])

    assert counts["skipped"] == 1
    assert [c["FirstName"] for c in _contacts(salesforce)] == ["Grace"]


def test_of_two_views_of_one_person_in_a_batch_the_newest_wins(
    context: SyncContext, salesforce: FakeSalesforce
) -> None:
    newer = _person(first_name="Newer", version=NOON.replace(hour=13))
    older = _person(first_name="Older", version=NOON)

    to_salesforce.sync_contacts(context, [newer, older])

    assert [c["FirstName"] for c in _contacts(salesforce)] == ["Newer"]


def test_an_opt_out_of_several_records_is_written_to_each_object_and_lands_after_other_writes(
    context: SyncContext, salesforce: FakeSalesforce, monkeypatch: Any
) -> None:
    """One plan's opt-out reaches a Contact and a Lead; another plan of the batch writes the same Contact: no call
    names a record twice (Salesforce refuses such a collection) and the opt-out lands last. A Lead gone since it was
    read fails the plan, naming it, so the person is not marked synced."""
    contact = salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    lead = salesforce.seed("Lead", LastName="Hopper", Company="Navy", MobilePhone="415-555-2671")
    opted_out = {"Messaging_Status__c": "Unsubscribed", "Mobile_Subscriber__c": False}
    shared = SyncError(SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES_OPTED_OUT, "2 records match on phone.")
    stop = SyncPlan(
        Direction.TO_SALESFORCE,
        opt_out_writes=(SalesforceWrite("Contact", contact, opted_out), SalesforceWrite("Lead", lead, opted_out)),
        errors=(shared,),
    )
    subscribe = {"Messaging_Status__c": "Subscribed", "Mobile_Subscriber__c": True}
    other = SyncPlan(
        Direction.TO_SALESFORCE, "Contact", contact, salesforce_write=SalesforceWrite("Contact", contact, subscribe)
    )
    calls: list[list[str]] = []
    update = salesforce.update

    def recorded(sobject: str, records: Any, **options: Any) -> Any:
        calls.append([r["Id"] for r in records])
        return update(sobject, records, **options)

    monkeypatch.setattr(salesforce, "update", recorded)
    [written, _] = to_salesforce.write_plans(context, [stop, other])

    assert written.status is SyncStatus.PARTIAL_FAILURE
    assert all(len(ids) == len(set(ids)) for ids in calls), calls
    assert salesforce.record("Contact", contact)["Messaging_Status__c"] == "Unsubscribed"
    assert salesforce.record("Lead", lead)["Messaging_Status__c"] == "Unsubscribed"

    gone = "00Q000000000009AAA"
    stop_gone = SyncPlan(
        Direction.TO_SALESFORCE,
        opt_out_writes=(SalesforceWrite("Contact", contact, opted_out), SalesforceWrite("Lead", gone, opted_out)),
        errors=(shared,),
    )
    [failed] = to_salesforce.write_plans(context, [stop_gone])
    assert failed.status is SyncStatus.FAILURE and f"Lead {gone}" in failed.message
