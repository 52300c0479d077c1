"""Running compiled SOQL: REST pages of 2,000 records with `nextRecordsUrl`, and CSV pages for Bulk 2.0.

Guarantees: `totalSize` is the total number of matches (after LIMIT/OFFSET); a page of 2,000 rows costs one
indexed range scan, because later pages continue from the last row's sort key (keyset) instead of
re-counting an OFFSET, whenever the ORDER BY allows it (none, or non-null system fields in one direction).
"""

# ruff: noqa: S608 - SQL identifiers come from the org schema (validated names), values are bound parameters

from __future__ import annotations

import csv
import io
import json
import secrets
import time
from typing import Any

from .schema import FieldDef
from .soql import Compiled, SoqlError, compile_query
from .store import Store

PAGE_SIZE = 2000


def _page_sql(c: Compiled, keyset: list[Any] | None, offset: int, limit: int) -> tuple[str, list[Any]]:
    join_ids = [f'{c.alias}."Id"', *[f'{alias}."Id"' for _, alias in c.joins]]
    keyset_cols = c.keyset or []
    select = ", ".join([*keyset_cols, *join_ids, *[col.sql for col in c.columns]]) or "t.rowid"
    where = c.where_sql
    params = list(c.params)
    if keyset is not None and c.keyset:
        op = "<" if c.keyset_desc else ">"
        first_op = "<=" if c.keyset_desc else ">="
        # The keyset bound goes first: SQLite uses the first range bound it finds on the index column,
        # and the user's own bound on the same column (WHERE SystemModstamp > x) would scan from x.
        where = (
            f"{c.keyset[0]} {first_op} ? AND ({', '.join(c.keyset)}) {op} ({', '.join('?' for _ in keyset)}) "
            f"AND ({where})"
        )
        params = [keyset[0], *keyset, *params]
        offset = 0
    sql = f"SELECT {select} FROM {c.from_sql} WHERE {where} ORDER BY {c.order_sql} LIMIT ? OFFSET ?"
    return sql, [*params, limit, offset]


