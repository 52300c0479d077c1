"""Small, safe SOQL text: the queried object, the COUNT() form used to size a query, quoted values, and the
recently-changed-records-by-phone-digits query used to cover records too fresh for the search index.

Guarantees: keywords inside string literals or parenthesised sub-queries are never mistaken for clauses; a query
these functions cannot read raises `ValueError` (the caller then falls back to REST paging).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

_KEYWORD = re.compile(r"(FROM|ORDER\s+BY|LIMIT|OFFSET|FOR\s+(?:VIEW|UPDATE|REFERENCE))\b", re.IGNORECASE)


def _top_level_clauses(soql: str) -> list[tuple[int, str]]:
    """(position, KEYWORD) of each clause keyword outside quotes and parentheses."""
    found: list[tuple[int, str]] = []
    depth = 0
    in_quote = False
    i = 0
    while i < len(soql):
        ch = soql[i]
        if in_quote:
            if ch == "\\":
                i += 2
                continue
            if ch == "'":
                in_quote = False
        elif ch == "'":
            in_quote = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and (i == 0 or not (soql[i - 1].isalnum() or soql[i - 1] == "_")):
            match = _KEYWORD.match(soql, i)
            if match:
                found.append((i, " ".join(match.group(1).upper().split())))
                i = match.end()
                continue
        i += 1
    return found


def object_name(soql: str) -> str:
    """The sObject a query reads (`SELECT Id FROM Contact WHERE …` → `Contact`)."""
    clauses = _top_level_clauses(soql)
    froms = [pos for pos, kw in clauses if kw == "FROM"]
    if not froms:
        raise ValueError("no FROM clause")
    rest = soql[froms[0] + 4 :].split()
    if not rest:
        raise ValueError("no object after FROM")
    return rest[0].rstrip(",")


def limit_of(soql: str) -> int | None:
    """The top-level LIMIT, if any."""
    for pos, kw in _top_level_clauses(soql):
        if kw == "LIMIT":
            match = re.match(r"LIMIT\s+(\d+)", soql[pos:], re.IGNORECASE)
            if match:
                return int(match.group(1))
    return None


def count_query(soql: str) -> str:
    """`SELECT COUNT() FROM <object> [WHERE …]`: the same rows, counted (ORDER BY, LIMIT, OFFSET, FOR dropped;
    apply `limit_of` to the count yourself)."""
    clauses = _top_level_clauses(soql)
    froms = [pos for pos, kw in clauses if kw == "FROM"]
    if not froms:
        raise ValueError("no FROM clause")
    start = froms[0]
    tail_starts = [pos for pos, kw in clauses if kw != "FROM" and pos > start]
    end = min(tail_starts) if tail_starts else len(soql)
    return "SELECT COUNT() " + soql[start:end].strip()


def quote(value: str) -> str:
    """A SOQL string literal: backslashes and single quotes escaped, as SOQL requires."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def in_list(values: Iterable[str]) -> str:
    """The inside of an `IN (…)` clause for string values."""
    return ", ".join(quote(v) for v in values)


def digits_in_order(digits: str) -> str:
    """A LIKE pattern matching any text holding these digits in this order, whatever lies between them:
    `3073997990` → `'%3%0%7%3%9%9%7%9%9%0%'` (finds `(307) 399-7990`, `+1 307.399.7990 ext 5`, …)."""
    if not digits.isdigit():
        raise ValueError(f"digits only, not {digits!r}")
    return quote("%" + "%".join(digits) + "%")


def datetime_literal(moment: datetime) -> str:
    """A SOQL dateTime literal (UTC, no quotes): `2026-11-25T08:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def changed_since_with_digits(
    sobject: str, fields: Iterable[str], digit_fields: Iterable[str], numbers: Iterable[str], since: datetime
) -> str:
    """Records of `sobject` modified at or after `since` whose `digit_fields` hold any of the digit strings
    `numbers` in order (LIKE patterns, see `digits_in_order`); selective through the SystemModstamp index."""
    patterns = [digits_in_order(n) for n in dict.fromkeys(numbers)]
    names = list(dict.fromkeys(digit_fields))
    if not patterns or not names:
        raise ValueError("needs at least one number and one field")
    matches = " OR ".join(f"{name} LIKE {pattern}" for pattern in patterns for name in names)
    selected = ", ".join(dict.fromkeys(("Id", *fields)))
    return f"SELECT {selected} FROM {sobject} WHERE SystemModstamp >= {datetime_literal(since)} AND ({matches})"  # noqa: S608
