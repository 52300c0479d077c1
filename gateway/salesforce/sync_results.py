"""Writes the sync log, `Sync_Result__c`: one row per synced record (and summary rows of bulk runs).

Guarantees: many results are written per call (sObject Collections, 200 a call; Bulk API above the client's
ingest threshold); every value is cut to its field's length so a long message never makes the row fail;
request bodies given as mappings are serialised with secret-looking keys masked. An entry with a `key` is upserted
by `Sync_Key__c` (external id, unique), so writing it again — a retried call, a write-back repeated after a crash or
by a flusher that woke up late — updates its one row instead of adding another. Returns one `RecordResult` per
entry, in order; per-row refusals are results, not exceptions.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from gateway.domain.errors import SyncError
from gateway.salesforce.results import RecordResult

if TYPE_CHECKING:
    from gateway.salesforce.client import SalesforceClient

SOBJECT = "Sync_Result__c"
KEY_FIELD = "Sync_Key__c"

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
    key: str | None = None  # the row's idempotency key (`Sync_Key__c`); None: always a new row


@functools.lru_cache(maxsize=4096)
def _is_secret(key: str) -> bool:
    """The key names a secret (cached: a log row's body repeats the same few dozen field names)."""
    return _SECRET_KEY.search(key) is not None


def mask_secrets(value: Any) -> Any:
    """A copy of a JSON-like value with the values of secret-looking keys replaced by `********`."""
    if isinstance(value, Mapping):
        return {k: "********" if _is_secret(str(k)) else mask_secrets(v) for k, v in value.items()}
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
        KEY_FIELD: entry.key,
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
    """Write the entries as `Sync_Result__c` rows (upserted by `Sync_Key__c` when keyed); one result per entry, in
    order. Raises only the client's call-level errors (`ApiBudgetExhausted`, `SalesforceUnavailable`…): writing the
    entries again then repeats no keyed row."""
    keyed = [i for i, e in enumerate(entries) if e.key]
    plain = [i for i, e in enumerate(entries) if not e.key]
    results: list[RecordResult] = []
    if keyed:
        written = client.upsert(SOBJECT, KEY_FIELD, [to_record(entries[i]) for i in keyed])
        results += [replace(r, index=keyed[r.index]) for r in written]
    if plain:
        written = client.create(SOBJECT, [to_record(entries[i]) for i in plain])
        results += [replace(r, index=plain[r.index]) for r in written]
    return sorted(results, key=lambda r: r.index)
