"""A Salesforce client for sync unit tests: the methods of `SalesforceClient` the sync layer calls, answered in
process by the Salesforce emulator's own store and SOQL engine loaded with this package's schema and custom
metadata, so the sync's real queries run against real records without HTTP, OAuth or API metering."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from gateway.emulators.salesforce.queries import QueryRunner
from gateway.emulators.salesforce.schema import SObjectDef, build_schema
from gateway.emulators.salesforce.sosl import SearchRunner
from gateway.emulators.salesforce.store import RecordError, Store
from gateway.salesforce import phone_search
from gateway.salesforce.phone_search import PhoneLookup
from gateway.salesforce.results import RecordError as ResultError
from gateway.salesforce.results import RecordResult
from gateway.salesforce.settings import SalesforceSettings
from gateway.salesforce.sosl import search_records

PACKAGE_DIR = Path(__file__).resolve().parents[3] / "sfdx-package"
VERSION = "62.0"


class FakeSalesforce:
    """Records every write call in `writes` (object → records written) and every query in `reads`, so a test can say
    what reached Salesforce and what was asked of it."""

    def __init__(self) -> None:
        self.settings = SalesforceSettings(login_url="https://login.salesforce.invalid", client_id="fake")
        self.store = Store(build_schema(PACKAGE_DIR))
        self.queries = QueryRunner(self.store)
        self.searches = SearchRunner(self.queries)
        self.search_index_delay = 0.0  # seconds a write takes to reach the search index (Salesforce: ~900)
        # record id -> how many more writes of it answer UNABLE_TO_LOCK_ROW, as after the client's own retries (-1: all)
        self.locked: dict[str, int] = {}
        self.user = self.store.users.integration_id
        self.writes: Counter[str] = Counter()
        self.reads: list[str] = []  # every SOQL query asked, in order

    # -- what a test sets up and reads

    def seed(self, sobject: str, **values: Any) -> str:
        """One record as a data load would create it; its 18-character Id."""
        (record_id,) = self.store.seed(self._object(sobject), [values], self.store.users.admin_id)
        return record_id

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        found = self.store.get(self._object(sobject), record_id)
        assert found is not None, f"no {sobject} {record_id}"
        return found

    def rows(self, soql: str) -> list[dict[str, Any]]:
        return self.query_records(soql)

    def edit(self, sobject: str, record_id: str, **values: Any) -> None:
        """A change an admin makes in Salesforce (before its event reaches the sync)."""
        with self.store.tx() as conn:
            self.store.update(conn, self._object(sobject), record_id, values, self.store.users.admin_id)

    # -- the SalesforceClient surface the sync uses

    def iter_query(self, soql: str, *, api: str | None = None, estimate: int | None = None) -> Iterator[dict[str, Any]]:
        self.reads.append(soql)
        page = self.queries.first_page(soql, False, VERSION)
        while True:
            for record in page["records"]:
                yield {k: v for k, v in record.items() if k != "attributes"}
            if page["done"]:
                return
            page = self.queries.next_page(page["nextRecordsUrl"].rsplit("/", 1)[1], VERSION, False)

    def query_records(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        return list(self.iter_query(soql))

    def query_each(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]:
        return [self.query_records(soql) for soql in soqls]

    def search(self, sosl: str) -> list[dict[str, Any]]:
        return search_records(self.searches.run(sosl, VERSION, self.search_index_delay))

    def find_by_phone(
        self, lookups: Sequence[PhoneLookup], phones: Iterable[str], **options: Any
    ) -> list[dict[str, Any]]:
        return phone_search.find_by_phone(self, lookups, phones, **options)  # type: ignore[arg-type]

    def describe(self, sobject: str) -> dict[str, Any]:
        return self._object(sobject).describe(VERSION)

    def update(self, sobject: str, records: Sequence[dict[str, Any]], **_: Any) -> list[RecordResult]:
        obj = self._object(sobject)

        def write(conn: Any, values: dict[str, Any]) -> tuple[str, bool]:
            record_id = values["Id"]
            self.store.update(conn, obj, record_id, {k: v for k, v in values.items() if k != "Id"}, self.user)
            return record_id, False

        return self._each(sobject, records, write)

    def create(self, sobject: str, records: Sequence[dict[str, Any]], **_: Any) -> list[RecordResult]:
        obj = self._object(sobject)
        return self._each(
            sobject, records, lambda conn, values: (self.store.insert(conn, obj, values, self.user)[0], True)
        )

    def upsert(self, sobject: str, field: str, records: Sequence[dict[str, Any]], **_: Any) -> list[RecordResult]:
        obj = self._object(sobject)
        ext = obj.fields[field.lower()]

        def write(conn: Any, values: dict[str, Any]) -> tuple[str, bool]:
            record_id, created, _change = self.store.upsert(conn, obj, ext, values[field], values, self.user)
            return record_id, created

        return self._each(sobject, records, write)

    def usage(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass

    # -- plumbing

    def _object(self, name: str) -> SObjectDef:
        obj = self.store.sobject(name)
        assert obj is not None, f"the package defines no {name}"
        return obj

    def _each(self, sobject: str, records: Sequence[dict[str, Any]], write: Any) -> list[RecordResult]:
        results = []
        for index, values in enumerate(records):
            self.writes[sobject] += 1
            held = self.locked.get(str(values.get("Id")), 0)
            if held:
                self.locked[str(values["Id"])] = held - 1 if held > 0 else held
                error = ResultError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
                results.append(RecordResult(index=index, id=None, success=False, errors=(error,)))
                continue
            try:
                with self.store.tx() as conn:
                    record_id, created = write(conn, dict(values))
            except RecordError as exc:
                error = ResultError(exc.code, exc.message, tuple(exc.fields or ()))
                results.append(RecordResult(index=index, id=None, success=False, errors=(error,)))
            else:
                results.append(RecordResult(index=index, id=record_id, success=True, created=created))
        return results
