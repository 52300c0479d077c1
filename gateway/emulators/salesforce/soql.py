"""The SOQL subset the emulator understands, parsed to a small tree and compiled to SQLite SQL.

Supported: SELECT fields (with parent relationship paths such as `Account.Name`, `FIELDS(ALL|STANDARD|
CUSTOM)`, `COUNT()`, `COUNT(field)`), FROM, WHERE with AND/OR/NOT and parentheses, = != <> < <= > >=, IN /
NOT IN (value lists or a semi-join sub-query), LIKE, date literals (TODAY, LAST_N_DAYS:n, …), date and
datetime literals, ORDER BY … ASC|DESC NULLS FIRST|LAST, LIMIT, OFFSET. String comparisons are
case-insensitive and `!=` matches nulls, as in SOQL. Errors carry the org's error codes and message shapes
(MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR). The org's time zone is UTC.
"""

# ruff: noqa: S608 - SQL identifiers come from the org schema (validated names), values are bound parameters

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from . import ids
from .schema import NUMBER_TYPES, FieldDef, SObjectDef


class SoqlError(Exception):
    """A query the org would refuse; `code` is the REST errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- tokens --------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),:])
  | (?P<ident>[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)
    """,
    re.VERBOSE,
)

KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "in",
    "like",
    "order",
    "by",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "limit",
    "offset",
    "null",
    "true",
    "false",
    "includes",
    "excludes",
    "group",
    "having",
    "with",
    "for",
    "using",
}


@dataclass
class Token:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(soql):
        m = _TOKEN.match(soql, pos)
        if m is None:
            raise SoqlError("MALFORMED_QUERY", _located(soql, pos, f"unexpected token: '{soql[pos]}'"))
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "", len(soql)))
    return tokens


def _located(soql: str, pos: int, message: str) -> str:
    flat = " ".join(soql.split("\n"))
    column = pos + 1
    return f"\n{flat}\n{' ' * pos}^\nERROR at Row:1:Column:{column}\n{message}"


# --- tree ----------------------------------------------------------------------------------------------


@dataclass
class FieldRef:
    path: list[str]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.path)


@dataclass
class Literal:
    kind: str  # string number boolean null date datetime dateliteral
    value: Any
    pos: int
    n: int | None = None


@dataclass
class Condition:
    field: FieldRef
    op: str  # = != < <= > >= LIKE IN NOTIN
    values: list[Literal] = dataclasses.field(default_factory=list)
    subquery: Query | None = None


@dataclass
class BoolExpr:
    op: str  # AND OR NOT
    items: list[Any]


@dataclass
class OrderItem:
    field: FieldRef
    desc: bool
    nulls_first: bool | None


@dataclass
class Query:
    sobject: str
    sobject_pos: int
    fields: list[FieldRef]
    count: str | None = None  # "" for COUNT(), field text for COUNT(field)
    fields_macro: str | None = None
    where: Any = None
    order: list[OrderItem] = dataclasses.field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    text: str = ""


