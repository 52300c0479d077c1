"""Every SOQL text the sync sends, built from the package's configuration; nothing outside `gateway.salesforce`
writes SOQL.

Guarantees: every value is quoted (`soql.quote`) or formatted as a SOQL datetime; object and field names come
from the package's custom metadata (already checked by `gateway.domain.sync_config`) or are constants here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from gateway.domain.mapping import salesforce_datetime
from gateway.domain.sync_config import OPTED_OUT_AT_FIELD, Direction, OptOutFieldType, SyncObjectConfig
from gateway.salesforce.soql import in_list, quote

NPSP_PRIMARY_CONTACT = "npsp__Primary_Contact__c"


def _where(clauses: Sequence[str], joiner: str = " AND ") -> str:
    return f" WHERE {joiner.join(clauses)}" if clauses else ""


def match_fields(obj: SyncObjectConfig) -> list[str]:
    """The fields matching and planning read from a candidate record (ids, links, status, mapped fields)."""
    fields = ["Id", obj.platform_id_field, obj.status_field, OPTED_OUT_AT_FIELD, *obj.salesforce_fields()]
    if obj.opt_out is not None:
        fields.append(obj.opt_out.field)
    for mapping in obj.mappings_for(Direction.TO_SALESFORCE):
        fields.extend(mapping.salesforce_fields)
    return sorted(set(fields))


def candidates(
    obj: SyncObjectConfig,
    *,
    crm_ids: Iterable[str] = (),
    platform_ids: Iterable[str] = (),
    matching: Mapping[str, Iterable[str]] | None = None,
) -> str | None:
    """Every record of `obj` whose Id, platform id or a matching field holds one of the values (None: no value)."""
    clauses = []
    if crm_ids := sorted(set(crm_ids)):
        clauses.append(f"Id IN ({in_list(crm_ids)})")
    if platform_ids := sorted(set(platform_ids)):
        clauses.append(f"{obj.platform_id_field} IN ({in_list(platform_ids)})")
    for field, values in (matching or {}).items():
        if wanted := sorted(set(values)):
            clauses.append(f"{field} IN ({in_list(wanted)})")
    if not clauses:
        return None
    return f"SELECT {', '.join(match_fields(obj))} FROM {obj.object_name}{_where(clauses, ' OR ')}"


def records_by_id(obj: SyncObjectConfig, ids: Sequence[str]) -> str:
    """These records of `obj`, with the fields matching reads."""
    return f"SELECT {', '.join(match_fields(obj))} FROM {obj.object_name} WHERE Id IN ({in_list(ids)})"


def records_as_synced(obj: SyncObjectConfig, ids: Sequence[str]) -> str:
    """These records of `obj` with every field the sync to the platform reads (deleted ones are not returned)."""
    return f"SELECT {', '.join(obj.salesforce_fields())} FROM {obj.object_name} WHERE Id IN ({in_list(ids)})"


def record_ids(object_name: str, *, since: datetime | None = None, after: str | None = None) -> str:
    """The ids of `object_name` in Id order, changed since `since`, after the id `after` (a planner's cursor)."""
    clauses = []
    if since is not None:
        clauses.append(f"SystemModstamp >= {salesforce_datetime(since)}")
    if after:
        clauses.append(f"Id > {quote(after)}")
    return f"SELECT Id FROM {object_name}{_where(clauses)} ORDER BY Id"


def changed_between(
    obj: SyncObjectConfig, since: datetime, until: datetime, *, limit: int, after_id: str | None = None
) -> str:
    """The ids and versions of `obj`'s records changed in [`since`, `until`] (those meeting its sync criteria, and
    those whose opt-out field says opted out: an opt-out may be what took a record out of the criteria, and the
    platform must still hear it), oldest change first (then by Id), `limit` at most (the catch-up's window). With
    `after_id`, the listing goes on after the row (`since`, `after_id`) — a keyset, so more than `limit` records
    changed in one instant (a mass update) are listed page by page instead of the same first page for ever."""
    start = f"SystemModstamp >= {salesforce_datetime(since)}"
    if after_id is not None:
        at = salesforce_datetime(since)
        start = f"(SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > {quote(after_id)}))"
    clauses = [start, f"SystemModstamp <= {salesforce_datetime(until)}"]
    if obj.sync_criteria_field:
        criteria, opted_out = f"{obj.sync_criteria_field} = true", _opted_out(obj)
        clauses.append(f"({criteria} OR {opted_out})" if opted_out else criteria)
    order = f"ORDER BY SystemModstamp, Id LIMIT {limit}"
    return f"SELECT Id, SystemModstamp FROM {obj.object_name}{_where(clauses)} {order}"


def _opted_out(obj: SyncObjectConfig) -> str | None:
    """The SOQL condition "this record's opt-out field says opted out" (None: the object has no opt-out field)."""
    opt_out = obj.opt_out
    if opt_out is None:
        return None
    if opt_out.type is OptOutFieldType.CHECKBOX:
        return f"{opt_out.field} = {'true' if opt_out.inverted else 'false'}"
    if not opt_out.opted_out_values:
        return None
    return f"{opt_out.field} IN ({in_list(opt_out.opted_out_values)})"


def record_window(obj: SyncObjectConfig, *, after: str | None, upto: str | None, since: datetime | None = None) -> str:
    """The records of `obj` with `after < Id <= upto` (either bound open when None), every field the sync reads."""
    clauses = []
    if after:
        clauses.append(f"Id > {quote(after)}")
    if upto:
        clauses.append(f"Id <= {quote(upto)}")
    if since is not None:
        clauses.append(f"SystemModstamp >= {salesforce_datetime(since)}")
    fields = ", ".join(obj.salesforce_fields())
    return f"SELECT {fields} FROM {obj.object_name}{_where(clauses)} ORDER BY Id"


def all_records(object_name: str, fields: Iterable[str]) -> str:
    """Every record of `object_name` with these fields (and Id)."""
    return f"SELECT {', '.join(['Id', *fields])} FROM {object_name}"


def donors(npsp: bool, since: datetime | None) -> str:
    """Donors' Contact ids: closed-won Opportunities through NPSP's primary contact, else through contact roles;
    changed since `since` when given."""
    if npsp:
        where = f"IsWon = true AND {NPSP_PRIMARY_CONTACT} != null"
        if since is not None:
            where += f" AND SystemModstamp >= {salesforce_datetime(since)}"
        return f"SELECT {NPSP_PRIMARY_CONTACT} FROM Opportunity WHERE {where}"
    where = "Opportunity.IsWon = true"
    if since is not None:
        stamp = salesforce_datetime(since)
        where += f" AND (SystemModstamp >= {stamp} OR Opportunity.SystemModstamp >= {stamp})"
    return f"SELECT ContactId FROM OpportunityContactRole WHERE {where}"


def linked_contacts(ids: Sequence[str], *, link_field: str, phone_fields: Sequence[str]) -> str:
    """Those of these Contacts that are linked to the platform, with their phones."""
    select = ", ".join(["Id", link_field, *phone_fields])
    return f"SELECT {select} FROM Contact WHERE Id IN ({in_list(ids)}) AND {link_field} != null"


def phone_of_record(object_name: str, *, key_field: str, value: str, phone_fields: Sequence[str]) -> str:
    """The phones of the one record of `object_name` whose `key_field` (Id or the platform-id field) is `value`."""
    fields = ", ".join(dict.fromkeys(["Id", *phone_fields]))
    return f"SELECT {fields} FROM {object_name} WHERE {key_field} = {quote(value)} LIMIT 1"


def recent_failures(limit: int) -> str:
    """The newest failed and partly failed `Sync_Result__c` rows of the last day."""
    return (
        "SELECT Id, Name, CreatedDate, Direction__c, Status__c, Error_Code__c, Message__c, Record_Id__c, Object__c, "
        "Resent_At__c FROM Sync_Result__c WHERE Status__c IN ('Failure', 'Partial Failure') "
        f"AND CreatedDate = LAST_N_DAYS:1 ORDER BY CreatedDate DESC LIMIT {int(limit)}"
    )


def sync_result(result_id: str) -> str:
    """One `Sync_Result__c` row with what a resend needs."""
    return f"SELECT Id, Direction__c, Status__c, Request_Body__c FROM Sync_Result__c WHERE Id = {quote(result_id)}"
