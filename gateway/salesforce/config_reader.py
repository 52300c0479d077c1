"""Reads the package's sync configuration from the org: `Messaging_Sync_Object__mdt` and `Messaging_Field_Mapping__mdt`.

Guarantees: returns the raw records (plain dicts keyed by the API names of docs/contracts.md, plus `DeveloperName`
and `MasterLabel`), every record, in a stable order; interpreting them is `gateway.domain`'s job. Costs one REST
query per type (custom metadata is small).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.salesforce.client import SalesforceClient

SYNC_OBJECT_FIELDS = (
    "DeveloperName",
    "MasterLabel",
    "Object_API_Name__c",
    "Active__c",
    "Sync_Criteria_Field__c",
    "Create_Unmatched_To_Platform__c",
    "Create_Unmatched_To_Salesforce__c",
    "Include_Deletions__c",
    "Send_All_Fields__c",
    "Opt_Out_Field__c",
    "Opt_Out_Field_Type__c",
    "Opt_Out_Inverted__c",
    "Opted_In_Values__c",
    "Opted_Out_Values__c",
    "Status_Field__c",
    "Platform_Id_Field__c",
    "Create_Unmatched_As__c",
)

FIELD_MAPPING_FIELDS = (
    "DeveloperName",
    "MasterLabel",
    "Object_API_Name__c",
    "Salesforce_Field__c",
    "Fallback_Salesforce_Field__c",
    "Platform_Field__c",
    "Direction__c",
    "Is_Matching__c",
    "Is_Required__c",
    "Merge_Policy__c",
)


@dataclass(frozen=True)
class RawSyncConfiguration:
    """The two custom-metadata types as Salesforce returned them."""

    sync_objects: list[dict[str, Any]]
    field_mappings: list[dict[str, Any]]


def sync_objects_soql() -> str:
    fields = ", ".join(SYNC_OBJECT_FIELDS)
    return f"SELECT {fields} FROM Messaging_Sync_Object__mdt ORDER BY DeveloperName"  # noqa: S608 - constants


def field_mappings_soql() -> str:
    fields = ", ".join(FIELD_MAPPING_FIELDS)
    return f"SELECT {fields} FROM Messaging_Field_Mapping__mdt ORDER BY Object_API_Name__c, DeveloperName"  # noqa: S608


def read_sync_configuration(client: SalesforceClient) -> RawSyncConfiguration:
    """Both configuration types, raw. Raises the client's typed errors (e.g. `SalesforceRequestError` with
    INVALID_TYPE when the package is not installed)."""
    return RawSyncConfiguration(
        sync_objects=client.query_records(sync_objects_soql()),
        field_mappings=client.query_records(field_mappings_soql()),
    )