class _Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = tokenize(soql)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        what = tok.text if tok.kind != "eof" else "EOF"
        return SoqlError("MALFORMED_QUERY", _located(self.soql, tok.pos, f"unexpected token: '{what}'"))

    def take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def keyword(self, *words: str) -> bool:
        if self.tok.kind == "ident" and self.tok.upper in words:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.error()

    def expect(self, text: str) -> None:
        if self.tok.text != text:
            raise self.error()
        self.i += 1

    def ident(self) -> Token:
        if self.tok.kind != "ident" or self.tok.text.lower() in KEYWORDS:
            raise self.error()
        return self.take()

    def query(self, nested: bool = False) -> Query:
        self.expect_keyword("SELECT")
        fields: list[FieldRef] = []
        count: str | None = None
        macro: str | None = None
        while True:
            tok = self.tok
            if tok.kind == "ident" and tok.upper == "COUNT" and self.tokens[self.i + 1].text == "(":
                self.i += 2
                count = "" if self.tok.text == ")" else self.ident().text
                self.expect(")")
            elif tok.kind == "ident" and tok.upper == "FIELDS" and self.tokens[self.i + 1].text == "(":
                self.i += 2
                word = self.ident().upper
                if word not in ("ALL", "STANDARD", "CUSTOM"):
                    raise self.error(self.tokens[self.i - 1])
                macro = word
                self.expect(")")
            elif tok.text == "(":
                raise SoqlError(
                    "MALFORMED_QUERY",
                    _located(self.soql, tok.pos, "parent-to-child sub-queries are not supported by this emulator"),
                )
            else:
                ref = self.ident()
                fields.append(FieldRef(ref.text.split("."), ref.pos))
            if self.tok.text == ",":
                self.i += 1
                continue
            break
        self.expect_keyword("FROM")
        obj = self.ident()
        q = Query(sobject=obj.text, sobject_pos=obj.pos, fields=fields, count=count, fields_macro=macro, text=self.soql)
        if count is not None and (fields or macro):
            raise SoqlError(
                "MALFORMED_QUERY",
                _located(self.soql, obj.pos, "Aggregate query does not support GROUP BY-less mixed fields"),
            )
        if self.keyword("WHERE"):
            q.where = self.expr()
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            while True:
                ref = self.ident()
                desc = False
                if self.keyword("DESC"):
                    desc = True
                else:
                    self.keyword("ASC")
                nulls_first: bool | None = None
                if self.keyword("NULLS"):
                    if self.keyword("FIRST"):
                        nulls_first = True
                    else:
                        self.expect_keyword("LAST")
                        nulls_first = False
                q.order.append(OrderItem(FieldRef(ref.text.split("."), ref.pos), desc, nulls_first))
                if self.tok.text != ",":
                    break
                self.i += 1
        if self.keyword("LIMIT"):
            q.limit = self.integer()
        if self.keyword("OFFSET"):
            q.offset = self.integer()
        if not nested and self.tok.kind != "eof":
            raise self.error()
        return q

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.error()
        self.i += 1
        return int(tok.text)

    def expr(self) -> Any:
        items = [self.term()]
        ops: set[str] = set()
        while self.tok.kind == "ident" and self.tok.upper in ("AND", "OR"):
            ops.add(self.take().upper)
            items.append(self.term())
        if len(ops) > 1:
            raise SoqlError(
                "MALFORMED_QUERY",
                _located(self.soql, self.tok.pos, "unexpected token: 'OR' (use parentheses to mix AND and OR)"),
            )
        if len(items) == 1:
            return items[0]
        return BoolExpr(ops.pop(), items)

    def term(self) -> Any:
        if self.keyword("NOT"):
            return BoolExpr("NOT", [self.term()])
        if self.tok.text == "(":
            self.i += 1
            inner = self.expr()
            self.expect(")")
            return inner
        ref = self.ident()
        fref = FieldRef(ref.text.split("."), ref.pos)
        tok = self.tok
        if tok.kind == "op":
            self.i += 1
            op = "!=" if tok.text == "<>" else tok.text
            return Condition(fref, op, [self.literal()])
        if self.keyword("LIKE"):
            return Condition(fref, "LIKE", [self.literal()])
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect("(")
            if self.tok.kind == "ident" and self.tok.upper == "SELECT":
                sub = self.query(nested=True)
                self.expect(")")
                return Condition(fref, "NOTIN" if negate else "IN", subquery=sub)
            values = [self.literal()]
            while self.tok.text == ",":
                self.i += 1
                values.append(self.literal())
            self.expect(")")
            return Condition(fref, "NOTIN" if negate else "IN", values)
        raise self.error()

    def literal(self) -> Literal:
        tok = self.take()
        if tok.kind == "string":
            return Literal("string", _unescape(tok.text[1:-1]), tok.pos)
        if tok.kind == "number":
            return Literal("number", float(tok.text) if "." in tok.text else int(tok.text), tok.pos)
        if tok.kind == "date":
            return Literal("date", tok.text, tok.pos)
        if tok.kind == "datetime":
            return Literal("datetime", tok.text, tok.pos)
        if tok.kind == "ident":
            word = tok.upper
            if word in ("TRUE", "FALSE"):
                return Literal("boolean", word == "TRUE", tok.pos)
            if word == "NULL":
                return Literal("null", None, tok.pos)
            if word in _FIXED_RANGES:
                return Literal("dateliteral", word, tok.pos)
            if word in _N_RANGES:
                self.expect(":")
                return Literal("dateliteral", word, tok.pos, n=self.integer())
        raise self.error(tok)


