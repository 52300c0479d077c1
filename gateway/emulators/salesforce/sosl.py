"""The SOSL subset the emulator answers on `GET /services/data/vXX.X/search?q=`.

Supported, as documented (sources: `docs/salesforce-phone-search.md`): `FIND {SearchQuery}` with words, `"phrases"`,
the `*` and `?` wildcards (not at the start of a term; they take the type, digit or letter, of the character
before them), `AND`, `OR`, `AND NOT`, parentheses and backslash escapes (AND when no operator is given);
`IN ALL|NAME|EMAIL|PHONE|SIDEBAR FIELDS`; `RETURNING Obj(fields WHERE … ORDER BY … LIMIT n OFFSET n), …` (the
inner clauses are the emulator's SOQL); a statement `LIMIT` (at most 2,000 results in all, per-object limits
taken in order, a statement limit alone split evenly between the objects). Answers `{"searchRecords": […]}`
from API v36.0 (the v37.0 documentation shows it; v35.0 shows a bare list, which older versions get here).
Errors: `MALFORMED_SEARCH` with the org's located message shape (an unescaped reserved character answers
"mismatched character 'X' expecting '}'", as recorded from real orgs), `INVALID_FIELD`/`INVALID_TYPE` from the
RETURNING clause.

The index. Text is split into tokens at spaces, punctuation and changes between letters and digits (the
documented rule); a term matches a field holding its tokens in a row, case-insensitively. How the real index
treats phone fields beyond that (digit normalisation, country codes) is not documented: the emulator applies
the documented text rule only, the stricter of the plausible readings. A record becomes searchable
`index_delay` seconds after its last change (`SystemModstamp`), like the real index that trails writes by
"about 15 minutes or more"; until then SOSL does not return it (a real org would still find the old values of
an updated record; the emulator finds nothing). Deleted records are never returned. Unknown, and not emulated:
relevance order (results come in object order, then creation order), the index's own result-set cap before
filters, `WITH` clauses, `UPDATE TRACKING`.
"""

# ruff: noqa: S608 - SQL identifiers come from the org schema (validated names), values are bound parameters

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from .queries import QueryRunner
from .schema import SObjectDef
from .soql import Compiled, SoqlError, compile_query, format_datetime, tokenize

RESERVED = frozenset("?&|!{}[]()^~*:\\\"'+-")
MAX_RESULTS = 2000
SEARCH_GROUPS = ("ALL", "NAME", "EMAIL", "PHONE", "SIDEBAR")
_TEXT_TYPES = ("string", "textarea", "phone", "email", "url", "picklist", "combobox", "multipicklist")
_NAME_FIELDS = {
    "*": ("Name", "FirstName", "LastName", "MiddleName", "Suffix"),
    "account": ("Website", "Site"),
    "contact": ("AssistantName",),
    "lead": ("Company",),
}
_WORD = re.compile(r"[^\W\d_]+|\d+")


def index_tokens(text: str) -> list[str]:
    """How the index splits a field: runs of letters or of digits, lower-cased (`(307) 399-7990` → 307 399 7990)."""
    return [t.lower() for t in _WORD.findall(text)]


def _error(sosl: str, pos: int, message: str) -> SoqlError:
    flat = " ".join(sosl.split("\n"))
    caret = " " * max(0, pos - 1) + "^"
    return SoqlError("MALFORMED_SEARCH", f"\n{flat}\n{caret}\nERROR at Row:1:Column:{pos}\n{message}")


# --- the search expression -----------------------------------------------------------------------------


@dataclass
class Term:
    """One word or phrase: a run of token patterns that must appear in a row in one field."""

    patterns: list[re.Pattern[str]]
    fragment: str  # a literal every match contains (for the SQL pre-filter)

    def matches(self, tokens: list[str]) -> bool:
        n = len(self.patterns)
        for start in range(len(tokens) - n + 1):
            if all(p.fullmatch(tokens[start + i]) for i, p in enumerate(self.patterns)):
                return True
        return False


@dataclass
class Op:
    op: str  # AND OR NOT
    items: list[Any]


