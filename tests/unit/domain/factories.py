"""Builders for custom-metadata rows and Salesforce records, shaped as simple-salesforce returns them."""

from __future__ import annotations

from typing import Any

from gateway.domain.sync_config import SyncConfig, SyncObjectConfig, parse_sync_config

CONTACT_ID = "003000000000001AAA"
OTHER_CONTACT_ID = "003000000000002AAA"
LEAD_ID = "00Q000000000001AAA"


def object_row(object_name: str = "Contact", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "attributes": {"type": "Messaging_Sync_Object__mdt", "url": f"/services/data/v62.0/sobjects/x/{object_name}"},
        "DeveloperName": object_name,
        "Object_API_Name__c": object_name,
        "Active__c": True,
        "Sync_Criteria_Field__c": None,
        "Create_Unmatched_To_Platform__c": True,
        "Create_Unmatched_To_Salesforce__c": False,
        "Include_Deletions__c": False,
        "Send_All_Fields__c": False,
        "Opt_Out_Field__c": "Mobile_Subscriber__c",
        "Opt_Out_Field_Type__c": "Checkbox",
        "Opt_Out_Inverted__c": False,
        "Opted_In_Values__c": None,
        "Opted_Out_Values__c": None,
        "Status_Field__c": None,
        "Platform_Id_Field__c": None,
        "Create_Unmatched_As__c": None,
    }
    row.update(overrides)
    return row


def mapping_row(
    name: str, salesforce_field: str, platform_field: str, object_name: str = "Contact", **overrides: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "attributes": {"type": "Messaging_Field_Mapping__mdt"},
        "DeveloperName": name,
        "Object_API_Name__c": object_name,
        "Salesforce_Field__c": salesforce_field,
        "Fallback_Salesforce_Field__c": None,
        "Platform_Field__c": platform_field,
        "Direction__c": "Both",
        "Is_Matching__c": False,
        "Is_Required__c": False,
        "Merge_Policy__c": "Overwrite",
    }
    row.update(overrides)
    return row


def default_mappings(object_name: str = "Contact") -> list[dict[str, Any]]:
    prefix = object_name
    street = "Street" if object_name == "Lead" else "MailingStreet"
    city = "City" if object_name == "Lead" else "MailingCity"
    return [
        mapping_row(
            f"{prefix}_FirstName",
            "Preferred_Name__c",
            "first_name",
            object_name,
            Fallback_Salesforce_Field__c="FirstName",
        ),
        mapping_row(f"{prefix}_LastName", "LastName", "last_name", object_name),
        mapping_row(f"{prefix}_Phone", "MobilePhone", "phone", object_name, Is_Matching__c=True, Is_Required__c=True),
        mapping_row(f"{prefix}_Email", "Email", "email", object_name, Is_Matching__c=True),
        mapping_row(f"{prefix}_Street", street, "street1", object_name),
        mapping_row(f"{prefix}_City", city, "city", object_name, Merge_Policy__c="Fill Empty Only"),
        mapping_row(f"{prefix}_Id", "Id", "custom:sf_id", object_name, Direction__c="To Platform"),
        mapping_row(f"{prefix}_Tshirt", "Shirt_Size__c", "custom:Shirt Size", object_name),
    ]


def sync_config(
    object_overrides: dict[str, Any] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    *,
    with_lead: bool = False,
    lead_overrides: dict[str, Any] | None = None,
) -> SyncConfig:
    objects = [object_row("Contact", **(object_overrides or {}))]
    rows = list(mappings if mappings is not None else default_mappings("Contact"))
    if with_lead:
        objects.append(object_row("Lead", **(lead_overrides or {})))
        rows.extend(default_mappings("Lead"))
    return parse_sync_config(objects, rows)


def contact_config(**object_overrides: Any) -> SyncObjectConfig:
    config = sync_config(object_overrides).for_object("Contact")
    assert config is not None
    return config


def sf_record(object_name: str = "Contact", record_id: str = CONTACT_ID, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "attributes": {"type": object_name, "url": f"/services/data/v62.0/sobjects/{object_name}/{record_id}"},
        "Id": record_id,
        "SystemModstamp": "2026-11-25T08:00:00.000+0000",
        "Preferred_Name__c": None,
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "MobilePhone": "(415) 555-2671",
        "Email": "ada@example.org",
        "MailingStreet": "1 Analytical Way",
        "MailingCity": "London",
        "Shirt_Size__c": "M",
        "Mobile_Subscriber__c": True,
        "Messaging_Status__c": None,
        "Messaging_Contact_Id__c": None,
    }
    record.update(fields)
    return record
