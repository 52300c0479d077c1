"""Matching on both sides: each branch, in order, and the conflicts that are refused rather than merged."""

from __future__ import annotations

from typing import Any

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncErrorCode
from gateway.domain.matching import (
    Create,
    Matched,
    MatchedRecord,
    OptOutOfEach,
    Refuse,
    Skip,
    match_contact,
    match_salesforce_record,
    salesforce_id_18,
    same_salesforce_id,
)
from tests.unit.domain.factories import CONTACT_ID, LEAD_ID, OTHER_CONTACT_ID, sync_config

PHONE = "+14155552671"
RECORD = Contact(phone=PHONE, crm_id=CONTACT_ID, platform_id="mc-1")
NEW_RECORD = Contact(phone=PHONE, crm_id=CONTACT_ID)
LINKED = Contact(phone=PHONE, platform_id="mc-1", crm_id=CONTACT_ID)


def test_salesforce_ids_match_in_15_and_18_character_forms() -> None:
    assert salesforce_id_18("001A0000006Vm9r") == "001A0000006Vm9rIAC"  # Salesforce's documented conversion
    assert same_salesforce_id("001A0000006Vm9rIAC", "001A0000006Vm9r")
    assert same_salesforce_id("001a0000006vm9riac", "001A0000006Vm9r")  # 18-character ids ignore case
    assert not same_salesforce_id("001a0000006Vm9r", "001A0000006Vm9r")  # 15-character ids do not
    assert not same_salesforce_id(CONTACT_ID, OTHER_CONTACT_ID)
    assert not same_salesforce_id(None, CONTACT_ID)


# --- Salesforce -> platform ---------------------------------------------------------------------------------


def test_the_platform_id_stored_on_the_record_matches_first() -> None:
    by_crm = Contact(platform_id="mc-other", crm_id=CONTACT_ID)
    decision = match_contact(RECORD, by_platform_id=LINKED, by_crm_id=by_crm, by_phone=LINKED, create_unmatched=True)
    assert decision == Matched(LINKED)


def test_the_crm_id_on_the_platform_matches_next() -> None:
    by_crm = Contact(phone="+14155550000", platform_id="mc-2", crm_id=CONTACT_ID[:15])
    decision = match_contact(NEW_RECORD, by_platform_id=None, by_crm_id=by_crm, by_phone=None, create_unmatched=True)
    assert decision == Matched(by_crm)


def test_a_stale_link_falls_through_to_the_crm_id() -> None:
    by_crm = Contact(platform_id="mc-2", crm_id=CONTACT_ID)
    decision = match_contact(RECORD, by_platform_id=None, by_crm_id=by_crm, by_phone=None, create_unmatched=False)
    assert decision == Matched(by_crm)


def test_the_phone_matches_an_unlinked_or_same_record_platform_contact() -> None:
    unlinked = Contact(phone=PHONE, platform_id="mc-3")
    assert match_contact(
        NEW_RECORD, by_platform_id=None, by_crm_id=None, by_phone=unlinked, create_unmatched=False
    ) == Matched(unlinked)
    same = Contact(phone=PHONE, platform_id="mc-3", crm_id=CONTACT_ID[:15])
    assert match_contact(
        NEW_RECORD, by_platform_id=None, by_crm_id=None, by_phone=same, create_unmatched=False
    ) == Matched(same)


def test_a_phone_match_linked_to_another_record_is_refused_not_merged() -> None:
    other = Contact(phone=PHONE, platform_id="mc-3", crm_id=OTHER_CONTACT_ID)
    decision = match_contact(NEW_RECORD, by_platform_id=None, by_crm_id=None, by_phone=other, create_unmatched=True)
    assert isinstance(decision, Refuse)
    assert decision.error.code is SyncErrorCode.PHONE_MATCH_CRM_ID_MISMATCH
    assert OTHER_CONTACT_ID in decision.error.message and "mc-3" in decision.error.message