def _term(chars: list[tuple[str, bool]], sosl: str, pos: int) -> Term:
    """A term from (character, is_wildcard) pairs: split into tokens like the index, wildcards kept in tokens."""
    if chars and chars[0][1]:
        raise _error(sosl, pos, f"Invalid search term: a wildcard cannot start a term ('{chars[0][0]}')")
    tokens: list[list[tuple[str, bool]]] = []
    current: list[tuple[str, bool]] = []
    for ch, wild in chars:
        kind = _kind(ch)
        if wild or kind != "sep":
            if current and not wild and not current[-1][1] and _kind(current[-1][0]) != kind:
                tokens.append(current)
                current = []
            current.append((ch, wild))
        elif current:
            tokens.append(current)
            current = []
    if current:
        tokens.append(current)
    literal = "".join(ch for ch, wild in chars if not wild)
    if len(literal.strip()) < 2:
        raise _error(sosl, pos, "search term must be longer than one character")
    patterns = []
    fragment = ""
    for token in tokens:
        regex = ""
        previous = "letter"
        for ch, wild in token:
            if wild:
                cls = r"\d" if previous == "digit" else r"[^\W\d_]"
                regex += cls + ("*" if ch == "*" else "")
            else:
                previous = _kind(ch)
                regex += re.escape(ch.lower())
        patterns.append(re.compile(regex))
        run = "".join(ch.lower() for ch, wild in token if not wild)
        head = run if not any(w for _, w in token) else run[: next(i for i, (_, w) in enumerate(token) if w)]
        if len(head) > len(fragment):
            fragment = head
    return Term(patterns, fragment)


def _kind(ch: str) -> str:
    if ch.isdigit():
        return "digit"
    if ch.isalpha():
        return "letter"
    return "sep"


class _ExprParser:
    """The text between FIND's braces; positions are reported in the whole statement."""

    def __init__(self, sosl: str, start: int, end: int) -> None:
        self.sosl = sosl
        self.items: list[tuple[str, Any, int]] = []  # (kind, value, pos): word phrase ( ) AND OR NOT
        self._lex(start, end)
        self.i = 0

    def _lex(self, start: int, end: int) -> None:
        s = self.sosl
        i = start
        while i < end:
            ch = s[i]
            if ch.isspace():
                i += 1
            elif ch in "()":
                self.items.append((ch, None, i))
                i += 1
            elif ch == '"':
                chars, i2 = self._chars(i + 1, end, phrase=True)
                if i2 >= end or s[i2] != '"':
                    raise _error(s, i, "unterminated phrase: missing '\"'")
                self.items.append(("phrase", (chars, i), i))
                i = i2 + 1
            else:
                chars, i = self._chars(i, end, phrase=False)
                word = "".join(c for c, _ in chars)
                if word.upper() in ("AND", "OR", "NOT") and not any(w for _, w in chars):
                    self.items.append((word.upper(), None, i - len(word)))
                else:
                    self.items.append(("word", (chars, i - len(word)), i - len(word)))

    def _chars(self, i: int, end: int, *, phrase: bool) -> tuple[list[tuple[str, bool]], int]:
        s = self.sosl
        chars: list[tuple[str, bool]] = []
        while i < end:
            ch = s[i]
            if ch == "\\":
                if i + 1 >= end:
                    raise _error(s, i, f"line 1:{i} mismatched character '<EOF>' expecting '}}'")
                chars.append((s[i + 1], False))
                i += 2
                continue
            if phrase and ch == '"':
                break
            if not phrase and (ch.isspace() or ch in '()"'):
                break
            if ch in "*?":
                chars.append((ch, True))
            elif ch in RESERVED:
                raise _error(s, i, f"line 1:{i} mismatched character '{ch}' expecting '}}'")
            else:
                chars.append((ch, False))
            i += 1
        return chars, i

    def parse(self) -> Any:
        if not self.items:
            raise _error(self.sosl, 0, "No search term found. The search term must be enclosed in braces.")
        node = self.expr()
        if self.i < len(self.items):
            raise _error(self.sosl, self.items[self.i][2], f"unexpected token: '{self.items[self.i][0]}'")
        return node

    def peek(self) -> str | None:
        return self.items[self.i][0] if self.i < len(self.items) else None

    def expr(self) -> Any:
        items = [self.conjunction()]
        while self.peek() == "OR":
            self.i += 1
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Op("OR", items)

    def conjunction(self) -> Any:
        items = [self.unary()]
        while self.peek() not in (None, "OR", ")"):
            if self.peek() == "AND":
                self.i += 1
                if self.peek() == "NOT":
                    self.i += 1
                    items.append(Op("NOT", [self.unary()]))
                    continue
            items.append(self.unary())
        return items[0] if len(items) == 1 else Op("AND", items)

    def unary(self) -> Any:
        if self.i >= len(self.items):
            raise _error(self.sosl, len(self.sosl), "unexpected end of search expression")
        kind, value, pos = self.items[self.i]
        self.i += 1
        if kind == "(":
            node = self.expr()
            if self.peek() != ")":
                raise _error(self.sosl, pos, "missing ')'")
            self.i += 1
            return node
        if kind in ("word", "phrase"):
            chars, at = value
            return _term(chars, self.sosl, at)
        raise _error(self.sosl, pos, f"unexpected token: '{kind}'")


