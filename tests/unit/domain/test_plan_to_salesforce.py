"""Planning a platform -> Salesforce sync: merge policy, fallback fields, and the opt status that always syncs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.domain.mapping import MappingRules
from gateway.domain.matching import Create, MatchedRecord, OptOutOfEach, Refuse, Skip
from gateway.domain.plans import SalesforceWrite, SyncStatus, plan_to_salesforce
from gateway.domain.sync_config import Direction, SyncConfig
from tests.unit.domain.factories import CONTACT_ID, LEAD_ID, OTHER_CONTACT_ID, sf_record, sync_config

STOPPED_AT = datetime(2026, 11, 24, 20, 15, tzinfo=UTC)
PERSON = Contact(
    phone="+14155552671",
    first_name="Ada",
    last_name="Lovelace",
    email="ada@example.org",
    address=PostalAddress(street1="1 Analytical Way", city="London"),
    sms_status=SmsStatus.SUBSCRIBED,
    platform_id="mc-1",
)
CONFIG = sync_config(with_lead=True)


def synced_row(**fields: Any) -> dict[str, Any]:
    """A Salesforce row in step with PERSON."""
    base = {"Messaging_Contact_Id__c": "mc-1", "Messaging_Status__c": "Subscribed", "Messaging_Opted_Out_At__c": None}
    return sf_record(**{**base, **fields})


def fields_for(contact: Contact, row: dict[str, Any], config: SyncConfig = CONFIG) -> dict[str, Any]:
    plan = plan_to_salesforce(contact, config, MatchedRecord("Contact", row))
    assert plan.errors == ()
    return dict(plan.salesforce_write.fields) if plan.salesforce_write else {}


def test_a_record_in_step_is_skipped() -> None:
    plan = plan_to_salesforce(PERSON, CONFIG, MatchedRecord("Contact", synced_row()))
    assert plan.status is SyncStatus.SKIPPED and plan.direction is Direction.TO_SALESFORCE
    assert plan.message == "Salesforce already holds these values."


def test_overwrite_replaces_and_formatting_differences_are_not_changes() -> None:
    row = synced_row(LastName="Byron", MobilePhone="(415) 555-2671", Email="ADA@example.org")
    assert fields_for(PERSON, row) == {"LastName": "Lovelace"}


def test_fill_empty_only_writes_only_blank_fields() -> None:
    moved = PERSON.with_changes(address=PostalAddress(street1="1 Analytical Way", city="Paris"))
    assert fields_for(moved, synced_row()) == {}  # MailingCity is Fill Empty Only and holds London
    assert fields_for(moved, synced_row(MailingCity=None)) == {"MailingCity": "Paris"}


def test_absent_platform_values_never_clear_salesforce_fields() -> None:
    assert fields_for(PERSON.with_changes(email=None, last_name=None), synced_row()) == {}


def test_first_name_lands_in_the_field_in_effect() -> None:
    renamed = PERSON.with_changes(first_name="Addie")
    assert fields_for(renamed, synced_row(Preferred_Name__c="Ada")) == {"Preferred_Name__c": "Addie"}
    assert fields_for(renamed, synced_row(Preferred_Name__c=None)) == {"FirstName": "Addie"}
    both_blank = fields_for(renamed, synced_row(Preferred_Name__c=None, FirstName=None))
    assert both_blank == {"Preferred_Name__c": "Addie", "FirstName": "Addie"}


def test_a_preferred_name_echo_does_not_overwrite_the_first_name() -> None:
    assert fields_for(PERSON.with_changes(first_name="Addie"), synced_row(Preferred_Name__c="Addie")) == {}


def test_a_to_platform_only_mapping_is_not_written_back() -> None:
    tagged = PERSON.with_changes(custom_fields={"sf_id": "somebody else", "Shirt Size": "L"})
    assert fields_for(tagged, synced_row()) == {"Shirt_Size__c": "L"}


def test_stop_on_the_platform_opts_out_in_salesforce_whatever_the_merge_policy() -> None:
    stopped = PERSON.with_changes(sms_status=SmsStatus.UNSUBSCRIBED, opted_out_at=STOPPED_AT)
    assert fields_for(stopped, synced_row()) == {
        "Messaging_Status__c": "Unsubscribed",
        "Mobile_Subscriber__c": False,
        "Messaging_Opted_Out_At__c": "2026-11-24T20:15:00.000Z",
    }


def test_start_on_the_platform_resubscribes_in_salesforce() -> None:
    row = synced_row(
        Messaging_Status__c="Unsubscribed",
        Mobile_Subscriber__c=False,
        Messaging_Opted_Out_At__c="2026-11-24T20:15:00.000+0000",
    )
    assert fields_for(PERSON, row) == {
        "Messaging_Status__c": "Subscribed",
        "Mobile_Subscriber__c": True,
        "Messaging_Opted_Out_At__c": None,
    }


def test_the_first_stop_time_is_kept() -> None:
    row = synced_row(
        Messaging_Status__c="Unsubscribed",
        Mobile_Subscriber__c=False,
        Messaging_Opted_Out_At__c="2026-11-01T00:00:00.000+0000",
    )
    stopped = PERSON.with_changes(sms_status=SmsStatus.UNSUBSCRIBED, opted_out_at=STOPPED_AT)
    assert fields_for(stopped, row) == {}


def test_inverted_checkbox_and_picklist_opt_out_fields_get_their_own_values() -> None:
    stopped = PERSON.with_changes(sms_status=SmsStatus.UNSUBSCRIBED)
    inverted = sync_config({"Opt_Out_Field__c": "Do_Not_Text__c", "Opt_Out_Inverted__c": True})
    assert fields_for(stopped, synced_row(Do_Not_Text__c=False), inverted) == {
        "Messaging_Status__c": "Unsubscribed",
        "Do_Not_Text__c": True,
    }
    picklist = sync_config(
        {
            "Opt_Out_Field__c": "SMS_Consent__c",
            "Opt_Out_Field_Type__c": "Picklist",
            "Opted_In_Values__c": "Yes;Opted In",
            "Opted_Out_Values__c": "No;Do Not Text",
        }
    )
    assert fields_for(stopped, synced_row(SMS_Consent__c="yes"), picklist)["SMS_Consent__c"] == "No"
    assert "SMS_Consent__c" not in fields_for(stopped, synced_row(SMS_Consent__c="do not text"), picklist)


def test_paused_sets_the_status_but_leaves_the_opt_out_field() -> None:
    paused = PERSON.with_changes(sms_status=SmsStatus.PAUSED)
    assert fields_for(paused, synced_row()) == {"Messaging_Status__c": "Paused"}


def test_unknown_platform_status_changes_no_status_field() -> None:
    assert fields_for(PERSON.with_changes(sms_status=SmsStatus.UNKNOWN), synced_row(Mobile_Subscriber__c=False)) == {}


def test_the_platform_id_is_linked_when_missing_or_different() -> None:
    assert fields_for(PERSON, synced_row(Messaging_Contact_Id__c=None)) == {"Messaging_Contact_Id__c": "mc-1"}
    assert fields_for(PERSON, synced_row(Messaging_Contact_Id__c="MC-1")) == {}


def test_an_invalid_platform_email_is_dropped_and_the_rest_syncs() -> None:
    plan = plan_to_salesforce(
        PERSON.with_changes(email="nope", last_name="Byron"), CONFIG, MatchedRecord("Contact", synced_row())
    )
    assert plan.status is SyncStatus.PARTIAL_FAILURE and plan.error_code == "invalid-email"
    assert plan.salesforce_write is not None and plan.salesforce_write.fields == {"LastName": "Byron"}
    assert plan.salesforce_write.record_id == CONTACT_ID


def test_create_writes_every_value_status_and_link() -> None:
    plan = plan_to_salesforce(PERSON.with_changes(opted_out_at=None), CONFIG, Create("Lead"))
    assert plan.status is SyncStatus.SUCCESS
    write = plan.salesforce_write
    assert write is not None and write.is_create and write.object_name == "Lead"
    assert write.fields == {
        "Preferred_Name__c": "Ada",
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "MobilePhone": "+14155552671",
        "Email": "ada@example.org",
        "Street": "1 Analytical Way",
        "City": "London",
        "Messaging_Status__c": "Subscribed",
        "Mobile_Subscriber__c": True,
        "Messaging_Contact_Id__c": "mc-1",
    }


def test_create_without_a_required_value_is_refused() -> None:
    plan = plan_to_salesforce(PERSON.with_changes(phone=None), CONFIG, Create("Contact"))
    assert plan.status is SyncStatus.FAILURE and plan.error_code == "missing-required-field"
    assert plan.salesforce_write is None


def test_refuse_and_skip_decisions() -> None:
    error = SyncError(
        SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES, f"2 records match: Contact {CONTACT_ID}, Lead {LEAD_ID}."
    )
    refused = plan_to_salesforce(PERSON, CONFIG, Refuse(error))
    assert refused.status is SyncStatus.FAILURE and refused.error_code == "multiple-salesforce-matches"
    skipped = plan_to_salesforce(PERSON, CONFIG, Skip("No Salesforce record matches."))
    assert skipped.status is SyncStatus.SKIPPED and skipped.platform_id == "mc-1"


def test_an_opt_out_of_several_records_writes_only_their_opt_status() -> None:
    stopped = Contact(phone="+14155552671", sms_status=SmsStatus.UNSUBSCRIBED, opted_out_at=STOPPED_AT)
    contact = sf_record(LastName="Byron", Messaging_Status__c="Subscribed")
    lead = sf_record("Lead", LEAD_ID, Company="Navy", Messaging_Status__c="Subscribed")
    already = sf_record(  # her earlier STOP, already recorded: its time is kept, nothing is written
        record_id=OTHER_CONTACT_ID,
        Messaging_Status__c="Unsubscribed",
        Mobile_Subscriber__c=False,
        Messaging_Opted_Out_At__c="2026-11-20T09:00:00.000+0000",
    )
    error = SyncError(SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES_OPTED_OUT, "3 records match on phone = …")
    decision = OptOutOfEach(
        (MatchedRecord("Contact", contact), MatchedRecord("Lead", lead), MatchedRecord("Contact", already)), error
    )
    plan = plan_to_salesforce(stopped.with_changes(last_name="Lovelace", platform_id="mc-1"), CONFIG, decision)

    opted_out = {
        "Messaging_Status__c": "Unsubscribed",
        "Mobile_Subscriber__c": False,
        "Messaging_Opted_Out_At__c": "2026-11-24T20:15:00.000Z",
    }
    assert plan.opt_out_writes == (
        SalesforceWrite("Contact", CONTACT_ID, opted_out),  # no LastName, no Messaging_Contact_Id__c
        SalesforceWrite("Lead", LEAD_ID, opted_out),
    )
    assert plan.salesforce_write is None and plan.record_id is None
    assert plan.status is SyncStatus.PARTIAL_FAILURE and plan.error_code == "multiple-salesforce-matches-opted-out"


def test_the_plan_fingerprint_ignores_platform_timestamps() -> None:
    first = plan_to_salesforce(PERSON, CONFIG, Create("Contact"))
    later = plan_to_salesforce(PERSON.with_changes(version=STOPPED_AT), CONFIG, Create("Contact"))
    assert first.fingerprint == later.fingerprint


def test_a_platform_view_older_than_the_recorded_stop_does_not_resubscribe() -> None:
    row = synced_row(
        Messaging_Status__c="Unsubscribed",
        Mobile_Subscriber__c=False,
        Messaging_Opted_Out_At__c="2026-11-24T20:15:00.000+0000",
    )
    before_stop = PERSON.with_changes(version=datetime(2026, 11, 24, 20, 0, tzinfo=UTC), last_name="Byron")
    assert fields_for(before_stop, row) == {"LastName": "Byron"}
    after_start = PERSON.with_changes(version=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert fields_for(after_start, row)["Mobile_Subscriber__c"] is True


def test_an_unmatched_person_who_is_opted_out_is_not_created_unless_the_deployment_says_so() -> None:
    stopped = PERSON.with_changes(first_name=None, last_name=None, sms_status=SmsStatus.UNSUBSCRIBED)
    plan = plan_to_salesforce(stopped, CONFIG, Create("Contact"))
    assert plan.status is SyncStatus.SKIPPED and plan.salesforce_write is None
    assert "GATEWAY_CREATE_UNMATCHED_OPT_OUTS" in plan.message

    created = plan_to_salesforce(
        stopped.with_changes(last_name="Lovelace"), CONFIG, Create("Contact"), rules=MappingRules(create_opted_out=True)
    )
    assert created.salesforce_write is not None and created.salesforce_write.is_create
    assert created.salesforce_write.fields["Messaging_Status__c"] == "Unsubscribed"


def test_an_unmatched_person_who_only_texted_stop_is_not_created_whatever_the_platform_reports() -> None:
    unknown = PERSON.with_changes(sms_status=SmsStatus.UNKNOWN)  # e.g. never subscribed to the configured campaign
    plan = plan_to_salesforce(unknown, CONFIG, Create("Contact"), stop_only=True)
    assert plan.status is SyncStatus.SKIPPED and plan.salesforce_write is None
    assert plan_to_salesforce(unknown, CONFIG, Create("Contact")).salesforce_write is not None