def _unescape(text: str) -> str:
    out = []
    i = 0
    table = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            # \% and \_ stay escaped: they only mean something to LIKE
            out.append("\\" + nxt if nxt in "%_" else table.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse(soql: str) -> Query:
    """Parse one SOQL statement; raises SoqlError(MALFORMED_QUERY) with the org's located message."""
    if not soql or not soql.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
    return _Parser(soql).query()


# --- date literals ---------------------------------------------------------------------------------------

_FIXED_RANGES = {
    "YESTERDAY",
    "TODAY",
    "TOMORROW",
    "LAST_WEEK",
    "THIS_WEEK",
    "NEXT_WEEK",
    "LAST_MONTH",
    "THIS_MONTH",
    "NEXT_MONTH",
    "LAST_90_DAYS",
    "NEXT_90_DAYS",
    "THIS_QUARTER",
    "LAST_QUARTER",
    "NEXT_QUARTER",
    "THIS_YEAR",
    "LAST_YEAR",
    "NEXT_YEAR",
}
_N_RANGES = {
    "LAST_N_DAYS",
    "NEXT_N_DAYS",
    "N_DAYS_AGO",
    "LAST_N_WEEKS",
    "NEXT_N_WEEKS",
    "N_WEEKS_AGO",
    "LAST_N_MONTHS",
    "NEXT_N_MONTHS",
    "N_MONTHS_AGO",
    "LAST_N_YEARS",
    "NEXT_N_YEARS",
    "N_YEARS_AGO",
}


def _add_months(d: dt.date, months: int) -> dt.date:
    total = d.year * 12 + d.month - 1 + months
    year, month = divmod(total, 12)
    return dt.date(year, month + 1, min(d.day, calendar.monthrange(year, month + 1)[1]))


def date_range(name: str, n: int | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """[start, end) in days of a SOQL date literal, relative to `today` (weeks start on Sunday)."""
    day = dt.timedelta(days=1)
    week_start = today - dt.timedelta(days=(today.weekday() + 1) % 7)
    month_start = today.replace(day=1)
    quarter_start = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    year_start = dt.date(today.year, 1, 1)
    k = n or 0
    table: dict[str, tuple[dt.date, dt.date]] = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week_start - 7 * day, week_start),
        "THIS_WEEK": (week_start, week_start + 7 * day),
        "NEXT_WEEK": (week_start + 7 * day, week_start + 14 * day),
        "LAST_MONTH": (_add_months(month_start, -1), month_start),
        "THIS_MONTH": (month_start, _add_months(month_start, 1)),
        "NEXT_MONTH": (_add_months(month_start, 1), _add_months(month_start, 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "THIS_QUARTER": (quarter_start, _add_months(quarter_start, 3)),
        "LAST_QUARTER": (_add_months(quarter_start, -3), quarter_start),
        "NEXT_QUARTER": (_add_months(quarter_start, 3), _add_months(quarter_start, 6)),
        "THIS_YEAR": (year_start, year_start.replace(year=today.year + 1)),
        "LAST_YEAR": (year_start.replace(year=today.year - 1), year_start),
        "NEXT_YEAR": (year_start.replace(year=today.year + 1), year_start.replace(year=today.year + 2)),
        "LAST_N_DAYS": (today - k * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (k + 1) * day),
        "N_DAYS_AGO": (today - k * day, today - (k - 1) * day),
        "LAST_N_WEEKS": (week_start - 7 * k * day, week_start),
        "NEXT_N_WEEKS": (week_start + 7 * day, week_start + 7 * (k + 1) * day),
        "N_WEEKS_AGO": (week_start - 7 * k * day, week_start - 7 * (k - 1) * day),
        "LAST_N_MONTHS": (_add_months(month_start, -k), month_start),
        "NEXT_N_MONTHS": (_add_months(month_start, 1), _add_months(month_start, k + 1)),
        "N_MONTHS_AGO": (_add_months(month_start, -k), _add_months(month_start, -k + 1)),
        "LAST_N_YEARS": (year_start.replace(year=today.year - k), year_start),
        "NEXT_N_YEARS": (year_start.replace(year=today.year + 1), year_start.replace(year=today.year + k + 1)),
        "N_YEARS_AGO": (year_start.replace(year=today.year - k), year_start.replace(year=today.year - k + 1)),
    }
    return table[name]


# --- values as stored ----------------------------------------------------------------------------------


def format_datetime(value: dt.datetime) -> str:
    """The org's datetime format: `2026-11-25T08:00:00.000+0000` (UTC, milliseconds)."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> dt.datetime:
    """Parse the ISO forms clients send (`Z`, `+00:00`, `+0000`, with or without milliseconds)."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    m = re.match(r"^(.*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2})(\d{2})$", t)
    if m:
        t = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    value = dt.datetime.fromisoformat(t)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _day_start(d: dt.date) -> str:
    return format_datetime(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC))


# --- compilation -----------------------------------------------------------------------------------------


