"""What Salesforce itself holds for the records a batch of `Messaging_Sync__e` events names.

A batch comes with the org's credential, which proves who sent it, not that its values are true: a leaked
credential, a bug in the org or a replay could otherwise create platform contacts, subscribe (and so text) any phone,
re-link a record to another phone, or write made-up names back into Salesforce. So the sync trusts an event for
*which* record changed, and reads *what the record now holds* from Salesforce before doing anything with it.

Guarantees:
- Every event of an active object is read back, whatever it would lead to: one SOQL query per object and
  `READ_BACK_IDS` ids, sent `query_each`'s five to a Composite call (one API call for up to 1,000 records of one
  object), selecting every field the sync reads. The sync then uses Salesforce's values and its `SystemModstamp`,
  never the event's.
- A record the query does not return (it never existed, or it is deleted) comes back with `record=None`.
- An id whose key prefix is not its object's is refused (`invalid-record-id`) without a query: the prefix of a
  standard object is the same in every org (`salesforce.ids`); a custom object's is its describe's `keyPrefix`, read
  once and kept in Redis for `KEY_PREFIX_TTL` (every worker shares it; an org assigns a prefix once per object).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.domain.sync_config import SyncObjectConfig
from gateway.redis_client import text
from gateway.salesforce import queries
from gateway.salesforce.ids import standard_key_prefix
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)

READ_BACK_IDS = 200  # ids per query: about 5 KB of URL, well under Salesforce's limits on a GET
KEY_PREFIX_KEY = "gateway:salesforce:key-prefix:{}"  # lower-case object name -> its key prefix (from describe)
KEY_PREFIX_TTL = 24 * 3600


@dataclass(frozen=True)
class ReadBack:
    """One event with what Salesforce holds for its record: `record` (None: no such record, or deleted), or the
    `refusal` of an id that cannot be a record of the event's object."""

    obj: SyncObjectConfig
    event: Mapping[str, Any]
    record: dict[str, Any] | None = None
    refusal: SyncError | None = None


def key_prefix(context: SyncContext, object_name: str) -> str | None:
    """The key prefix of `object_name`'s ids in this org: the standard one, else describe's (cached in Redis)."""
    standard = standard_key_prefix(object_name)
    if standard is not None:
        return standard
    key = KEY_PREFIX_KEY.format(object_name.lower())
    cached = context.redis.get(key)
    if cached is not None:
        return text(cached) or None
    prefix = context.salesforce.describe(object_name).get("keyPrefix")
    context.redis.set(key, prefix or "", ex=KEY_PREFIX_TTL)
    return str(prefix) if prefix else None


def id_fits(context: SyncContext, record_id: str, object_name: str) -> bool:
    """`record_id` can be a record of `object_name` (its key prefix is the object's, or the object has none)."""
    prefix = key_prefix(context, object_name)
    return prefix is None or record_id.startswith(prefix)


def read_back(context: SyncContext, work: Sequence[tuple[SyncObjectConfig, Mapping[str, Any]]]) -> list[ReadBack]:
    """Each (object, event) with Salesforce's row for the event's record, in the order given."""
    refusals: dict[int, SyncError] = {}
    wanted: dict[str, tuple[SyncObjectConfig, list[str]]] = {}
    for i, (obj, event) in enumerate(work):
        record_id = str(event["recordId"])
        if not id_fits(context, record_id, obj.object_name):
            refusals[i] = SyncError(
                SyncErrorCode.INVALID_RECORD_ID,
                f"{record_id} is not a {obj.object_name} id: this org's {obj.object_name} ids start with "
                f"{key_prefix(context, obj.object_name)}.",
            )
            continue
        wanted.setdefault(obj.object_name, (obj, []))[1].append(record_id)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for object_name, (obj, ids) in wanted.items():
        unique = sorted(set(ids))
        soqls = [
            queries.records_as_synced(obj, unique[start : start + READ_BACK_IDS])
            for start in range(0, len(unique), READ_BACK_IDS)
        ]
        for answer in context.salesforce.query_each(soqls):
            for row in answer:
                rows[(object_name, str(row["Id"])[:15])] = row
    out = []
    for i, (obj, event) in enumerate(work):
        record_id = str(event["recordId"])
        found = rows.get((obj.object_name, record_id[:15]))  # ids compare case-sensitively as 15 characters
        out.append(ReadBack(obj, event, record=found, refusal=refusals.get(i)))
    missing = [
        r.event["recordId"] for r in out if r.record is None and r.refusal is None and r.event["operation"] != "delete"
    ]
    if missing:
        log.warning(
            "%d event(s) name records Salesforce does not hold (deleted since, or never existed), skipped: %s%s",
            len(missing),
            ", ".join(map(str, missing[:10])),
            " …" if len(missing) > 10 else "",
        )
    return out
