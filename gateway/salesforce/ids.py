"""Facts about Salesforce record ids the gateway can check without asking Salesforce.

- An id is 15 case-sensitive alphanumerics, or those plus a 3-character suffix that encodes which of the 15 are
  upper case (5 bits per block of 5, alphabet A-Z then 0-5). A real 18-character id always carries the right
  suffix; one that does not was typed or forged.
- Its first three characters are the object's key prefix. For standard objects the prefix is the same in every org
  (research: salesforce-platform.md §C "Key prefixes", salesforce.com list S49; the package's emulator uses the
  same): Account 001, Contact 003, User 005, Opportunity 006, Lead 00Q, Task 00T, Event 00U, Case 500, Campaign 701,
  Organization 00D. A custom object's prefix is assigned per org (usually `a` and two characters), so it cannot be
  checked here: `prefix_problem` refuses only an id whose prefix belongs to a *different* known object, and the sync
  checks the rest against the object's `keyPrefix` from describe (docs/trust-boundaries.md).
"""

from __future__ import annotations

import functools
import re
import string

ID_PATTERN = re.compile(r"\A[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?\Z")
STANDARD_KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "Case": "500",
    "Campaign": "701",
    "Organization": "00D",
}
_BY_NAME = {name.casefold(): prefix for name, prefix in STANDARD_KEY_PREFIXES.items()}
_BY_PREFIX = {prefix: name for name, prefix in STANDARD_KEY_PREFIXES.items()}
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


_CASE_BITS = str.maketrans({c: "1" if "A" <= c <= "Z" else "0" for c in string.ascii_letters + string.digits})


def checksum_suffix(id15: str) -> str:
    """The 3-character suffix that makes `id15` an 18-character id (bit i of block b: character 5b+i is upper)."""
    bits = id15.translate(_CASE_BITS)
    return "".join(_SUFFIX_ALPHABET[int(bits[start + 4 :: -1][:5], 2)] for start in (0, 5, 10))


@functools.lru_cache(maxsize=4096)  # a batch names each record twice (recordId, record.Id)
def id_problem(value: str) -> str | None:
    """Why `value` is not a Salesforce id, or None."""
    if not ID_PATTERN.match(value):
        return "not a 15- or 18-character Salesforce id"
    if len(value) == 18 and value[15:] != checksum_suffix(value[:15]):
        return "not a Salesforce id: its last 3 characters do not match the case of the first 15"
    return None


def standard_key_prefix(sobject_type: str) -> str | None:
    """The key prefix every org gives a standard object (None: a custom object, or one not in the table)."""
    return _BY_NAME.get(sobject_type.casefold())


def prefix_problem(record_id: str, sobject_type: str) -> str | None:
    """Why `record_id` cannot be a record of `sobject_type`, or None when its key prefix fits (or cannot be known)."""
    prefix = record_id[:3]
    expected = _BY_NAME.get(sobject_type.casefold())
    if expected is not None:
        if prefix == expected:
            return None
        owner = _BY_PREFIX.get(prefix)
        what = f"a {owner} id" if owner else f"an id with key prefix {prefix}"
        return f"{record_id} is {what}, not a {sobject_type} id (key prefix {expected})"
    owner = _BY_PREFIX.get(prefix)
    if owner is not None:
        return f"{record_id} is a {owner} id (key prefix {prefix}), not a {sobject_type} id"
    return None


def same_record(a: str, b: str) -> bool:
    """Whether two ids (15 or 18 characters) name the same record: equal case-sensitive 15-character forms."""
    return a[:15] == b[:15]
