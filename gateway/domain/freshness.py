"""Staleness and echo suppression: whether a change is newer than what was synced, and whether it changes anything.

Guarantees: `is_newer` is strict (the version already synced is not newer than itself) and treats a
missing version on either side as "newer" so nothing is dropped for lack of a timestamp; naive
datetimes are read as UTC. `fingerprint` is the sha256 of canonical JSON: independent of key order,
equal for equal values, different when any value differs (None and "" are kept distinct).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from gateway.domain import platform_fields
from gateway.domain.contact import Contact

_SPACE_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*UTC$")


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime from Salesforce (`2026-11-25T08:00:00.000+0000`), ISO `…Z`, or the
    `2019-06-06 19:33:03 UTC` form some platforms use. Raises ValueError for anything else."""
    value = text.strip()
    space_utc = _SPACE_UTC.match(value)
    if space_utc:
        value = f"{space_utc.group(1)}T{space_utc.group(2)}+00:00"
    return as_utc(datetime.fromisoformat(value))


def is_newer(version: datetime | None, last_synced_version: datetime | None) -> bool:
    """True when a change at `version` must still be synced, given the last version synced for that record."""
    if version is None or last_synced_version is None:
        return True
    return as_utc(version) > as_utc(last_synced_version)


def _canonical(value: object) -> object:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return value


# `json.dumps` with these options would build its encoder anew on every call; the encoders keep no state of a call.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_FIELD_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

# Values `_canonical` returns as they are: a dict of these with str keys is its own canonical form.
_AS_THEY_ARE = frozenset({str, int, float, bool, type(None)})


def fingerprint(values: Mapping[str, object]) -> str:
    """A stable hex digest of `values` (str keys; JSON values, datetimes, sets).

    A plain dict of text, numbers, booleans and blanks (every mapped record's values) is serialised as it is, with
    the bytes `_canonical` would give it: its walk cost most of a fingerprint, and a record takes four a sync."""
    plain = type(values) is dict and all(type(k) is str and type(v) in _AS_THEY_ARE for k, v in values.items())
    canonical = _CANONICAL_JSON.encode(values if plain else _canonical(values))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def field_digest(name: str, value: object) -> str:
    """`fingerprint({name: value})[:16]`, the digest a sync remembers of one field's value; a text or blank value
    (every mapped value) is serialised directly, with the bytes `fingerprint` would hash."""
    if value is None or isinstance(value, str):
        canonical = _FIELD_JSON.encode({name: value})
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    return fingerprint({name: value})[:16]


def contact_values(contact: Contact) -> dict[str, object]:
    """The values of `contact` that a sync writes, by platform field name (ids and versions left out)."""
    values: dict[str, object] = {
        name: platform_fields.contact_value(contact, name) for name in sorted(platform_fields.STANDARD_FIELDS)
    }
    for name, value in contact.custom_fields.items():
        values[platform_fields.CUSTOM_PREFIX + name] = value
    values[platform_fields.SMS_STATUS] = contact.sms_status.value
    return values


def contact_fingerprint(contact: Contact) -> str:
    """Fingerprint of what a sync of `contact` would write; equal for two contacts differing only in version/ids."""
    return fingerprint(contact_values(contact))
