"""Parsing the package's custom metadata into sync configuration, and rejecting what cannot work."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.domain.contact import SmsStatus
from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.domain.sync_config import (
    Direction,
    InvalidSyncConfiguration,
    MappingDirection,
    MergePolicy,
    OptOutFieldType,
    parse_sync_config,
)
from tests.unit.domain.factories import default_mappings, mapping_row, object_row, sync_config


def problems_of(objects: list[dict[str, Any]], mappings: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(InvalidSyncConfiguration) as caught:
        parse_sync_config(objects, mappings)
    return [str(p) for p in caught.value.problems]


def test_default_records_parse_with_documented_defaults() -> None:
    config = sync_config()
    contact = config.for_object("contact")  # object names are case-insensitive
    assert contact is not None
    assert contact.object_name == "Contact"
    assert contact.active and contact.create_unmatched_to_platform
    assert contact.status_field == "Messaging_Status__c"
    assert contact.platform_id_field == "Messaging_Contact_Id__c"
    assert contact.opt_out is not None
    assert contact.opt_out.field == "Mobile_Subscriber__c"
    assert contact.opt_out.type is OptOutFieldType.CHECKBOX
    first_name = contact.mappings[0]
    assert (first_name.salesforce_field, first_name.fallback_salesforce_field) == ("Preferred_Name__c", "FirstName")
    assert first_name.direction is MappingDirection.BOTH
    assert [m.platform_field for m in contact.matching_mappings] == ["phone", "email"]
    city = next(m for m in contact.mappings if m.platform_field == "city")
    assert city.merge_policy is MergePolicy.FILL_EMPTY_ONLY
    sf_id = next(m for m in contact.mappings if m.platform_field == "custom:sf_id")
    assert sf_id.applies_to(Direction.TO_PLATFORM) and not sf_id.applies_to(Direction.TO_SALESFORCE)
    assert config.create_in_salesforce_as is None


def test_blank_direction_and_merge_policy_default_to_both_and_overwrite() -> None:
    rows = default_mappings()
    rows[1] = mapping_row("Last", "LastName", "last_name", Direction__c=None, Merge_Policy__c=None)
    contact = sync_config(mappings=rows).for_object("Contact")
    assert contact is not None
    last = contact.mappings[1]
    assert last.direction is MappingDirection.BOTH and last.merge_policy is MergePolicy.OVERWRITE


def test_picklist_choices_are_read_case_insensitively() -> None:
    rows = default_mappings()
    rows[1] = mapping_row(
        "Last", "LastName", "last_name", Direction__c="to salesforce", Merge_Policy__c="fill empty only"
    )
    contact = sync_config(mappings=rows).for_object("Contact")
    assert contact is not None
    assert contact.mappings[1].direction is MappingDirection.TO_SALESFORCE
    assert contact.mappings[1].merge_policy is MergePolicy.FILL_EMPTY_ONLY


def test_salesforce_fields_lists_everything_a_query_must_select_once() -> None:
    contact = sync_config({"Sync_Criteria_Field__c": "Textable__c"}).for_object("Contact")
    assert contact is not None
    fields = contact.salesforce_fields()
    for name in ("Id", "SystemModstamp", "Preferred_Name__c", "FirstName", "MobilePhone", "Textable__c"):
        assert name in fields
    for name in ("Mobile_Subscriber__c", "Messaging_Status__c", "Messaging_Contact_Id__c", "Messaging_Opted_Out_At__c"):
        assert name in fields
    assert len({f.casefold() for f in fields}) == len(fields)


def test_create_in_salesforce_as_names_the_configured_object() -> None:
    config = sync_config({"Create_Unmatched_To_Salesforce__c": True, "Create_Unmatched_As__c": "Lead"}, with_lead=True)
    assert config.create_in_salesforce_as == "Lead"
    own = sync_config({"Create_Unmatched_To_Salesforce__c": True})
    assert own.create_in_salesforce_as == "Contact"


def test_an_inactive_object_is_kept_but_not_active() -> None:
    config = sync_config(with_lead=True, lead_overrides={"Active__c": False})
    lead = config.for_object("Lead")
    assert lead is not None and not lead.active
    assert [c.object_name for c in config.active_objects] == ["Contact"]
    assert config.for_object("Account") is None


def test_problems_are_all_reported_at_once_naming_record_and_field() -> None:
    objects = [object_row(Active__c="yes"), object_row("Lead", Opt_Out_Field_Type__c="Radio")]
    mappings = [
        *default_mappings(),
        mapping_row("Bad_Platform", "Title", "job_title"),
        mapping_row("Bad_Direction", "Title", "custom:Title", Direction__c="Sideways"),
    ]
    problems = problems_of(objects, mappings)
    assert "Messaging_Sync_Object__mdt Contact.Active__c: expected a checkbox (true/false), got 'yes'" in problems
    assert any(
        p.startswith("Messaging_Sync_Object__mdt Lead.Opt_Out_Field_Type__c: 'Radio' is not one of") for p in problems
    )
    assert any(
        p.startswith("Messaging_Field_Mapping__mdt Bad_Platform.Platform_Field__c: 'job_title'") for p in problems
    )
    assert any(p.startswith("Messaging_Field_Mapping__mdt Bad_Direction.Direction__c: 'Sideways'") for p in problems)


def test_the_error_is_a_configuration_sync_failure_with_an_actionable_message() -> None:
    with pytest.raises(SyncFailure) as caught:
        parse_sync_config([object_row(Object_API_Name__c=None, DeveloperName="Broken")], [])
    error = caught.value.error
    assert error.code is SyncErrorCode.CONFIGURATION
    assert "Messaging_Sync_Object__mdt Broken.Object_API_Name__c: is required" in error.message
    assert error.fields == ("Object_API_Name__c",)


def test_a_record_without_developer_name_is_named_by_its_position() -> None:
    row = object_row(Object_API_Name__c="Not a name")
    del row["DeveloperName"]
    assert problems_of([row], []) == [
        "Messaging_Sync_Object__mdt #1.Object_API_Name__c: 'Not a name' is not a Salesforce API name "
        "(letters, digits and _ only)"
    ]


def test_an_object_configured_twice_is_rejected() -> None:
    problems = problems_of([object_row(), object_row(DeveloperName="Contact_Again")], default_mappings())
    assert problems == [
        "Messaging_Sync_Object__mdt Contact_Again.Object_API_Name__c: Contact is configured twice "
        "(also by Messaging_Sync_Object__mdt Contact); delete one record"
    ]


def test_a_mapping_for_an_unconfigured_object_is_rejected() -> None:
    problems = problems_of([object_row()], [*default_mappings(), mapping_row("Acct", "Name", "last_name", "Account")])
    assert problems == [
        "Messaging_Field_Mapping__mdt Acct.Object_API_Name__c: no Messaging_Sync_Object__mdt record configures "
        "Account; add one or fix the name"
    ]


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"Platform_Field__c": None}, "Platform_Field__c", "is required"),
        ({"Platform_Field__c": "custom:"}, "Platform_Field__c", "is not one of"),
        ({"Platform_Field__c": "Phone"}, "Platform_Field__c", "is not one of"),
        ({"Salesforce_Field__c": None}, "Salesforce_Field__c", "is required"),
        ({"Salesforce_Field__c": "Mobile Phone"}, "Salesforce_Field__c", "is not a Salesforce API name"),
        ({"Fallback_Salesforce_Field__c": "title"}, "Fallback_Salesforce_Field__c", "is the same field"),
        ({"Is_Matching__c": "true"}, "Is_Matching__c", "expected a checkbox"),
        ({"Merge_Policy__c": "Append"}, "Merge_Policy__c", "'Append' is not one of: Overwrite, Fill Empty Only"),
        ({"Salesforce_Field__c": 42}, "Salesforce_Field__c", "expected text, got 42"),
    ],
)
def test_bad_mapping_fields_are_named(overrides: dict[str, Any], field: str, text: str) -> None:
    problems = problems_of(
        [object_row()], [*default_mappings(), mapping_row("Extra", "Title", "custom:Title", **overrides)]
    )
    assert len(problems) == 1
    assert problems[0].startswith(f"Messaging_Field_Mapping__mdt Extra.{field}: ")
    assert text in problems[0]


def test_a_platform_field_mapped_twice_in_one_direction_is_rejected() -> None:
    problems = problems_of([object_row()], [*default_mappings(), mapping_row("Phone2", "Phone", "phone")])
    assert problems == [
        "Messaging_Field_Mapping__mdt Phone2.Platform_Field__c: phone already receives MobilePhone "
        "(Messaging_Field_Mapping__mdt Contact_Phone); map each platform field once per direction"
    ]


def test_a_salesforce_field_fed_twice_from_the_platform_is_rejected() -> None:
    rows = [*default_mappings(), mapping_row("Nick", "LastName", "custom:Nick", Direction__c="To Salesforce")]
    problems = problems_of([object_row()], rows)
    assert len(problems) == 1 and "Nick.Salesforce_Field__c: LastName already receives last_name" in problems[0]


def test_one_platform_field_may_be_fed_and_read_by_different_fields_per_direction() -> None:
    rows = [
        *(r for r in default_mappings() if r["Platform_Field__c"] != "email"),
        mapping_row("Email_Out", "Email", "email", Direction__c="To Platform"),
        mapping_row("Email_In", "Platform_Email__c", "email", Direction__c="To Salesforce"),
    ]
    contact = sync_config(mappings=rows).for_object("Contact")
    assert contact is not None
    assert [
        m.salesforce_field for m in contact.mappings_for(Direction.TO_SALESFORCE) if m.platform_field == "email"
    ] == ["Platform_Email__c"]


def test_an_active_object_needs_a_phone_mapping() -> None:
    rows = [r for r in default_mappings() if r["Platform_Field__c"] != "phone"]
    problems = problems_of([object_row()], rows)
    assert len(problems) == 1 and "Contact.Object_API_Name__c: active object Contact has no mapping" in problems[0]
    parse_sync_config([object_row(Active__c=False)], rows)  # an inactive one does not


def test_picklist_opt_out_needs_both_value_lists_without_overlap_and_no_inversion() -> None:
    row = object_row(
        Opt_Out_Field__c="SMS_Consent__c",
        Opt_Out_Field_Type__c="Picklist",
        Opt_Out_Inverted__c=True,
        Opted_In_Values__c="Yes; Maybe",
        Opted_Out_Values__c="No;maybe",
    )
    problems = problems_of([row], default_mappings())
    assert problems == [
        "Messaging_Sync_Object__mdt Contact.Opt_Out_Inverted__c: applies to a Checkbox opt-out field only; "
        "uncheck it and list the values instead",
        "Messaging_Sync_Object__mdt Contact.Opted_Out_Values__c: maybe listed as both opted in and opted out; "
        "keep it in one list",
    ]
    missing = problems_of([object_row(Opt_Out_Field__c="SMS_Consent__c", Opt_Out_Field_Type__c="Picklist")], [])
    assert any("Opted_In_Values__c: a Picklist opt-out field needs" in p for p in missing)
    assert any("Opted_Out_Values__c: a Picklist opt-out field needs" in p for p in missing)


def test_picklist_values_are_split_trimmed_and_compared_case_insensitively() -> None:
    contact = sync_config(
        {
            "Opt_Out_Field__c": "SMS_Consent__c",
            "Opt_Out_Field_Type__c": "Picklist",
            "Opted_In_Values__c": " Yes ;Opted In;",
            "Opted_Out_Values__c": "No;Do Not Text",
        }
    ).for_object("Contact")
    assert contact is not None and contact.opt_out is not None
    assert contact.opt_out.opted_in_values == ("Yes", "Opted In")
    assert contact.opt_out.status_of("opted in") is SmsStatus.SUBSCRIBED
    assert contact.opt_out.status_of("DO NOT TEXT") is SmsStatus.UNSUBSCRIBED


def test_no_opt_out_field_means_no_opt_out_setting() -> None:
    contact = sync_config({"Opt_Out_Field__c": None}).for_object("Contact")
    assert contact is not None and contact.opt_out is None


def test_creating_unmatched_people_must_target_one_active_object() -> None:
    unknown = problems_of(
        [object_row(Create_Unmatched_To_Salesforce__c=True, Create_Unmatched_As__c="Lead")], default_mappings()
    )
    assert unknown == [
        "Messaging_Sync_Object__mdt Contact.Create_Unmatched_As__c: Lead is not an active synced object; "
        "name Contact, Lead or another active object"
    ]
    conflicting = problems_of(
        [
            object_row(Create_Unmatched_To_Salesforce__c=True, Create_Unmatched_As__c="Contact"),
            object_row("Lead", Create_Unmatched_To_Salesforce__c=True, Create_Unmatched_As__c="Lead"),
        ],
        [*default_mappings(), *default_mappings("Lead")],
    )
    assert conflicting == [
        "Messaging_Sync_Object__mdt Lead.Create_Unmatched_As__c: several objects create unmatched people as "
        "different objects (contact, lead); choose one"
    ]