def _evaluate(node: Any, fields: list[list[str]]) -> bool:
    if isinstance(node, Term):
        return any(node.matches(tokens) for tokens in fields)
    if node.op == "OR":
        return any(_evaluate(i, fields) for i in node.items)
    if node.op == "NOT":
        return not _evaluate(node.items[0], fields)
    return all(_evaluate(i, fields) for i in node.items)


def _fragments(node: Any) -> list[str] | None:
    """Literals of which a matching record holds at least one (None: no such list, scan everything)."""
    if isinstance(node, Term):
        return [node.fragment] if node.fragment else None
    if node.op == "OR":
        out: list[str] = []
        for item in node.items:
            got = _fragments(item)
            if got is None:
                return None
            out.extend(got)
        return out
    if node.op == "AND":
        for item in node.items:
            got = _fragments(item)
            if got is not None:
                return got
    return None


# --- the statement ---------------------------------------------------------------------------------------


@dataclass
class Target:
    sobject: SObjectDef
    compiled: Compiled
    own_limit: int | None


@dataclass
class Search:
    expression: Any
    group: str
    targets: list[Target]
    limit: int | None
    text: str = ""


def parse_search(schema: dict[str, SObjectDef], sosl: str) -> Search:
    """Parse and check one SOSL statement; raises SoqlError (MALFORMED_SEARCH, INVALID_TYPE, INVALID_FIELD)."""
    if not sosl or not sosl.strip():
        raise SoqlError("MALFORMED_SEARCH", "A search string has to be specified")
    match = re.match(r"\s*FIND\s*", sosl, re.IGNORECASE)
    if not match or sosl[match.end() : match.end() + 1] != "{":
        at = match.end() if match else 0
        raise _error(sosl, at, "No search term found. The search term must be enclosed in braces.")
    start = match.end() + 1
    end = _closing_brace(sosl, start)
    expression = _ExprParser(sosl, start, end).parse()
    tokens = [t for t in tokenize(sosl[end + 1 :]) if t.kind != "eof"]
    for t in tokens:
        t.pos += end + 1
    i = 0

    def word(at: int) -> str:
        return tokens[at].upper if at < len(tokens) else ""

    group = "ALL"
    if word(i) == "IN":
        if word(i + 1) not in SEARCH_GROUPS or word(i + 2) != "FIELDS":
            at = tokens[i + 1].pos if i + 1 < len(tokens) else len(sosl)
            bad = tokens[i + 1].text if i + 1 < len(tokens) else "EOF"
            raise _error(sosl, at, f"Malformed search token: {bad}")
        group = word(i + 1)
        i += 3
    targets: list[Target] = []
    if word(i) == "RETURNING":
        i += 1
        while True:
            if i >= len(tokens) or tokens[i].kind != "ident":
                raise _error(sosl, tokens[i].pos if i < len(tokens) else len(sosl), "expecting an object name")
            name_tok = tokens[i]
            i += 1
            inner = ""
            if i < len(tokens) and tokens[i].text == "(":
                close = _matching_paren(tokens, i)
                if close is None:
                    raise _error(sosl, tokens[i].pos, "missing ')'")
                inner = sosl[tokens[i].pos + 1 : tokens[close].pos]
                i = close + 1
            targets.append(_target(schema, sosl, name_tok.text, name_tok.pos, inner))
            if i < len(tokens) and tokens[i].text == ",":
                i += 1
                continue
            break
    limit = None
    if word(i) == "LIMIT":
        if i + 1 >= len(tokens) or not tokens[i + 1].text.isdigit():
            raise _error(sosl, tokens[i].pos, "LIMIT needs a number")
        limit = int(tokens[i + 1].text)
        i += 2
    if i < len(tokens):
        raise _error(sosl, tokens[i].pos, f"unexpected token: '{tokens[i].text}' (not supported by this emulator)")
    if not targets:
        targets = [
            _target(schema, sosl, obj.name, 0, "")
            for obj in schema.values()
            if obj.kind in ("standard", "custom") and obj.queryable and _group_fields(obj, group)
        ]
    return Search(expression, group, targets, limit, sosl)


