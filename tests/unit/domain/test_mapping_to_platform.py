"""A Salesforce record mapped for the platform: normalised, validated, filtered, delta-aware."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.domain import platform_fields
from gateway.domain.contact import SmsStatus
from gateway.domain.errors import FailureType, SyncErrorCode
from gateway.domain.mapping import MappingRules, map_record_to_contact, opt_out_leaving_sync, record_skip_reason
from tests.unit.domain.factories import CONTACT_ID, contact_config, sf_record


def test_a_record_maps_to_a_contact_with_e164_phone_and_its_ids() -> None:
    mapped = map_record_to_contact(sf_record(Messaging_Contact_Id__c="mc-1"), contact_config())
    contact = mapped.contact
    assert (contact.first_name, contact.last_name, contact.phone) == ("Ada", "Lovelace", "+14155552671")
    assert contact.email == "ada@example.org"
    assert (contact.address.street1, contact.address.city) == ("1 Analytical Way", "London")
    assert dict(contact.custom_fields) == {"sf_id": CONTACT_ID, "Shirt Size": "M"}
    assert contact.sms_status is SmsStatus.SUBSCRIBED
    assert (contact.crm_id, contact.platform_id) == (CONTACT_ID, "mc-1")
    assert contact.version == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert mapped.errors == () and mapped.refusal is None
    assert mapped.mapped == mapped.changed  # no changedFields given: everything counts as changed


def test_preferred_name_wins_and_first_name_is_the_fallback() -> None:
    assert map_record_to_contact(sf_record(Preferred_Name__c="Addie"), contact_config()).contact.first_name == "Addie"
    assert map_record_to_contact(sf_record(Preferred_Name__c="  "), contact_config()).contact.first_name == "Ada"


def test_the_default_region_reads_national_numbers() -> None:
    record = sf_record(MobilePhone="07400 123456")
    mapped = map_record_to_contact(record, contact_config(), rules=MappingRules(default_region="GB"))
    assert mapped.contact.phone == "+447400123456"


def test_an_unreadable_phone_refuses_the_record() -> None:
    mapped = map_record_to_contact(sf_record(MobilePhone="call me maybe"), contact_config())
    assert mapped.refusal is not None
    assert mapped.refusal.code is SyncErrorCode.INVALID_PHONE
    assert mapped.refusal.fields == ("MobilePhone",)
    assert mapped.contact.phone is None


def test_a_blank_required_field_refuses_the_record() -> None:
    mapped = map_record_to_contact(sf_record(MobilePhone=None), contact_config())
    assert mapped.refusal is not None
    assert mapped.refusal.code is SyncErrorCode.MISSING_REQUIRED_FIELD
    assert "MobilePhone is empty" in mapped.refusal.message


def test_an_invalid_email_is_dropped_and_the_rest_syncs() -> None:
    mapped = map_record_to_contact(sf_record(Email="ada@"), contact_config())
    assert mapped.refusal is None
    assert [(e.code, e.failure_type) for e in mapped.errors] == [(SyncErrorCode.INVALID_EMAIL, FailureType.PARTIAL)]
    assert mapped.contact.email is None
    assert "email" not in mapped.mapped  # dropped: neither sent nor deleted
    assert mapped.contact.phone == "+14155552671"


def test_a_custom_value_over_the_platform_limit_is_dropped() -> None:
    record = sf_record(Shirt_Size__c="X" * 256)
    mapped = map_record_to_contact(record, contact_config(), rules=MappingRules(custom_value_limit=255))
    assert [e.code for e in mapped.errors] == [SyncErrorCode.CUSTOM_VALUES_TOO_LONG]
    assert "Shirt Size" not in mapped.contact.custom_fields and "custom:Shirt Size" not in mapped.mapped
    at_limit = map_record_to_contact(sf_record(Shirt_Size__c="X" * 255), contact_config())
    assert at_limit.errors == () and at_limit.contact.custom_fields["Shirt Size"] == "X" * 255
    unlimited = map_record_to_contact(record, contact_config(), rules=MappingRules(custom_value_limit=None))
    assert unlimited.errors == ()


def test_standard_fields_are_not_subject_to_the_custom_limit() -> None:
    mapped = map_record_to_contact(sf_record(MailingStreet="S" * 300), contact_config())
    assert mapped.errors == ()


def test_values_become_text() -> None:
    mapped = map_record_to_contact(sf_record(Shirt_Size__c=42), contact_config())
    assert mapped.contact.custom_fields["Shirt Size"] == "42"
    flag = map_record_to_contact(sf_record(Shirt_Size__c=False), contact_config())
    assert flag.contact.custom_fields["Shirt Size"] == "false"


def test_a_compound_field_is_a_configuration_error() -> None:
    mapped = map_record_to_contact(sf_record(MailingStreet={"street": "1 Way"}), contact_config())
    assert mapped.refusal is not None and mapped.refusal.code is SyncErrorCode.CONFIGURATION
    assert "compound field" in mapped.refusal.message


def test_delta_marks_only_the_mapped_fields_whose_source_changed() -> None:
    mapped = map_record_to_contact(sf_record(), contact_config(), changed_fields=["mobilephone", "FirstName", "Title"])
    assert mapped.changed == {"phone", "first_name"}  # FirstName is first_name's fallback; Title is not mapped
    status = map_record_to_contact(sf_record(), contact_config(), changed_fields=["Mobile_Subscriber__c"])
    assert status.changed == {"sms_status"}


def test_blank_fields_are_mapped_as_blank_but_absent_fields_are_unknown() -> None:
    record = sf_record(MailingCity=None)
    del record["MailingStreet"]
    mapped = map_record_to_contact(record, contact_config())
    assert "city" in mapped.mapped and mapped.values()["city"] is None
    assert "street1" not in mapped.mapped


@pytest.mark.parametrize(
    ("checked", "inverted", "status"),
    [
        (True, False, SmsStatus.SUBSCRIBED),
        (False, False, SmsStatus.UNSUBSCRIBED),
        (True, True, SmsStatus.UNSUBSCRIBED),
        (False, True, SmsStatus.SUBSCRIBED),  # inverted: an unchecked box means opted in
    ],
)
def test_checkbox_opt_out_field(checked: bool, inverted: bool, status: SmsStatus) -> None:
    config = contact_config(Opt_Out_Inverted__c=inverted)
    assert map_record_to_contact(sf_record(Mobile_Subscriber__c=checked), config).contact.sms_status is status


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("Yes", SmsStatus.SUBSCRIBED),
        ("yes", SmsStatus.SUBSCRIBED),
        ("OPTED IN", SmsStatus.SUBSCRIBED),
        ("no", SmsStatus.UNSUBSCRIBED),
        ("Do not text", SmsStatus.UNSUBSCRIBED),
        ("Maybe", SmsStatus.UNKNOWN),  # neither list: no opinion, never an opt-in
        (None, SmsStatus.UNKNOWN),
    ],
)
def test_picklist_opt_out_field(value: str | None, status: SmsStatus) -> None:
    config = contact_config(
        Opt_Out_Field__c="SMS_Consent__c",
        Opt_Out_Field_Type__c="Picklist",
        Opted_In_Values__c="Yes;Opted In",
        Opted_Out_Values__c="No;Do Not Text",
    )
    assert map_record_to_contact(sf_record(SMS_Consent__c=value), config).contact.sms_status is status


def test_without_the_opt_out_field_in_the_record_the_status_is_unknown_and_not_mapped() -> None:
    record = sf_record()
    del record["Mobile_Subscriber__c"]
    mapped = map_record_to_contact(record, contact_config())
    assert mapped.contact.sms_status is SmsStatus.UNKNOWN and "sms_status" not in mapped.mapped


def test_the_reported_status_and_opt_out_time_are_read() -> None:
    record = sf_record(Messaging_Status__c="Unsubscribed", Messaging_Opted_Out_At__c="2026-11-20T10:00:00.000+0000")
    mapped = map_record_to_contact(record, contact_config())
    assert mapped.reported_status is SmsStatus.UNSUBSCRIBED
    assert mapped.contact.opted_out_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_a_record_asking_for_another_status_than_the_one_recorded_from_the_platform_is_no_echo() -> None:
    config = contact_config()
    retick = map_record_to_contact(sf_record(Mobile_Subscriber__c=True, Messaging_Status__c="Unsubscribed"), config)
    untick = map_record_to_contact(sf_record(Mobile_Subscriber__c=False, Messaging_Status__c="Subscribed"), config)
    assert not retick.may_be_echo and not untick.may_be_echo
    agreeing = map_record_to_contact(sf_record(Mobile_Subscriber__c=True, Messaging_Status__c="Subscribed"), config)
    never_recorded = map_record_to_contact(sf_record(Mobile_Subscriber__c=True), config)
    assert agreeing.may_be_echo and never_recorded.may_be_echo


def test_fingerprint_ignores_what_is_not_synced() -> None:
    config = contact_config()
    base = map_record_to_contact(sf_record(), config)
    assert (
        map_record_to_contact(sf_record(SystemModstamp="2026-11-26T00:00:00.000+0000", Title="CEO"), config).fingerprint
        == base.fingerprint
    )
    assert map_record_to_contact(sf_record(MobilePhone="+1 415 555 2671"), config).fingerprint == base.fingerprint
    assert map_record_to_contact(sf_record(LastName="Byron"), config).fingerprint != base.fingerprint
    assert map_record_to_contact(sf_record(Mobile_Subscriber__c=False), config).fingerprint != base.fingerprint


def test_skip_reasons() -> None:
    assert record_skip_reason(sf_record(), contact_config()) is None
    assert (
        record_skip_reason(sf_record(), contact_config(Active__c=False))
        == "Contact is not active in Messaging_Sync_Object__mdt."
    )
    criteria = contact_config(Sync_Criteria_Field__c="Textable__c")
    assert record_skip_reason(sf_record(Textable__c=True), criteria) is None
    assert record_skip_reason(sf_record(textable__c="true"), criteria) is None
    assert (
        record_skip_reason(sf_record(Textable__c=False), criteria)
        == "The sync criteria field Textable__c is not checked on this record."
    )
    assert record_skip_reason(sf_record(Textable__c=None), criteria) is not None
    missing = record_skip_reason(sf_record(), criteria)
    assert missing is not None and "missing from the record" in missing


def test_a_record_outside_the_criteria_speaks_only_for_the_opt_out_it_asks_for() -> None:
    criteria = contact_config(Sync_Criteria_Field__c="Textable__c")
    opted_out = sf_record(Textable__c=False, Mobile_Subscriber__c=False, MobilePhone=None)

    mapped = opt_out_leaving_sync(opted_out, criteria, changed_fields=["Mobile_Subscriber__c", "FirstName"])

    assert mapped is not None
    assert mapped.contact.sms_status is SmsStatus.UNSUBSCRIBED
    assert mapped.mapped == mapped.changed == {platform_fields.SMS_STATUS}
    assert mapped.contact.first_name is None and mapped.contact.crm_id == CONTACT_ID  # who, never what
    assert mapped.refusal is None  # the blank required phone refuses no opt-out
    # still ticked (it left for another reason), or no opt-out field to read: nothing to send
    assert opt_out_leaving_sync(sf_record(Textable__c=False), criteria) is None
    assert opt_out_leaving_sync({"Id": CONTACT_ID, "Textable__c": False}, criteria) is None
    assert (
        opt_out_leaving_sync(opted_out, contact_config(Sync_Criteria_Field__c="Textable__c", Active__c=False)) is None
    )


def test_international_emails_follow_the_org_setting() -> None:
    record = sf_record(Email="josé@empresa.es")
    assert map_record_to_contact(record, contact_config()).contact.email is None
    accepting = MappingRules(international_email=True)
    assert map_record_to_contact(record, contact_config(), rules=accepting).contact.email == "josé@empresa.es"