@dataclass
class Column:
    """One selected column: its path in the nested JSON record, its field, and its SQL expression."""

    path: list[str]  # canonical names, e.g. ["Account", "Name"]
    field: FieldDef
    sql: str
    objects: list[str]  # sObject type at each relationship hop (for the nested "attributes")


@dataclass
class Compiled:
    sobject: SObjectDef
    columns: list[Column]
    from_sql: str
    where_sql: str
    params: list[Any]
    order_sql: str
    keyset: list[str] | None  # SQL expressions usable for keyset paging (ending with t.rowid) or None
    keyset_desc: bool
    limit: int | None
    offset: int | None
    count: str | None
    query: Query
    joins: list[tuple[tuple[str, ...], str]] = dataclasses.field(default_factory=list)  # (lower-case path, alias)
    alias: str = "t"


_NON_NULL_SORTABLE = {"id", "createddate", "lastmodifieddate", "systemmodstamp"}


class Compiler:
    """Resolves names against the schema and builds SQL; one instance per query."""

    def __init__(
        self, schema: dict[str, SObjectDef], soql: str, today: dt.date | None = None, alias: str = "t"
    ) -> None:
        self.schema = schema
        self.soql = soql
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.alias = alias
        self.joins: dict[tuple[str, ...], tuple[str, SObjectDef]] = {}
        self.join_sql: list[str] = []
        self.params: list[Any] = []

    def invalid_field(self, ref: FieldRef, obj: SObjectDef) -> SoqlError:
        return SoqlError(
            "INVALID_FIELD",
            _located(
                self.soql,
                ref.pos,
                f"No such column '{ref.path[-1]}' on entity '{obj.name}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or "
                "the describe call for the appropriate names.",
            ),
        )

    def resolve(self, ref: FieldRef, base: SObjectDef) -> Column:
        path = list(ref.path)
        if len(path) > 1 and path[0].lower() == base.name.lower():
            path = path[1:]  # "Contact.Email" from Contact is allowed
        obj = base
        alias = self.alias
        canonical: list[str] = []
        objects = [base.name]
        for depth, hop in enumerate(path[:-1]):
            rel = obj.relationship(hop)
            if rel is None or not rel.reference_to:
                raise SoqlError(
                    "INVALID_FIELD",
                    _located(
                        self.soql,
                        ref.pos,
                        f"Didn't understand relationship '{hop}' in field path. If you are attempting to use a "
                        "custom relationship, be sure to append the '__r' after the custom relationship name. "
                        "Please reference your WSDL or the describe call for the appropriate names.",
                    ),
                )
            target = self.schema.get(rel.reference_to[0].lower())
            if target is None:
                raise self.invalid_field(ref, obj)
            key = tuple(p.lower() for p in path[: depth + 1])
            if key not in self.joins:
                join_alias = f"{self.alias}_j{len(self.joins)}"
                self.joins[key] = (join_alias, target)
                self.join_sql.append(
                    f'LEFT JOIN "{target.name}" AS {join_alias} ON {join_alias}."Id" = {alias}."{rel.name}"'
                )
            alias = self.joins[key][0]
            canonical.append(rel.relationship_name or hop)
            objects.append(target.name)
            obj = target
        fdef = obj.field(path[-1])
        if fdef is None:
            raise self.invalid_field(ref, obj)
        canonical.append(fdef.name)
        return Column(canonical, fdef, f'{alias}."{fdef.name}"', objects)

    def compile(self, q: Query, include_deleted: bool = False) -> Compiled:
        obj = self.schema.get(q.sobject.lower())
        if obj is None:
            raise SoqlError(
                "INVALID_TYPE",
                _located(
                    self.soql,
                    q.sobject_pos,
                    f"sObject type '{q.sobject}' is not supported. If you are attempting to use a custom object, be "
                    "sure to append the '__c' after the entity name. Please reference your WSDL or the describe "
                    "call for the appropriate names.",
                ),
            )
        if not obj.queryable:
            raise SoqlError(
                "INVALID_TYPE", _located(self.soql, q.sobject_pos, f"entity type {obj.name} does not support query")
            )
        columns: list[Column] = []
        if q.fields_macro:
            for f in obj.fields.values():
                if q.fields_macro == "ALL" or (q.fields_macro == "CUSTOM") == f.custom:
                    columns.append(Column([f.name], f, f'{self.alias}."{f.name}"', [obj.name]))
            if q.fields_macro != "STANDARD" and (q.limit is None or q.limit > 200):
                raise SoqlError(
                    "MALFORMED_QUERY",
                    _located(self.soql, q.sobject_pos, "The SOQL FIELDS function must have a LIMIT of at most 200"),
                )
        seen: set[tuple[str, ...]] = {tuple(p.lower() for p in c.path) for c in columns}
        for ref in q.fields:
            col = self.resolve(ref, obj)
            key = tuple(p.lower() for p in col.path)
            if key in seen:
                raise SoqlError(
                    "MALFORMED_QUERY", _located(self.soql, ref.pos, f"duplicate field selected: {ref.text}")
                )
            seen.add(key)
            columns.append(col)
        if q.count:
            self.resolve(FieldRef(q.count.split("."), q.sobject_pos), obj)
        # Without ORDER BY, pages follow rowid; the unary + keeps SQLite from preferring the
        # (IsDeleted, SystemModstamp) index and then sorting every row by rowid.
        live = f'{"+" if not q.order else ""}{self.alias}."IsDeleted" = 0'
        where_parts = [] if include_deleted or obj.kind == "mdt" else [live]
        if q.where is not None:
            where_parts.append(self.expr(q.where, obj))
        order_parts: list[str] = []
        keyset: list[str] | None = []
        desc_set = set()
        rowid = f"{self.alias}.rowid"
        for item in q.order:
            col = self.resolve(item.field, obj)
            # Ids are allocated in insertion order, so ordering by Id is ordering by rowid, which every
            # index already carries: "ORDER BY SystemModstamp, Id" is then an index scan, not a sort.
            sort_sql = rowid if len(col.path) == 1 and col.field.name == "Id" else col.sql
            direction = "DESC" if item.desc else "ASC"
            nulls = ""
            if item.nulls_first is not None:
                nulls = " NULLS FIRST" if item.nulls_first else " NULLS LAST"
            order_parts.append(f"{sort_sql} {direction}{nulls}")
            desc_set.add(item.desc)
            if keyset is not None and len(col.path) == 1 and col.field.name.lower() in _NON_NULL_SORTABLE:
                keyset.append(sort_sql)
            else:
                keyset = None
        if len(desc_set) > 1:
            keyset = None
        descending = desc_set == {True}
        if not q.order or not order_parts[-1].startswith(rowid + " "):
            order_parts.append(f"{rowid} {'DESC' if descending else 'ASC'}")
            if keyset is not None:
                keyset.append(rowid)
        if obj.kind == "mdt":
            keyset = None
        from_sql = f'"{obj.name}" AS {self.alias} ' + " ".join(self.join_sql)
        return Compiled(
            sobject=obj,
            columns=columns,
            from_sql=from_sql,
            where_sql=" AND ".join(f"({p})" for p in where_parts) or "1",
            params=self.params,
            order_sql=", ".join(order_parts),
            keyset=keyset,
            keyset_desc=descending,
            limit=q.limit,
            offset=q.offset,
            count=q.count,
            query=q,
            joins=[(key, alias) for key, (alias, _) in self.joins.items()],
            alias=self.alias,
        )

    def expr(self, node: Any, obj: SObjectDef) -> str:
        if isinstance(node, BoolExpr):
            if node.op == "NOT":
                return f"NOT ({self.expr(node.items[0], obj)})"
            return f" {node.op} ".join(f"({self.expr(i, obj)})" for i in node.items)
        assert isinstance(node, Condition)
        col = self.resolve(node.field, obj)
        if node.subquery is not None:
            sub = Compiler(self.schema, self.soql, self.today, alias=f"s{id(node) % 100000}")
            compiled = sub.compile(node.subquery)
            if len(compiled.columns) != 1 or compiled.columns[0].field.type not in ("id", "reference"):
                raise SoqlError(
                    "MALFORMED_QUERY",
                    _located(
                        self.soql,
                        node.subquery.sobject_pos,
                        "The selected field in a semi join sub-query must be an Id or a reference",
                    ),
                )
            self.params.extend(compiled.params)
            inner = f"SELECT {compiled.columns[0].sql} FROM {compiled.from_sql} WHERE {compiled.where_sql}"
            if node.op == "IN":
                return f"{col.sql} IN ({inner})"
            return f"({col.sql} IS NULL OR {col.sql} NOT IN ({inner}))"
        if node.op in ("IN", "NOTIN"):
            values = [self.value(v, col) for v in node.values]
            if any(isinstance(v, tuple) for v in values):
                raise SoqlError(
                    "MALFORMED_QUERY",
                    _located(self.soql, node.values[0].pos, "date literals are not allowed in IN lists"),
                )
            non_null = [v for v in values if v is not None]
            has_null = len(non_null) != len(values)
            self.params.extend(non_null)
            marks = ", ".join("?" for _ in non_null)
            if node.op == "IN":
                parts = [f"{col.sql} IN ({marks})"] if non_null else []
                if has_null:
                    parts.append(f"{col.sql} IS NULL")
                return " OR ".join(parts) or "0"
            parts = [f"({col.sql} IS NULL OR {col.sql} NOT IN ({marks}))"] if non_null else ["1"]
            if has_null:
                parts.append(f"{col.sql} IS NOT NULL")
            return " AND ".join(parts)
        lit = node.values[0]
        if node.op == "LIKE":
            if col.field.type not in (
                "string",
                "email",
                "phone",
                "url",
                "picklist",
                "textarea",
                "id",
                "reference",
                "multipicklist",
                "encryptedstring",
                "combobox",
            ):
                raise SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    _located(self.soql, node.field.pos, f"invalid operator on {col.field.type} field: LIKE"),
                )
            if lit.kind != "string":
                raise SoqlError("MALFORMED_QUERY", _located(self.soql, lit.pos, "LIKE needs a string value"))
            self.params.append(lit.value)
            return f"{col.sql} LIKE ? ESCAPE '\\'"
        value = self.value(lit, col)
        if isinstance(value, tuple):
            start, end = value
            ranges = {
                "=": (f"({col.sql} >= ? AND {col.sql} < ?)", [start, end]),
                "!=": (f"({col.sql} IS NULL OR {col.sql} < ? OR {col.sql} >= ?)", [start, end]),
                "<": (f"{col.sql} < ?", [start]),
                "<=": (f"{col.sql} < ?", [end]),
                ">": (f"{col.sql} >= ?", [end]),
                ">=": (f"{col.sql} >= ?", [start]),
            }
            sql, params = ranges[node.op]
            self.params.extend(params)
            return sql
        if value is None:
            if node.op == "=":
                return f"{col.sql} IS NULL"
            if node.op == "!=":
                return f"{col.sql} IS NOT NULL"
            return "0"
        self.params.append(value)
        if node.op == "!=":
            return f"({col.sql} IS NULL OR {col.sql} != ?)"
        return f"{col.sql} {node.op} ?"

    def value(self, lit: Literal, col: Column) -> Any:
        ftype = col.field.type
        name = col.field.name

        def wrong(kind: str) -> SoqlError:
            return SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                _located(
                    self.soql,
                    lit.pos,
                    f"value of filter criterion for field '{name}' must be of type {kind} and should not be "
                    "enclosed in quotes"
                    if lit.kind == "string"
                    else f"value of filter criterion for field '{name}' must be of type {kind}",
                ),
            )

        if lit.kind == "null":
            return None
        if ftype == "boolean":
            if lit.kind != "boolean":
                raise wrong("boolean")
            return 1 if lit.value else 0
        if ftype in NUMBER_TYPES or ftype == "int":
            if lit.kind != "number":
                raise wrong("double" if ftype != "int" else "integer")
            return lit.value
        if ftype == "date":
            if lit.kind == "dateliteral":
                start, end = date_range(lit.value, lit.n, self.today)
                return (start.isoformat(), end.isoformat())
            if lit.kind != "date":
                raise wrong("date")
            return lit.value
        if ftype == "datetime":
            if lit.kind == "dateliteral":
                start, end = date_range(lit.value, lit.n, self.today)
                return (_day_start(start), _day_start(end))
            if lit.kind == "datetime":
                return format_datetime(parse_datetime(lit.value))
            raise wrong("dateTime")
        if lit.kind != "string":
            raise SoqlError(
                "MALFORMED_QUERY",
                _located(self.soql, lit.pos, f"value of filter criterion for field '{name}' must be of type string"),
            )
        if ftype in ("id", "reference"):
            normalized = ids.normalize(lit.value)
            if normalized is None:
                if lit.value == "":
                    return None
                raise SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR", _located(self.soql, lit.pos, f"invalid ID field: {lit.value}")
                )
            return normalized
        return lit.value


def compile_query(
    schema: dict[str, SObjectDef], soql: str, include_deleted: bool = False, today: dt.date | None = None
) -> Compiled:
    """Parse and compile `soql` against `schema`; raises SoqlError with the org's error code."""
    return Compiler(schema, soql, today).compile(parse(soql), include_deleted=include_deleted)
