"""The Salesforce side's matching index for platform → Salesforce initial runs: every record of the active objects
by platform id, phone (E.164) and email, streamed once into Redis, so each chunk reads only the rows its people
match instead of querying Salesforce per person.

Guarantees: memory is bounded by one page of rows (2,000); the index lives with the run (`RUN_TTL`); a person's
candidates are every indexed record sharing a key with them (the domain then picks the match among them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gateway.domain import platform_fields
from gateway.domain.contact import Contact
from gateway.domain.phones import normalize_phone
from gateway.domain.sync_config import SyncObjectConfig
from gateway.redis_client import text
from gateway.salesforce import queries
from gateway.sync.bulk.runs import RUN_TTL, key
from gateway.sync.context import SyncContext

IN_BATCH = 300  # ids per `Id IN (...)` query: keeps the GET URL well under Salesforce's limit
PAGE = 2000


def _index_value(kind: str, value: Any, region: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    if kind == "phone":
        try:
            return normalize_phone(value, region)
        except ValueError:
            return None
    return value.strip().casefold()


def build_index(context: SyncContext, run_id: str, objects: Sequence[SyncObjectConfig]) -> None:
    """Index every record of the active objects by platform id, phone and email (streamed, page by page)."""
    redis = context.redis
    region = context.settings.phone_default_region
    for obj in objects:
        fields: dict[str, str] = {obj.platform_id_field: "pid"}
        for mapping in obj.matching_mappings:
            kind = "phone" if mapping.platform_field == platform_fields.PHONE else mapping.platform_field
            for name in mapping.salesforce_fields:
                fields.setdefault(name, kind)
        stream = context.salesforce.iter_query(queries.all_records(obj.object_name, fields))
        page: list[dict[str, Any]] = []
        for row in stream:
            page.append(row)
            if len(page) >= PAGE:
                _index_page(redis, run_id, obj.object_name, page, fields, region)
                page = []
        _index_page(redis, run_id, obj.object_name, page, fields, region)


def _index_page(
    redis: Any, run_id: str, object_name: str, rows: Sequence[Mapping[str, Any]], fields: Mapping[str, str], region: str
) -> None:
    if not rows:
        return
    entries: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        ref = f"{object_name}:{row['Id']}"
        for name, kind in fields.items():
            value = _index_value(
                kind, next((v for k, v in row.items() if k.casefold() == name.casefold()), None), region
            )
            if value is not None:
                entries[(kind, value)].add(ref)
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, value in entries:
        by_kind[kind].append(value)
    pipe = redis.pipeline(transaction=False)
    for kind, values in by_kind.items():
        pipe.hmget(key(run_id, f"idx:{kind}"), values)
    existing = pipe.execute()
    pipe = redis.pipeline(transaction=False)
    for (kind, values), found in zip(by_kind.items(), existing, strict=True):
        merged = {}
        for value, old in zip(values, found, strict=True):
            refs = entries[(kind, value)] | (set(text(old).split(",")) if old else set())
            merged[value] = ",".join(sorted(refs))
        pipe.hset(key(run_id, f"idx:{kind}"), mapping=merged)
        pipe.expire(key(run_id, f"idx:{kind}"), RUN_TTL)
    pipe.execute()


def candidates_by_contact(context: SyncContext, run_id: str, contacts: Sequence[Contact]) -> list[list[dict[str, Any]]]:
    """For each contact, the Salesforce rows it could match (index lookups, then only matched rows are read)."""
    redis = context.redis
    region = context.settings.phone_default_region
    lookups: list[list[tuple[str, str]]] = []
    for c in contacts:
        wanted = []
        if c.platform_id:
            wanted.append(("pid", c.platform_id.strip().casefold()))
        if c.phone:
            phone = _index_value("phone", c.phone, region)
            if phone:
                wanted.append(("phone", phone))
        if c.email:
            wanted.append(("email", c.email.strip().casefold()))
        lookups.append(wanted)
    pipe = redis.pipeline(transaction=False)
    flat = [w for wanted in lookups for w in wanted]
    for kind, value in flat:
        pipe.hget(key(run_id, f"idx:{kind}"), value)
    found = iter(pipe.execute())
    refs_per_contact: list[set[str]] = []
    for c, wanted in zip(contacts, lookups, strict=True):
        refs: set[str] = set()
        for _ in wanted:
            hit = next(found)
            if hit:
                refs.update(text(hit).split(","))
        if c.crm_id:
            refs.update(f"{obj.object_name}:{c.crm_id}" for obj in context.sync_config().active_objects)
        refs_per_contact.append(refs)
    by_object: dict[str, set[str]] = defaultdict(set)
    for refs in refs_per_contact:
        for ref in refs:
            object_name, _, record_id = ref.partition(":")
            by_object[object_name].add(record_id)
    fetched: dict[str, dict[str, Any]] = {}
    config = context.sync_config()
    for object_name, ids in by_object.items():
        obj = config.for_object(object_name)
        if obj is None:
            continue
        for batch in _in_batches(sorted(ids)):
            for found_row in context.salesforce.iter_query(queries.records_by_id(obj, batch), api="rest"):
                row = {**found_row, "attributes": {"type": obj.object_name}}
                fetched[f"{obj.object_name}:{row['Id']}"] = row
                fetched[f"{obj.object_name}:{str(row['Id'])[:15]}"] = row
    return [[fetched[r] for r in refs if r in fetched] for refs in refs_per_contact]


def _in_batches(items: Sequence[str], size: int = IN_BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