def test_moving_a_linked_contact_onto_another_contacts_phone_is_refused() -> None:
    holder = Contact(phone=PHONE, platform_id="mc-9")
    decision = match_contact(RECORD, by_platform_id=LINKED, by_crm_id=None, by_phone=holder, create_unmatched=True)
    assert isinstance(decision, Refuse) and decision.error.code is SyncErrorCode.DUPLICATE_CONTACT


def test_nobody_matches_create_when_allowed() -> None:
    assert (
        match_contact(NEW_RECORD, by_platform_id=None, by_crm_id=None, by_phone=None, create_unmatched=True) == Create()
    )


def test_nobody_matches_and_no_create_is_a_skip_for_a_new_record() -> None:
    decision = match_contact(NEW_RECORD, by_platform_id=None, by_crm_id=None, by_phone=None, create_unmatched=False)
    assert isinstance(decision, Skip) and "Create_Unmatched_To_Platform__c" in decision.reason


def test_a_broken_link_without_create_is_not_found() -> None:
    decision = match_contact(RECORD, by_platform_id=None, by_crm_id=None, by_phone=None, create_unmatched=False)
    assert isinstance(decision, Refuse) and decision.error.code is SyncErrorCode.NOT_FOUND


# --- platform -> Salesforce ---------------------------------------------------------------------------------


def row(object_name: str = "Contact", record_id: str = CONTACT_ID, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"attributes": {"type": object_name}, "Id": record_id, "MobilePhone": None, "Email": None}
    base.update(fields)
    return base


CONFIG = sync_config(with_lead=True)
PERSON = Contact(phone=PHONE, email="Ada@Example.org", platform_id="mc-1")


def test_crm_id_matches_first() -> None:
    target = row(record_id=CONTACT_ID)
    candidates = [row(record_id=OTHER_CONTACT_ID, Messaging_Contact_Id__c="mc-1"), target]
    decision = match_salesforce_record(PERSON.with_changes(crm_id=CONTACT_ID[:15]), candidates, CONFIG)
    assert decision == MatchedRecord("Contact", target)
    assert isinstance(decision, MatchedRecord) and decision.record_id == CONTACT_ID


def test_platform_id_field_matches_next_case_insensitively() -> None:
    target = row("Lead", LEAD_ID, Messaging_Contact_Id__c="MC-1")
    decision = match_salesforce_record(PERSON, [row(MobilePhone=PHONE), target], CONFIG)
    assert decision == MatchedRecord("Lead", target)


def test_the_same_platform_id_on_two_records_is_refused() -> None:
    candidates = [row(Messaging_Contact_Id__c="mc-1"), row("Lead", LEAD_ID, Messaging_Contact_Id__c="mc-1")]
    decision = match_salesforce_record(PERSON, candidates, CONFIG)
    assert isinstance(decision, Refuse) and decision.error.code is SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES


def test_matching_fields_phone_first_by_line() -> None:
    by_email = row(record_id=OTHER_CONTACT_ID, Email="ada@example.org")
    by_phone = row("Lead", LEAD_ID, MobilePhone="(415) 555-2671")
    assert match_salesforce_record(PERSON, [by_email, by_phone], CONFIG) == MatchedRecord("Lead", by_phone)


def test_matching_fields_compare_case_insensitively() -> None:
    by_email = row(Email=" ADA@example.ORG ")
    assert match_salesforce_record(PERSON, [by_email], CONFIG) == MatchedRecord("Contact", by_email)


def test_several_records_matching_on_one_field_are_refused() -> None:
    candidates = [row(MobilePhone=PHONE), row("Lead", LEAD_ID, MobilePhone="415-555-2671")]
    decision = match_salesforce_record(PERSON, candidates, CONFIG)
    assert isinstance(decision, Refuse) and decision.error.code is SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES
    assert CONTACT_ID in decision.error.detail and LEAD_ID in decision.error.detail