def _closing_brace(sosl: str, start: int) -> int:
    i = start
    in_phrase = False
    while i < len(sosl):
        ch = sosl[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            in_phrase = not in_phrase
        elif ch == "}" and not in_phrase:
            return i
        i += 1
    raise _error(sosl, len(sosl), f"line 1:{len(sosl)} mismatched character '<EOF>' expecting '}}'")


def _matching_paren(tokens: list[Any], open_at: int) -> int | None:
    depth = 0
    for j in range(open_at, len(tokens)):
        if tokens[j].text == "(":
            depth += 1
        elif tokens[j].text == ")":
            depth -= 1
            if depth == 0:
                return j
    return None


def _target(schema: dict[str, SObjectDef], sosl: str, name: str, pos: int, inner: str) -> Target:
    obj = schema.get(name.lower())
    if obj is None or not obj.queryable or obj.kind not in ("standard", "custom"):
        raise SoqlError(
            "INVALID_TYPE",
            f"\n{sosl}\nERROR at Row:1:Column:{pos}\nsObject type '{name}' is not supported.",
        )
    fields, clauses = _split_fields(inner)
    soql = f"SELECT {fields or 'Id'} FROM {obj.name} {clauses}".strip()
    try:
        compiled = compile_query(schema, soql)
    except SoqlError as exc:
        code = "MALFORMED_SEARCH" if exc.code == "MALFORMED_QUERY" else exc.code
        raise SoqlError(code, exc.message) from None
    if compiled.count is not None:
        raise SoqlError("MALFORMED_SEARCH", f"COUNT() is not allowed in RETURNING {name}")
    return Target(obj, compiled, compiled.limit)


def _split_fields(inner: str) -> tuple[str, str]:
    match = re.search(r"\b(WHERE|ORDER\s+BY|LIMIT|OFFSET)\b", inner, re.IGNORECASE)
    if match is None:
        return inner.strip(), ""
    return inner[: match.start()].strip(), inner[match.start() :].strip()


def _group_fields(obj: SObjectDef, group: str) -> list[str]:
    text_fields = [f for f in obj.fields.values() if f.type in _TEXT_TYPES]
    if group == "PHONE":
        return [f.name for f in text_fields if f.type == "phone"]
    if group == "EMAIL":
        return [f.name for f in text_fields if f.type == "email"]
    if group == "NAME":
        wanted = {n.lower() for n in (*_NAME_FIELDS["*"], *_NAME_FIELDS.get(obj.name.lower(), ()))}
        return [f.name for f in text_fields if f.name.lower() in wanted]
    return [f.name for f in text_fields]


# --- running it ------------------------------------------------------------------------------------------


class SearchRunner:
    """Answers SOSL from the store through the same compiled queries as SOQL."""

    def __init__(self, queries: QueryRunner) -> None:
        self.queries = queries
        self.store = queries.store

    def run(self, sosl: str, version: str, index_delay: float) -> Any:
        search = parse_search(self.store.schema, sosl)
        cutoff = format_datetime(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=max(0.0, index_delay)))
        overall = min(search.limit if search.limit is not None else MAX_RESULTS, MAX_RESULTS)
        even = search.limit is not None and all(t.own_limit is None for t in search.targets)
        share = overall // max(1, len(search.targets)) if even else None
        remaining = overall
        records: list[dict[str, Any]] = []
        for target in search.targets:
            own = target.own_limit if target.own_limit is not None else remaining
            cap = share if share is not None else min(remaining, own)
            if cap <= 0:
                continue
            ids = self._matching_ids(target.sobject, search, cutoff)
            found = self._records(target, ids, cap, version) if ids else []
            records.extend(found)
            remaining -= len(found)
        if float(version) < 36.0:
            return records
        return {"searchRecords": records}

    def _matching_ids(self, obj: SObjectDef, search: Search, cutoff: str) -> list[str]:
        fields = _group_fields(obj, search.group)
        if not fields:
            return []
        columns = ", ".join(f'"{f}"' for f in fields)
        where = '"IsDeleted" = 0 AND "SystemModstamp" <= ?'
        params: list[Any] = [cutoff]
        fragments = _fragments(search.expression)
        if fragments:  # a record must hold one of them: cheap to test in SQL before tokenising in Python
            haystack = " || ' ' || ".join(f"lower(coalesce(\"{f}\", ''))" for f in fields)
            where += f" AND EXISTS (SELECT 1 FROM json_each(?) WHERE instr({haystack}, value) > 0)"
            params.append(json.dumps(sorted(set(fragments))))
        with self.store.read() as conn:
            rows = conn.execute(f'SELECT "Id", {columns} FROM "{obj.name}" WHERE {where} ORDER BY rowid', params)
            return [
                row[0]
                for row in rows
                if _evaluate(search.expression, [index_tokens(v) for v in row[1:] if isinstance(v, str)])
            ]

    def _records(self, target: Target, ids: list[str], cap: int, version: str) -> list[dict[str, Any]]:
        c = target.compiled
        restricted = dataclasses.replace(
            c,
            where_sql=f'({c.where_sql}) AND {c.alias}."Id" IN (SELECT value FROM json_each(?))',
            params=[*c.params, json.dumps(ids)],
            keyset=None,
        )
        rows = self.queries.fetch(restricted, None, 0, cap)
        return self.queries.to_records(restricted, rows, version)
