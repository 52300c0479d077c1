"""SOSL text for finding records by phone number, and reading the search resource's answers.

Facts behind these choices, with sources: `docs/salesforce-phone-search.md`.

Guarantees:
* Every search term is escaped: a reserved character (`? & | ! { } [ ] ( ) ^ ~ * : \\ " ' + -`) never reaches
  Salesforce unescaped, so user text cannot turn into operators or a MALFORMED_SEARCH.
* `phone_terms` finds a number whichever way Salesforce's index reads phone fields (a documented reading, text
  tokens split on spaces and punctuation, and a plausible one, the field's digits): it searches the number's
  groups as a phrase (national and international grouping) and its digit strings (national, with trunk prefix,
  with country code), digit strings with a trailing wildcard so that a typed extension does not hide them.
* `plan_phone_searches` keeps each FIND clause under the 4,000 characters beyond which Salesforce silently drops
  the OR operators, and each statement under `MAX_QUERY_CHARS` once URL-encoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import phonenumbers

#: Characters SOSL reserves inside FIND {…}; each must be preceded by a backslash to be searched for.
RESERVED = frozenset("?&|!{}[]()^~*:\\\"'+-")
#: Results one SOSL statement returns at most (API v28.0 and later), all objects together.
MAX_ROWS = 2000
#: Above this many characters Salesforce removes the logical operators of a FIND clause (OR would become AND);
#: our clauses stay below it, with a margin.
MAX_FIND_CHARS = 3800
#: The whole statement, URL-encoded, stays below this (REST URLs are limited to about 16 KB).
MAX_QUERY_CHARS = 12_000
SEARCH_GROUPS = ("ALL", "NAME", "EMAIL", "PHONE", "SIDEBAR")

_NON_DIGITS = re.compile(r"\D+")


def escape_term(text: str) -> str:
    """`text` with every SOSL reserved character backslash-escaped (for use inside FIND {…})."""
    return "".join("\\" + ch if ch in RESERVED else ch for ch in text)


def phrase(text: str) -> str:
    """An exact-phrase term: `"…"` around the escaped text."""
    return '"' + escape_term(text) + '"'


def phone_terms(e164: str) -> list[str]:
    """The FIND terms (already escaped, to be joined with OR) that find the number `e164` as people type it.

    For +1 307 399 7990: the phrase `"307 399 7990"` (matches `(307) 399-7990`, `307.399.7990`,
    `+1 307 399 7990`, `1-307-399-7990`, `307 399 7990 ext. 12`, … wherever the index splits on punctuation), and
    `3073997990*`, `13073997990*` (match `3073997990`, `+13073997990`, and digit-normalised readings).
    """
    number = phonenumbers.parse(e164)
    national_digits = phonenumbers.national_significant_number(number)
    country = str(number.country_code)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    groupings = [
        _NON_DIGITS.split(national.strip()),
        _NON_DIGITS.split(international.strip())[2:],  # drop "" before "+" and the country code
    ]
    terms: list[str] = []
    for grouping in groupings:
        groups = [g for g in grouping if g]
        if len(groups) > 1:
            terms.append(phrase(" ".join(groups)))
    for digits in (national_digits, _NON_DIGITS.sub("", national), country + national_digits):
        if len(digits) >= 2:
            terms.append(escape_term(digits) + "*")
    return list(dict.fromkeys(terms))


def find_clause(terms: Iterable[str]) -> str:
    """`FIND {a OR b OR …}` from already escaped terms."""
    joined = " OR ".join(terms)
    if not joined:
        raise ValueError("a SOSL search needs at least one term")
    return "FIND {" + joined + "}"


@dataclass(frozen=True, slots=True)
class Returning:
    """One object of a RETURNING clause: the fields to return, and an optional per-object LIMIT."""

    sobject: str
    fields: tuple[str, ...] = ("Id",)
    limit: int | None = None

    def text(self) -> str:
        fields = ", ".join(dict.fromkeys(("Id", *self.fields)))
        limit = f" LIMIT {self.limit}" if self.limit is not None else ""
        return f"{self.sobject}({fields}{limit})"


def search_statement(terms: Sequence[str], returning: Sequence[Returning], *, group: str = "PHONE") -> str:
    """`FIND {…} IN <group> FIELDS RETURNING Obj(fields LIMIT n), …`."""
    if group not in SEARCH_GROUPS:
        raise ValueError(f"unknown search group {group!r}; one of {', '.join(SEARCH_GROUPS)}")
    if not returning:
        raise ValueError("a phone search names the objects it returns")
    objects = ", ".join(r.text() for r in returning)
    return f"{find_clause(terms)} IN {group} FIELDS RETURNING {objects}"


def plan_phone_searches(
    phones: Sequence[str],
    returning: Sequence[Returning],
    *,
    max_find_chars: int = MAX_FIND_CHARS,
    max_query_chars: int = MAX_QUERY_CHARS,
) -> list[tuple[list[str], str]]:
    """Split E.164 `phones` into as few SOSL statements as the limits allow: `[(phones, statement), …]`.

    Raises `ValueError` if one number alone does not fit (it always does with the default limits)."""
    plans: list[tuple[list[str], str]] = []
    group: list[str] = []
    terms: list[str] = []

    def fits(candidate_terms: list[str]) -> bool:
        statement = search_statement(candidate_terms, returning)
        return len(find_clause(candidate_terms)) <= max_find_chars and len(quote_plus(statement)) <= max_query_chars

    for phone in dict.fromkeys(phones):
        own = phone_terms(phone)
        if group and fits(terms + own):
            group.append(phone)
            terms.extend(own)
            continue
        if group:
            plans.append((group, search_statement(terms, returning)))
        if not fits(own):
            raise ValueError(f"the search for {phone} alone exceeds the SOSL limits")
        group, terms = [phone], list(own)
    if group:
        plans.append((group, search_statement(terms, returning)))
    return plans


def search_records(answer: Any) -> list[dict[str, Any]]:
    """The records of a search resource answer: `{"searchRecords": [...]}` (API v36.0+ as documented from v37.0),
    a bare list (as documented up to v35.0), or nothing (simple-salesforce gives None for an empty body)."""
    if answer is None:
        return []
    if isinstance(answer, dict):
        answer = answer.get("searchRecords")
        if answer is None:
            return []
    if not isinstance(answer, list):
        raise ValueError(f"unexpected search answer: {type(answer).__name__}")
    return [dict(r) for r in answer if isinstance(r, dict)]


def record_type(record: dict[str, Any]) -> str | None:
    """The sObject type named in a record's `attributes`."""
    attributes = record.get("attributes")
    if isinstance(attributes, dict) and isinstance(attributes.get("type"), str):
        return str(attributes["type"])
    return None
