"""CSV in and out of Bulk API 2.0: building ingest data, reading query results, matching ingest results.

Guarantees: query rows come back shaped like REST query records (typed values from the object's describe, None
for empty, `Parent.Field` columns nested as `{"Parent": {"Field": …}}`, datetimes in REST's `+0000` form), so a
caller cannot tell which API read them; ingest results are matched back to the caller's records by their
uploaded values, so every input record gets exactly one result.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from gateway.salesforce.results import RecordError, RecordResult, unprocessed

NULL_MARKER = "#N/A"  # Bulk API: set the field to null (an empty cell means "leave unchanged")


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def format_value(value: Any, *, null: str) -> str:
    """One Python value as a Bulk API CSV cell."""
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def build_ingest_csv(
    records: Sequence[Mapping[str, Any]], operation: str
) -> tuple[str, list[str], list[tuple[str, ...]]]:
    """(CSV text, columns, per-record cell tuples). Columns are the union of the records' keys in first-seen order;
    a key a record lacks is an empty cell (unchanged); None is `#N/A` (cleared) except on insert."""
    flat = [_flatten(r) for r in records]
    columns: list[str] = []
    seen: set[str] = set()
    for row in flat:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    null = "" if operation == "insert" else NULL_MARKER
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    keys: list[tuple[str, ...]] = []
    for row in flat:
        cells = tuple(format_value(row[c], null=null) if c in row else "" for c in columns)
        writer.writerow(cells)
        keys.append(cells)
    return out.getvalue(), columns, keys


def _coerce(value: str, field_type: str | None) -> Any:
    if value == "":
        return None
    if field_type == "boolean":
        return value.lower() == "true"
    if field_type == "int":
        try:
            return int(value)
        except ValueError:
            return value
    if field_type in ("double", "currency", "percent"):
        try:
            return float(value)
        except ValueError:
            return value
    if field_type == "datetime" and value.endswith("Z"):
        return value[:-1] + "+0000"
    return value


_STRING_TYPES = frozenset({"string", "id", "reference", "email", "phone", "url", "picklist", "textarea", "date"})


def parse_query_csv(text: str, fields: Mapping[str, tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """Rows of a Bulk 2.0 query result page as REST-shaped records. `fields` maps lower-cased field names to
    (canonical name, describe type); unknown columns keep their header name and stay strings."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return
    names: list[str] = []
    typed: list[tuple[int, str, str]] = []  # (column, name, type) of columns needing more than empty → None
    nested: list[tuple[int, list[str]]] = []  # (column, path) of Parent.Field columns
    for column, name in enumerate(header):
        known = fields.get(name.lower()) if "." not in name else None
        if known is None and "." in name:
            nested.append((column, name.split(".")))
        canonical, ftype = known if known else (name, "string")
        names.append(canonical)
        if ftype not in _STRING_TYPES:
            typed.append((column, canonical, ftype))
    # the hot loop stays in C where it can: empty → None per row, dict(zip()), then only the typed columns
    for row in reader:
        cells = [cell or None for cell in row]
        record = dict(zip(names, cells, strict=False))
        for column, name, ftype in typed:
            cell = cells[column]
            if cell is not None:
                record[name] = _coerce(cell, ftype)
        if nested:
            _nest(record, cells, nested)
        yield record


def _nest(record: dict[str, Any], cells: list[str | None], nested: list[tuple[int, list[str]]]) -> None:
    for column, path in nested:
        record.pop(".".join(path), None)
        node = record
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = cells[column] if column < len(cells) else None
    _null_empty_parents(record)


def _null_empty_parents(record: dict[str, Any]) -> dict[str, Any]:
    """REST gives `"Owner": null` when there is no parent; a nested dict of only Nones becomes None."""
    for key, value in record.items():
        if isinstance(value, dict):
            child = _null_empty_parents(value)
            record[key] = None if all(v is None for v in child.values()) else child
    return record


def parse_ingest_error(cell: str) -> RecordError:
    """`REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --` → RecordError."""
    code, _, rest = cell.partition(":")
    message, sep, tail = rest.rpartition(":")
    if not sep:
        return RecordError(code or "UNKNOWN_ERROR", rest.strip())
    fields_ = tuple(f for f in (x.strip() for x in tail.replace("--", "").split(",")) if f)
    return RecordError(code or "UNKNOWN_ERROR", message.strip(), fields_)


def match_ingest_results(
    keys: Sequence[tuple[str, ...]], columns: Sequence[str], successful_csv: str, failed_csv: str
) -> list[RecordResult]:
    """One `RecordResult` per uploaded row, matched on the row's uploaded cells (duplicates in upload order)."""
    pending: dict[tuple[str, ...], deque[int]] = defaultdict(deque)
    for index, key in enumerate(keys):
        pending[key].append(index)
    results: dict[int, RecordResult] = {}

    def rows(text: str) -> Iterator[dict[str, str]]:
        if text.strip():
            yield from csv.DictReader(io.StringIO(text))

    for row in rows(successful_csv):
        key = tuple(row.get(c) or "" for c in columns)
        queue = pending.get(key)
        if queue:
            index = queue.popleft()
            created_cell = (row.get("sf__Created") or "").lower()
            created = created_cell == "true" if created_cell in ("true", "false") else None
            results[index] = RecordResult(index, row.get("sf__Id") or None, True, (), created)
    for row in rows(failed_csv):
        key = tuple(row.get(c) or "" for c in columns)
        queue = pending.get(key)
        if queue:
            index = queue.popleft()
            error = parse_ingest_error(row.get("sf__Error") or "UNKNOWN_ERROR:no error given")
            results[index] = RecordResult(index, row.get("sf__Id") or None, False, (error,))
    return [results.get(i) or unprocessed(i, "the Bulk API job did not process this record") for i in range(len(keys))]