def test_an_opt_out_from_a_phone_several_records_hold_is_for_each_of_them() -> None:
    contact, lead = row(MobilePhone=PHONE), row("Lead", LEAD_ID, MobilePhone="415-555-2671")
    linked = row(record_id=OTHER_CONTACT_ID, MobilePhone="+1 415 555 2671", Messaging_Contact_Id__c="mc-7")
    stop = Contact(phone=PHONE, sms_status=SmsStatus.UNSUBSCRIBED)  # a texted STOP: only the phone is known
    decision = match_salesforce_record(stop, [contact, lead, linked], CONFIG)
    assert isinstance(decision, OptOutOfEach)
    assert decision.records == (
        MatchedRecord("Contact", contact),
        MatchedRecord("Lead", lead),
        MatchedRecord("Contact", linked),  # linked elsewhere, but it holds the number that said STOP
    )
    assert decision.error.code is SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES_OPTED_OUT
    assert all(record_id in decision.error.detail for record_id in (CONTACT_ID, LEAD_ID, OTHER_CONTACT_ID))


def test_an_opt_in_or_an_unknown_status_from_a_shared_phone_is_still_refused() -> None:
    candidates = [row(MobilePhone=PHONE), row("Lead", LEAD_ID, MobilePhone=PHONE)]
    for status in (SmsStatus.SUBSCRIBED, SmsStatus.PAUSED, SmsStatus.UNKNOWN):
        decision = match_salesforce_record(Contact(phone=PHONE, sms_status=status), candidates, CONFIG)
        assert isinstance(decision, Refuse) and decision.error.code is SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES


def test_an_opt_out_is_recorded_on_several_records_only_when_they_share_its_phone() -> None:
    stop = PERSON.with_changes(phone=None, sms_status=SmsStatus.UNSUBSCRIBED)
    by_email = [row(Email="ada@example.org"), row("Lead", LEAD_ID, Email="ADA@example.org")]
    decision = match_salesforce_record(stop, by_email, CONFIG)  # an email is no number that said STOP
    assert isinstance(decision, Refuse) and decision.error.code is SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES
    by_link = [row(Messaging_Contact_Id__c="mc-1"), row("Lead", LEAD_ID, Messaging_Contact_Id__c="mc-1")]
    decision = match_salesforce_record(stop.with_changes(phone=PHONE), by_link, CONFIG)
    assert isinstance(decision, Refuse) and decision.error.code is SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES


def test_a_match_linked_to_another_platform_contact_is_refused() -> None:
    decision = match_salesforce_record(PERSON, [row(MobilePhone=PHONE, Messaging_Contact_Id__c="mc-7")], CONFIG)
    assert isinstance(decision, Refuse) and decision.error.code is SyncErrorCode.SALESFORCE_MATCH_LINKED_ELSEWHERE


def test_rows_of_inactive_or_unconfigured_objects_are_ignored() -> None:
    config = sync_config(with_lead=True, lead_overrides={"Active__c": False})
    candidates = [row("Lead", LEAD_ID, MobilePhone=PHONE), row("Account", "001000000000001AAA", MobilePhone=PHONE)]
    assert isinstance(match_salesforce_record(PERSON, candidates, config), Skip)


def test_nobody_matches_create_as_the_configured_object_or_skip() -> None:
    creating = sync_config(
        {"Create_Unmatched_To_Salesforce__c": True, "Create_Unmatched_As__c": "Lead"}, with_lead=True
    )
    assert match_salesforce_record(PERSON, [row(MobilePhone="+14155550000")], creating) == Create("Lead")
    decision = match_salesforce_record(PERSON, [], CONFIG)
    assert isinstance(decision, Skip) and "Create_Unmatched_To_Salesforce__c" in decision.reason


def test_a_person_with_no_matching_values_does_not_match_blank_records() -> None:
    decision = match_salesforce_record(Contact(platform_id="mc-5"), [row()], CONFIG)
    assert isinstance(decision, Skip)
