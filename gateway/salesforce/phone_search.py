"""Finding Salesforce records by phone number, whatever format the number was typed in.

Salesforce stores a phone field as typed (`(307) 399-7990`, `+1 307 399 7990`, `307.399.7990 ext. 12`…), and
SOQL compares text exactly, so an exact `IN` over a few formats misses records. Two reads together find them
(facts and sources: `docs/salesforce-phone-search.md`):

1. **SOSL** `FIND {…} IN PHONE FIELDS RETURNING …` through the search index: no table scan, one call for a batch
   of numbers (`sosl.plan_phone_searches` sizes the batches to the documented limits).
2. **SOQL over the recently changed records**: the search index trails writes ("about 15 minutes or more"), so
   records modified within `fresh_within` seconds are read with `SystemModstamp >= …` (indexed) and a LIKE that
   matches the number's digits in order, whatever lies between them. One query per object, all of them in one
   Composite call (one API call for up to 5 queries).

Every candidate is then checked locally: a record is returned only if one of its `phone_fields` is the same line
as a wanted number (`gateway.domain.phones`, formatting and extension ignored, numbers without `+` read in
`default_region`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import phonenumbers

from gateway.domain.phones import InvalidPhoneNumber, normalize_phone
from gateway.salesforce import soql as soql_text
from gateway.salesforce import sosl as sosl_text

if TYPE_CHECKING:
    from gateway.salesforce.client import SalesforceClient

log = logging.getLogger(__name__)

#: Records changed this recently are read by SOQL, not trusted to the search index (4x its documented typical lag).
DEFAULT_FRESH_WITHIN = 3600.0


@dataclass(frozen=True, slots=True)
class PhoneLookup:
    """One object to look in: the phone fields that must hold the number, and the other fields to return."""

    sobject: str
    phone_fields: tuple[str, ...]
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.phone_fields:
            raise ValueError(f"{self.sobject}: name at least one phone field to match on")

    @property
    def returned(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(("Id", *self.phone_fields, *self.fields)))


def wanted_numbers(phones: Iterable[str], default_region: str) -> set[str]:
    """The E.164 form of each phone; `ValueError` naming the first one that is not a valid number."""
    wanted: set[str] = set()
    for phone in phones:
        try:
            wanted.add(normalize_phone(phone, default_region))
        except InvalidPhoneNumber as exc:
            raise ValueError(f"cannot search Salesforce for this phone: {exc}") from None
    return wanted


def find_by_phone(
    client: SalesforceClient,
    lookups: Sequence[PhoneLookup],
    phones: Iterable[str],
    *,
    default_region: str = "US",
    fresh_within: float = DEFAULT_FRESH_WITHIN,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """See `SalesforceClient.find_by_phone`."""
    wanted = sorted(wanted_numbers(phones, default_region))
    if not wanted or not lookups:
        return []
    limit = max(1, sosl_text.MAX_ROWS // len(lookups))
    returning = [sosl_text.Returning(lk.sobject, lk.returned, limit) for lk in lookups]
    since = (now or datetime.now(UTC)) - timedelta(seconds=fresh_within)
    candidates: list[dict[str, Any]] = []
    for group, _statement in sosl_text.plan_phone_searches(wanted, returning):
        candidates.extend(_search(client, group, returning, limit))
    digits = [phonenumbers.national_significant_number(phonenumbers.parse(p)) for p in wanted]
    recent = [(lookup, soql) for lookup in lookups for soql in _recent_changes_queries(lookup, digits, since)]
    for (lookup, _soql), rows in zip(recent, client.query_each([soql for _, soql in recent]), strict=True):
        candidates.extend({"attributes": {"type": lookup.sobject}, **row} for row in rows)
    return _holding(candidates, lookups, set(wanted), default_region)


def _search(
    client: SalesforceClient, phones: list[str], returning: list[sosl_text.Returning], limit: int
) -> list[dict[str, Any]]:
    """One SOSL call for `phones`; when an object filled its LIMIT (more may exist), the halves are searched
    separately instead, so that no record is cut off by the 2,000-result cap."""
    terms = [term for phone in phones for term in sosl_text.phone_terms(phone)]
    records = client.search(sosl_text.search_statement(terms, returning))
    counts = Counter((sosl_text.record_type(r) or "").lower() for r in records)
    full = [r.sobject for r in returning if counts[r.sobject.lower()] >= limit]
    if not full:
        return records
    if len(phones) > 1:
        half = len(phones) // 2
        return _search(client, phones[:half], returning, limit) + _search(client, phones[half:], returning, limit)
    log.warning("at least %d %s records hold %s; only those are considered", limit, "/".join(full), phones[0])
    return records


def _recent_changes_queries(lookup: PhoneLookup, digits: list[str], since: datetime) -> list[str]:
    """SOQL over the records of `lookup` changed since `since` holding any of `digits`, split so that each query
    stays under `sosl.MAX_QUERY_CHARS` once URL-encoded."""

    def text(numbers: list[str]) -> str:
        return soql_text.changed_since_with_digits(lookup.sobject, lookup.returned, lookup.phone_fields, numbers, since)

    queries: list[str] = []
    current: list[str] = []
    for number in digits:
        if current and len(quote_plus(text([*current, number]))) > sosl_text.MAX_QUERY_CHARS:
            queries.append(text(current))
            current = []
        current.append(number)
    if current:
        queries.append(text(current))
    return queries


def _holding(
    candidates: list[dict[str, Any]], lookups: Sequence[PhoneLookup], wanted: set[str], default_region: str
) -> list[dict[str, Any]]:
    """Candidates that really hold a wanted number in one of their object's phone fields, once each."""
    by_object = {lk.sobject.lower(): lk for lk in lookups}
    kept: dict[str, dict[str, Any]] = {}
    for record in candidates:
        sobject = sosl_text.record_type(record) or ""
        lookup = by_object.get(sobject.lower())
        record_id = record.get("Id")
        if lookup is None or not isinstance(record_id, str) or record_id in kept:
            continue
        values = {k.lower(): v for k, v in record.items()}
        for name in lookup.phone_fields:
            value = values.get(name.lower())
            if isinstance(value, str) and _number(value, default_region) in wanted:
                kept[record_id] = {**record, "attributes": {"type": lookup.sobject}}
                break
    return list(kept.values())


def _number(value: str, default_region: str) -> str | None:
    try:
        return normalize_phone(value, default_region)
    except InvalidPhoneNumber:
        return None
