"""Writes the sync log, `Sync_Result__c`: one row per synced record (and summary rows of bulk runs).

Guarantees: many results are inserted per call (sObject Collections, 200 a call; Bulk API above the client's
ingest threshold); every value is cut to its field's length so a long message never makes the row fail;
request bodies given as mappings are serialised with secret-looking keys masked. Returns one `RecordResult`
per entry, in order; per-row refusals are results, not exceptions.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.domain.errors import SyncError
from gateway.salesforce.client import SalesforceClient
from gateway.salesforce.results import RecordResult

SOBJECT = "Sync_Result__c"

_LENGTHS = {
    "Error_Code__c": 80,
    "Message__c": 32768,
    "Request_Endpoint__c": 255,
    "Request_Body__c": 131072,
    "Record_Id__c": 18,
    "Object__c": 80,
    "Platform__c": 40,
    "Platform_Contact_Id__c": 64,
    "Run_Id__c": 64,
}
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|authorization|api[_-]?key|signature|private", re.IGNORECASE)


class Direction(enum.StrEnum):
    TO_PLATFORM = "To Platform"
    TO_SALESFORCE = "To Salesforce"


class Status(enum.StrEnum):
    SUCCESS = "Success"
    PARTIAL_FAILURE = "Partial Failure"
    FAILURE = "Failure"
    SKIPPED = "Skipped"


@dataclass(frozen=True)
class SyncResultEntry:
    """One row of the sync log. `error` fills Error_Code__c and (unless `message` is given) Message__c."""

    direction: Direction
    status: Status
    object_name: str | None = None
    record_id: str | None = None
    error: SyncError | None = None
    message: str | None = None
    request_endpoint: str | None = None
    request_body: str | Mapping[str, Any] | None = None
    platform: str | None = None
    platform_contact_id: str | None = None
    run_id: str | None = None


def mask_secrets(value: Any) -> Any:
    """A copy of a JSON-like value with the values of secret-looking keys replaced by `********`."""
    if isinstance(value, Mapping):
        return {k: "********" if _SECRET_KEY.search(str(k)) else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value


def to_record(entry: SyncResultEntry) -> dict[str, Any]:
    """The `Sync_Result__c` field values of one entry (empty values left out)."""
    body = entry.request_body
    if isinstance(body, Mapping):
        body = json.dumps(mask_secrets(body), separators=(",", ":"), default=str)
    message = entry.message if entry.message is not None else (entry.error.message if entry.error else None)
    values: dict[str, Any] = {
        "Direction__c": str(entry.direction),
        "Status__c": str(entry.status),
        "Error_Code__c": str(entry.error.code) if entry.error else None,
        "Message__c": message,
        "Request_Endpoint__c": entry.request_endpoint,
        "Request_Body__c": body,
        "Record_Id__c": entry.record_id,
        "Object__c": entry.object_name,
        "Platform__c": entry.platform,
        "Platform_Contact_Id__c": entry.platform_contact_id,
        "Run_Id__c": entry.run_id,
    }
    record: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        limit = _LENGTHS.get(name)
        too_long = limit is not None and isinstance(value, str) and len(value) > limit
        record[name] = value[: limit - 1] + "…" if too_long and limit is not None else value
    return record


def write_sync_results(client: SalesforceClient, entries: Sequence[SyncResultEntry]) -> list[RecordResult]:
    """Insert the entries as `Sync_Result__c` rows; one result per entry. Raises only the client's call-level
    errors (`ApiBudgetExhausted` with `next_index`, `SalesforceUnavailable`…)."""
    return client.create(SOBJECT, [to_record(e) for e in entries])