class QueryRunner:
    """Answers `query`/`queryAll` and their `nextRecordsUrl` pages from the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def compile(self, soql: str, include_deleted: bool = False) -> Compiled:
        return compile_query(self.store.schema, soql, include_deleted=include_deleted)

    def total(self, c: Compiled) -> int:
        with self.store.read() as conn:
            row = conn.execute(f"SELECT COUNT(*) FROM {c.from_sql} WHERE {c.where_sql}", c.params).fetchone()
        count = int(row[0])
        if c.offset:
            count = max(0, count - c.offset)
        if c.limit is not None:
            count = min(count, c.limit)
        return count

    def fetch(self, c: Compiled, keyset: list[Any] | None, position: int, limit: int) -> list[tuple[Any, ...]]:
        sql, params = _page_sql(c, keyset, (c.offset or 0) + position, limit)
        with self.store.read() as conn:
            return conn.execute(sql, params).fetchall()

    def to_records(self, c: Compiled, rows: list[tuple[Any, ...]], version: str) -> list[dict[str, Any]]:
        nkey = len(c.keyset or [])
        paths = [key for key, _ in c.joins]
        out = []
        base = f"/services/data/v{version}/sobjects/"
        for row in rows:
            own_id = row[nkey]
            join_ids = dict(zip(paths, row[nkey + 1 : nkey + 1 + len(paths)], strict=True))
            values = row[nkey + 1 + len(paths) :]
            record: dict[str, Any] = {"attributes": {"type": c.sobject.name, "url": ""}}
            for col, value in zip(c.columns, values, strict=True):
                node: dict[str, Any] | None = record
                for depth, hop in enumerate(col.path[:-1]):
                    key = tuple(p.lower() for p in col.path[: depth + 1])
                    assert node is not None
                    if join_ids.get(key) is None:
                        node[hop] = None
                        node = None
                        break
                    child = node.get(hop)
                    if child is None:
                        child = {
                            "attributes": {
                                "type": col.objects[depth + 1],
                                "url": base + col.objects[depth + 1] + "/" + str(join_ids[key]),
                            }
                        }
                        node[hop] = child
                    node = child
                if node is not None:
                    node[col.path[-1]] = Store.from_storage(col.field, value)
            record["attributes"]["url"] = base + c.sobject.name + "/" + str(own_id)
            out.append(record)
        return out

    def first_page(self, soql: str, include_deleted: bool, version: str) -> dict[str, Any]:
        c = self.compile(soql, include_deleted)
        if c.count is not None:
            total = self.total(c)
            if c.count == "":
                return {"totalSize": total, "done": True, "records": []}
            return {
                "totalSize": 1,
                "done": True,
                "records": [{"attributes": {"type": "AggregateResult"}, "expr0": total}],
            }
        total = self.total(c)
        return self._page(c, soql, include_deleted, version, None, 0, total, None)

    def next_page(self, locator: str, version: str, include_deleted: bool) -> dict[str, Any]:
        cursor_id, _, pos_text = locator.rpartition("-")
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT soql, include_deleted, total FROM emu_cursors WHERE id = ?", (cursor_id,)
            ).fetchone()
            page = None
            if row is not None and pos_text.isdigit():
                page = conn.execute(
                    "SELECT keyset FROM emu_cursor_pages WHERE cursor_id = ? AND position = ?",
                    (cursor_id, int(pos_text)),
                ).fetchone()
        if row is None or not pos_text.isdigit():
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        soql, deleted, total = row
        c = self.compile(soql, bool(deleted))
        keyset = json.loads(page[0]) if page and page[0] else None
        return self._page(c, soql, bool(deleted), version, cursor_id, int(pos_text), int(total), keyset)

    def _page(
        self,
        c: Compiled,
        soql: str,
        include_deleted: bool,
        version: str,
        cursor_id: str | None,
        position: int,
        total: int,
        keyset: list[Any] | None,
    ) -> dict[str, Any]:
        limit = max(0, min(PAGE_SIZE, total - position))
        rows = self.fetch(c, keyset, position, limit) if limit else []
        records = self.to_records(c, rows, version)
        served = position + len(rows)
        result: dict[str, Any] = {"totalSize": total, "done": served >= total or not rows, "records": records}
        if not result["done"]:
            if cursor_id is None:
                cursor_id = "01g" + secrets.token_hex(8)[:12].upper() + "AAA"
                with self.store.tx() as conn:
                    conn.execute(
                        "INSERT INTO emu_cursors (id, soql, include_deleted, total, created) VALUES (?, ?, ?, ?, ?)",
                        (cursor_id, soql, int(include_deleted), total, time.time()),
                    )
            next_keyset = list(rows[-1][: len(c.keyset)]) if c.keyset else None
            with self.store.tx() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO emu_cursor_pages (cursor_id, position, keyset) VALUES (?, ?, ?)",
                    (cursor_id, served, json.dumps(next_keyset) if next_keyset else None),
                )
            kind = "queryAll" if include_deleted else "query"
            result["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{cursor_id}-{served}"
        return result

    # --- Bulk 2.0 CSV -------------------------------------------------------------------------------------

    def csv_page(
        self, c: Compiled, position: int, limit: int, keyset: list[Any] | None, delimiter: str, line_ending: str
    ) -> tuple[str, int, list[Any] | None]:
        """(csv text with header, rows in it, keyset after the last row)."""
        rows = self.fetch(c, keyset, position, limit)
        nskip = len(c.keyset or []) + 1 + len(c.joins)
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
        writer.writerow([".".join(col.path) for col in c.columns])
        for row in rows:
            writer.writerow([csv_value(col.field, v) for col, v in zip(c.columns, row[nskip:], strict=True)])
        next_keyset = list(rows[-1][: len(c.keyset)]) if (c.keyset and rows) else None
        return buf.getvalue(), len(rows), next_keyset


def csv_value(f: FieldDef, value: Any) -> str:
    if value is None:
        return ""
    if f.type == "boolean":
        return "true" if value else "false"
    if f.type == "datetime" and isinstance(value, str) and value.endswith("+0000"):
        return value[:-5] + "Z"
    if f.type == "int":
        return str(int(value))
    return str(value)
