"""Per-record outcomes of writes, whatever API carried them (sObject Collections or Bulk API 2.0 ingest).

Guarantees: a write of N records returns exactly N `RecordResult`s, ordered by `index` (the record's position in
the caller's input); a record Salesforce did not report on is a failure (`UNPROCESSED`), never missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.salesforce.errors import RETRYABLE_ERROR_CODES, parse_error_body

T = TypeVar("T")

COLLECTION_SIZE = 200  # sObject Collections: at most 200 records per request


@dataclass(frozen=True, slots=True)
class RecordError:
    """One reason Salesforce refused a record: `statusCode`, its message, the fields concerned."""

    status_code: str
    message: str
    fields: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The outcome for the record at `index` of the caller's input."""

    index: int
    id: str | None
    success: bool
    errors: tuple[RecordError, ...] = field(default=())
    created: bool | None = None

    @property
    def retryable(self) -> bool:
        """True when every error is transient (a locked row…): sending the record again may succeed."""
        if self.success or not self.errors:
            return False
        return all(e.status_code in RETRYABLE_ERROR_CODES for e in self.errors)


def chunked(items: Sequence[T], size: int = COLLECTION_SIZE) -> Iterator[tuple[int, Sequence[T]]]:
    """(offset, slice) pairs of at most `size` items, in order."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def parse_collection_results(body: Any, offset: int, count: int) -> list[RecordResult]:
    """An sObject Collections answer (a list in request order) as `RecordResult`s starting at `offset`.

    A short or unreadable answer yields `UNPROCESSED` failures for the records it does not cover.
    """
    entries = body if isinstance(body, list) else []
    results: list[RecordResult] = []
    for i in range(count):
        entry = entries[i] if i < len(entries) and isinstance(entries[i], dict) else None
        if entry is None:
            results.append(unprocessed(offset + i, "Salesforce returned no result for this record"))
            continue
        errors = tuple(RecordError(e.code, e.message, e.fields) for e in parse_error_body(entry.get("errors") or []))
        created = entry.get("created")
        results.append(
            RecordResult(
                index=offset + i,
                id=entry.get("id") or None,
                success=bool(entry.get("success")),
                errors=errors,
                created=bool(created) if created is not None else None,
            )
        )
    return results


def failed_for_all(offset: int, count: int, code: str, message: str) -> list[RecordResult]:
    """The same failure for `count` records from `offset` (a whole request was refused)."""
    return [RecordResult(offset + i, None, False, (RecordError(code, message),)) for i in range(count)]


def unprocessed(index: int, message: str) -> RecordResult:
    """A failure for a record Salesforce never reported on."""
    return RecordResult(index, None, False, (RecordError("UNPROCESSED", message),))
