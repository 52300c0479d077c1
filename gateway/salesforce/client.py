"""`SalesforceClient`: the one door to the org. Every Salesforce call of the gateway goes through it.

Guarantees:
* Reads are lazy and paged (`iter_query`): REST pages of up to 2,000, or Bulk API 2.0 above
  `bulk_query_threshold` rows (sized by a COUNT() or the caller's estimate); records look the same either way.
* Writes go through sObject Collections (200 per call) or, above `bulk_ingest_threshold` records, a Bulk API 2.0
  ingest job; either way the caller gets one typed `RecordResult` per input record, in input order.
* Transient failures (UNABLE_TO_LOCK_ROW, 502/503/504, connection errors; other 5xx and read timeouts only for
  requests that are safe to repeat) are retried with exponential backoff, at most `max_attempts` times, then
  raise `SalesforceUnavailable`. Records that failed only on a locked row are resent on their own.
* The token is refreshed before its expiry and once on INVALID_SESSION_ID; with `redis`, one token serves every
  process (`token_cache.py`).
* Every call is metered and checked against the API budget first (see `usage.py`); when the budget is spent
  the caller gets `ApiBudgetExhausted` with what it needs to resume, and nothing is dropped.

simple-salesforce quirks kept in here: it is built from our own token (`Salesforce(instance_url, session_id,
session)`) and rebuilt on refresh; it reads JSON into plain dicts, without asking for pretty-printed JSON;
collections go through `restful` (it has no helper; `sf.<Object>` builds a new SFType on every access, so it is
not used); Bulk 2.0 uses its low-level job client with our own polling (its `wait` sleeps 5 s by default) and
never its `delete_job` (which calls `.json()` on a 204).
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode, urlsplit

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import Operation, ResultsType
from simple_salesforce.exceptions import SalesforceError as _SSError
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceGeneralError, SalesforceOperationError

from gateway.salesforce import phone_search
from gateway.salesforce import soql as soql_text
from gateway.salesforce import sosl as sosl_text
from gateway.salesforce.auth import AccessToken, HttpSession, TokenSource
from gateway.salesforce.bulk_csv import build_ingest_csv, match_ingest_results, parse_query_csv
from gateway.salesforce.errors import (
    RETRYABLE_ERROR_CODES,
    RETRYABLE_STATUSES,
    ApiBudgetExhausted,
    ApiError,
    BulkJobFailed,
    SalesforceAuthError,
    SalesforceRequestError,
    SalesforceUnavailable,
    parse_error_body,
)
from gateway.salesforce.identity import remember_org_id
from gateway.salesforce.results import COLLECTION_SIZE, RecordResult, chunked, parse_collection_results
from gateway.salesforce.settings import SalesforceSettings
from gateway.salesforce.token_cache import SharedTokens
from gateway.salesforce.usage import BUDGET_STOPS, RECORDS, RETRIES, UsageMeter

T = TypeVar("T")
log = logging.getLogger(__name__)
QueryApi = Literal["auto", "rest", "bulk"]
WriteApi = Literal["auto", "collections", "bulk"]

COMPOSITE_QUERIES = 5  # query subrequests one Composite request may carry (of 25 subrequests)
_BULK_UNSUPPORTED = ("(select", "group by", "offset ", "typeof", "count(", "rollup", "cube(")


def _strip_attributes(record: dict[str, Any]) -> dict[str, Any]:
    record.pop("attributes", None)
    for value in record.values():
        if isinstance(value, dict):
            _strip_attributes(value)
    return record


# The first look at a Bulk 2.0 job's state, then half as long again each time (at most `bulk_poll_max`): a job is
# seen done at most a third of the wait after it finished (doubling: half), for one or two status calls more per job
# (a job done in 1.16 s is seen at 1.19 s instead of 1.75 s; one done in 30 s costs 12 calls instead of 10). Measured
# with the emulator (`scripts/bench/throughput`): an initial sync's 5,000-link write-back, done 1.16 s after it was
# sent, was seen done at 1.75 s with doubling, most of the run's end.
BULK_FIRST_POLL = 0.25
BULK_POLL_GROWTH = 1.5


class SalesforceClient:
    """Reads and writes the org for the gateway; build one per process (it is thread-safe for token refresh).

    `redis` (optional) shares the API-usage counters, the budget and the access token between all workers.
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        redis: Any = None,
        timeout: float = 60.0,
        max_attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        bulk_poll_interval: float = BULK_FIRST_POLL,
        bulk_poll_max: float = 5.0,
        bulk_timeout: float = 900.0,
        bulk_page_size: int = 50_000,
        bulk_job_size: int = 100_000,
        assumed_token_lifetime: float = 900.0,
        usage_ttl: float = 300.0,
        limit_pause: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.bulk_poll_interval = bulk_poll_interval
        self.bulk_poll_max = bulk_poll_max
        self.bulk_timeout = bulk_timeout
        self.bulk_page_size = bulk_page_size
        self.bulk_job_size = bulk_job_size
        self._sleep = sleep
        self.tokens = TokenSource(
            settings,
            timeout=timeout,
            assumed_lifetime=assumed_token_lifetime,
            on_token=self._on_token,
            shared=SharedTokens(redis, settings, lock_seconds=timeout + 5) if redis is not None else None,
        )
        self._redis = redis
        self.meter = UsageMeter(
            budget_share=settings.budget_share,
            daily_budget=settings.daily_budget,
            opt_out_reserve=settings.opt_out_reserve,
            redis=redis,
            usage_ttl=usage_ttl,
            limit_pause=limit_pause,
        )
        self._http = HttpSession(settings.ca_bundle or True, timeout)
        self._http.hooks["response"].append(self._on_response)
        self._lock = threading.Lock()
        self._sf: Salesforce | None = None
        self._sf_token: AccessToken | None = None
        self._describes: dict[str, dict[str, Any]] = {}

    # -- plumbing --------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SalesforceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_token(self, token: AccessToken) -> None:
        """Share the org id Salesforce named at login (the web tier checks webhooks' `orgId` against it)."""
        if self._redis is not None and token.org_id:
            try:
                remember_org_id(self._redis, self.settings, token.org_id)
            except Exception:
                log.warning("could not note the org id in Redis", exc_info=True)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.meter.record_response(response.request.method or "GET", response.url, response.headers)

    def _salesforce(self) -> tuple[Salesforce, AccessToken]:
        token = self.tokens.get()
        with self._lock:
            if self._sf is None or self._sf_token is not token:
                self._sf = Salesforce(
                    instance_url=token.instance_url,
                    session_id=token.access_token,
                    session=self._http,
                    version=self.settings.api_version,
                    object_pairs_hook=None,
                )
                self._sf.headers.pop("X-PrettyPrint", None)  # indented JSON only makes pages bigger
                self._sf_token = token
            return self._sf, token

    def _delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))  # noqa: S311 - jitter

    def _call(self, what: str, fn: Callable[[Salesforce], T], *, idempotent: bool) -> T:
        """Run one Salesforce request with budget check, token refresh on INVALID_SESSION_ID and bounded retry."""
        attempt = 0
        refreshed = False
        while True:
            self.meter.ensure_budget()
            sf, token = self._salesforce()
            try:
                return fn(sf)
            except SalesforceExpiredSession:
                if refreshed:
                    raise SalesforceAuthError(
                        "session", f"Salesforce rejected a freshly issued token for {what} (INVALID_SESSION_ID)"
                    ) from None
                refreshed = True
                RETRIES.labels("invalid_session").inc()
                self.tokens.refresh(stale=token)
                continue
            except _SSError as exc:
                errors = parse_error_body(exc.content)
                reason = self._retry_reason(exc.status, errors, idempotent)
                if reason is None:
                    raise SalesforceRequestError(exc.status, what, errors) from None
                last = f"HTTP {exc.status} " + "; ".join(f"{e.code}: {e.message}" for e in errors)
            except requests.exceptions.SSLError:
                raise SalesforceUnavailable(
                    what, attempt + 1, f"TLS verification failed against {self.settings.ca_bundle or 'system CAs'}"
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if isinstance(exc, requests.exceptions.ReadTimeout) and not idempotent:
                    raise SalesforceUnavailable(
                        what, attempt + 1, "read timed out (not retried: the request may have been applied)"
                    ) from None
                reason = "connection"
                last = type(exc).__name__
            attempt += 1
            if attempt >= self.max_attempts:
                raise SalesforceUnavailable(what, attempt, last)
            RETRIES.labels(reason).inc()
            self._sleep(self._delay(attempt - 1))

    def _retry_reason(self, status: int, errors: Sequence[ApiError], idempotent: bool) -> str | None:
        codes = {e.code for e in errors}
        if "REQUEST_LIMIT_EXCEEDED" in codes:
            pause = self.meter.record_limit_exceeded()
            BUDGET_STOPS.labels("request_limit_exceeded").inc()
            raise ApiBudgetExhausted(
                "request_limit_exceeded",
                "Salesforce answered REQUEST_LIMIT_EXCEEDED (the org's daily API allocation is used up)",
                retry_after=pause,
            )
        retryable = codes & RETRYABLE_ERROR_CODES
        if retryable:
            return sorted(retryable)[0]
        if status in RETRYABLE_STATUSES or (status >= 500 and idempotent):
            return f"http_{status}"
        return None

    # -- readiness and metadata ------------------------------------------------------------------------------
    def check(self) -> None:
        """Obtain a fresh access token (`gateway doctor`). Raises `SalesforceAuthError` naming the failed step."""
        self.tokens.refresh()

    def ready(self) -> None:
        """Readiness without a login per call: a valid token (the cached one while it lasts) and the instance
        answering the Versions resource (`GET /services/data/`, which needs no authentication, so it is not an API
        call of the org's). Raises `SalesforceAuthError` or `SalesforceUnavailable`."""
        token = self.tokens.get()
        try:
            response = self._http.get(f"{token.instance_url}/services/data/", timeout=10)
        except requests.exceptions.RequestException as exc:
            raise SalesforceUnavailable("versions", 1, type(exc).__name__) from None
        if response.status_code != 200:
            raise SalesforceUnavailable("versions", 1, f"HTTP {response.status_code}")

    def org_id(self) -> str | None:
        """The org id Salesforce named at the last login (logs in if this client has no token yet)."""
        return self.tokens.get().org_id

    def usage(self) -> dict[str, Any]:
        """API usage against the budget (for status pages); makes no Salesforce call."""
        return self.meter.snapshot()

    def describe(self, sobject: str) -> dict[str, Any]:
        """The object's describe (cached for the life of the client)."""
        key = sobject.lower()
        if key not in self._describes:
            described = self._call(
                f"describe {sobject}", lambda sf: sf.restful(f"sobjects/{sobject}/describe"), idempotent=True
            )
            self._describes[key] = dict(described or {})
        return self._describes[key]

    def limits(self) -> dict[str, Any]:
        """`/limits` as Salesforce returns it."""
        return self._call("limits", lambda sf: sf.restful("limits/"), idempotent=True) or {}

    # -- reads -----------------------------------------------------------------------------------------------
    def count(self, soql: str, *, include_deleted: bool = False) -> int:
        """How many rows `soql` returns (one COUNT() call; its LIMIT applied)."""
        counted = soql_text.count_query(soql)
        answer = self._call(
            "query COUNT()", lambda sf: sf.query(counted, include_deleted=include_deleted), idempotent=True
        )
        total = int(answer.get("totalSize", 0))
        limit = soql_text.limit_of(soql)
        return min(total, limit) if limit is not None else total

    def iter_query(
        self,
        soql: str,
        *,
        include_deleted: bool = False,
        api: QueryApi = "auto",
        estimate: int | None = None,
    ) -> QueryStream:
        """The records of `soql`, fetched page by page as they are consumed; `.total` says how many.

        `api="auto"` uses Bulk API 2.0 when the row estimate (the caller's `estimate`, else a COUNT()) is above
        `bulk_query_threshold` and the query is one Bulk 2.0 accepts; otherwise REST paging.
        """
        chosen: Literal["rest", "bulk"] = "rest" if api == "auto" else api
        if api == "auto" and self._bulk_eligible(soql):
            if estimate is None:
                try:
                    estimate = self.count(soql, include_deleted=include_deleted)
                except (SalesforceRequestError, ValueError):
                    estimate = None
            if estimate is not None and estimate > self.settings.bulk_query_threshold:
                chosen = "bulk"
        return QueryStream(self, soql=soql, include_deleted=include_deleted, api=chosen)

    def query_records(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """All records of a small query (REST paging), as a list."""
        return list(self.iter_query(soql, include_deleted=include_deleted, api="rest"))

    def query_each(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]:
        """The records of each of several small queries, in order, sent 5 at a time in one Composite call (one API
        call for all of them; further pages of a query are then read with `query more`). A single query goes
        alone. A refused query raises `SalesforceRequestError`, as for `iter_query`."""
        if len(soqls) <= 1:
            return [self.query_records(soql) for soql in soqls]
        results: list[list[dict[str, Any]]] = []
        for start in range(0, len(soqls), COMPOSITE_QUERIES):
            group = list(soqls[start : start + COMPOSITE_QUERIES])
            answers = self._call("composite query", partial(_composite_queries, soqls=group), idempotent=True)
            for page in answers:
                records = [_strip_attributes(r) for r in page.get("records", [])]
                next_url = page.get("nextRecordsUrl")
                if next_url and not page.get("done", True):
                    records.extend(QueryStream(self, resume_token=f"rest:{next_url}"))
                RECORDS.labels("read", "rest").inc(len(records))
                results.append(records)
        return results

    def search(self, sosl: str) -> list[dict[str, Any]]:
        """The records a SOSL statement finds (`GET …/search?q=`), each with its `attributes.type`: one metered
        call, retried like every read. Build the statement with `gateway.salesforce.sosl`."""
        answer = self._call("search", lambda sf: sf.search(sosl), idempotent=True)
        records = sosl_text.search_records(answer)
        RECORDS.labels("read", "search").inc(len(records))
        return records

    def find_by_phone(
        self,
        lookups: Sequence[phone_search.PhoneLookup],
        phones: Iterable[str],
        *,
        default_region: str = "US",
        fresh_within: float = phone_search.DEFAULT_FRESH_WITHIN,
    ) -> list[dict[str, Any]]:
        """The records of `lookups` whose phone fields hold any of `phones`, however the number was typed.

        Returns each record once, as `{"attributes": {"type": <object>}, "Id": …, <returned fields>}`, and only
        records where one of the lookup's `phone_fields` is the same line as a wanted number (formatting and
        extensions ignored; numbers without `+` read in `default_region`, as `gateway.domain.phones` does).

        Guarantee: a record holding the number is found if it was modified in the last `fresh_within` seconds
        (SOQL: complete for any format), or if Salesforce's search index holds it and its typed form splits into
        the number's usual groups or digit strings (`sosl.phone_terms`: punctuation, spaces, `+1`/leading `1`,
        extensions). The index trails writes by "about 15 minutes or more": keep `fresh_within` well above that.

        Cost: one SOSL call per batch of about 75 US numbers (more when one object fills its share of the 2,000
        results: the batch is then halved), plus the recent-changes queries, one per lookup and batch of about
        170 numbers with one phone field (about 88 with two), sent 5 to a Composite call (`query_each`): the
        package's mapping (MobilePhone on Contact and Lead) costs 2 API calls for up to 75 numbers.
        `ValueError` names a phone that is not a valid number; Salesforce errors raise as for every call.
        """
        return phone_search.find_by_phone(
            self, lookups, phones, default_region=default_region, fresh_within=fresh_within
        )

    def resume_query(self, resume_token: str) -> QueryStream:
        """Continue a query after `ApiBudgetExhausted` from the page its `resume_token` names."""
        return QueryStream(self, resume_token=resume_token)

    @staticmethod
    def _bulk_eligible(soql: str) -> bool:
        lowered = " ".join(soql.lower().split())
        return not any(marker in lowered for marker in _BULK_UNSUPPORTED)

    def _field_types(self, sobject: str) -> dict[str, tuple[str, str]]:
        described = self.describe(sobject)
        return {f["name"].lower(): (f["name"], f.get("type", "string")) for f in described.get("fields", [])}

    def _bulk(self, sf: Salesforce, sobject: str) -> Any:
        return getattr(sf.bulk2, sobject)._client

    def _wait_for_job(self, sobject: str, job_id: str, *, is_query: bool) -> dict[str, Any]:
        """Poll a Bulk 2.0 job until it completes; BulkJobFailed on Failed/Aborted/timeout."""
        deadline = time.monotonic() + self.bulk_timeout
        delay = self.bulk_poll_interval
        kind = "query" if is_query else "ingest"
        while True:
            self._sleep(delay)
            info = self._call(
                f"bulk {kind} job status", lambda sf: self._bulk(sf, sobject).get_job(job_id, is_query), idempotent=True
            )
            state = info.get("state")
            if state == "JobComplete":
                return dict(info)
            if state in ("Failed", "Aborted"):
                raise BulkJobFailed(job_id, str(state), str(info.get("errorMessage") or "no message"))
            if time.monotonic() > deadline:
                raise BulkJobFailed(job_id, str(state), f"not complete after {self.bulk_timeout:.0f} s")
            delay = min(self.bulk_poll_max, delay * BULK_POLL_GROWTH)

    # -- writes ----------------------------------------------------------------------------------------------
    def create(
        self, sobject: str, records: Sequence[Mapping[str, Any]], *, all_or_none: bool = False, api: WriteApi = "auto"
    ) -> list[RecordResult]:
        """Insert records; one result per record (`id` of the new record on success)."""
        return self._write("insert", sobject, records, api=api, all_or_none=all_or_none)

    def update(
        self, sobject: str, records: Sequence[Mapping[str, Any]], *, all_or_none: bool = False, api: WriteApi = "auto"
    ) -> list[RecordResult]:
        """Update records (each carries its `Id`)."""
        for i, r in enumerate(records):
            if not (r.get("Id") or r.get("id")):
                raise ValueError(f"record {i} has no Id to update")
        return self._write("update", sobject, records, api=api, all_or_none=all_or_none)

    def upsert(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
        api: WriteApi = "auto",
    ) -> list[RecordResult]:
        """Insert or update by external id (each record carries `external_id_field`); `created` tells which."""
        for i, r in enumerate(records):
            if r.get(external_id_field) in (None, ""):
                raise ValueError(f"record {i} has no {external_id_field} to upsert by")
        return self._write("upsert", sobject, records, api=api, all_or_none=all_or_none, external_id=external_id_field)

    def delete(
        self, sobject: str, ids: Sequence[str], *, all_or_none: bool = False, api: WriteApi = "auto"
    ) -> list[RecordResult]:
        """Delete records by id."""
        return self._write("delete", sobject, [{"Id": i} for i in ids], api=api, all_or_none=all_or_none)

    def _write(
        self,
        operation: str,
        sobject: str,
        records: Sequence[Mapping[str, Any]],
        *,
        api: WriteApi,
        all_or_none: bool,
        external_id: str | None = None,
    ) -> list[RecordResult]:
        if not records:
            return []
        use_bulk = api == "bulk" or (
            api == "auto" and not all_or_none and len(records) > self.settings.bulk_ingest_threshold
        )
        if use_bulk:
            results = self._bulk_ingest(operation, sobject, records, external_id)
        else:
            results = self._collections(operation, sobject, records, external_id, all_or_none)
        RECORDS.labels(operation, "bulk" if use_bulk else "rest").inc(len(records))
        return results

    def _collections(
        self,
        operation: str,
        sobject: str,
        records: Sequence[Mapping[str, Any]],
        external_id: str | None,
        all_or_none: bool,
    ) -> list[RecordResult]:
        results: list[RecordResult] = []
        for offset, chunk in chunked(records, COLLECTION_SIZE):
            try:
                results.extend(self._collection_chunk(operation, sobject, chunk, offset, external_id, all_or_none))
            except ApiBudgetExhausted as exc:
                exc.results = results
                exc.next_index = offset
                raise
        return results

    def _collection_chunk(
        self,
        operation: str,
        sobject: str,
        chunk: Sequence[Mapping[str, Any]],
        offset: int,
        external_id: str | None,
        all_or_none: bool,
    ) -> list[RecordResult]:
        final: dict[int, RecordResult] = {}
        pending = list(range(len(chunk)))
        for round_ in range(self.max_attempts):
            batch = [chunk[i] for i in pending]
            try:
                answer = self._call(
                    f"composite/sobjects {operation} {sobject}",
                    lambda sf, batch=batch: self._send_collection(  # type: ignore[misc]
                        sf, operation, sobject, batch, external_id, all_or_none
                    ),
                    idempotent=operation != "insert",
                )
            except ApiBudgetExhausted:
                if round_ == 0:
                    raise
                break  # the records still pending keep their lock failure as their result
            parsed = parse_collection_results(answer, 0, len(pending))
            retry: list[int] = []
            for position, result in zip(pending, parsed, strict=True):
                final[position] = replace(result, index=offset + position)
                if result.retryable:
                    retry.append(position)
            if retry and all_or_none:
                retry = list(pending)
            if not retry:
                break
            pending = retry
            RETRIES.labels("record_locked").inc()
            self._sleep(self._delay(round_))
        return [final[i] for i in range(len(chunk))]

    @staticmethod
    def _send_collection(
        sf: Salesforce,
        operation: str,
        sobject: str,
        batch: Sequence[Mapping[str, Any]],
        external_id: str | None,
        all_or_none: bool,
    ) -> Any:
        if operation == "delete":
            ids = ",".join(str(r["Id"]) for r in batch)
            params = {"ids": ids, "allOrNone": "true" if all_or_none else "false"}
            return sf.restful("composite/sobjects", params=params, method="DELETE")
        body = {
            "allOrNone": all_or_none,
            "records": [
                {"attributes": {"type": sobject}, **{k: v for k, v in r.items() if k != "attributes"}} for r in batch
            ],
        }
        if operation == "insert":
            return sf.restful("composite/sobjects", method="POST", json=body)
        if operation == "update":
            return sf.restful("composite/sobjects", method="PATCH", json=body)
        return sf.restful(f"composite/sobjects/{sobject}/{external_id}", method="PATCH", json=body)

    def _bulk_ingest(
        self, operation: str, sobject: str, records: Sequence[Mapping[str, Any]], external_id: str | None
    ) -> list[RecordResult]:
        results: list[RecordResult] = []
        for offset, chunk in chunked(records, self.bulk_job_size):
            job_id: str | None = None
            closed = False
            try:
                csv_text, columns, keys = build_ingest_csv(chunk, operation)
                job = self._call(
                    f"bulk ingest create {sobject}",
                    lambda sf: self._bulk(sf, sobject).create_job(Operation(operation), external_id_field=external_id),
                    idempotent=False,
                )
                job_id = str(job["id"])
                self._bulk_ingest_upload(sobject, job_id, csv_text)
                closed = True
                chunk_results = self._bulk_ingest_outcome(sobject, job_id, keys, columns)
            except ApiBudgetExhausted as exc:
                exc.results = results
                exc.next_index = offset + len(chunk) if closed else offset
                exc.job_id = job_id if closed else None
                raise
            except SalesforceOperationError as exc:
                error = ApiError("BULK_LOAD_ERROR", str(exc))
                raise SalesforceRequestError(400, f"bulk ingest {sobject}", [error]) from None
            results.extend(replace(r, index=offset + r.index) for r in chunk_results)
        return results

    def _bulk_ingest_upload(self, sobject: str, job_id: str, csv_text: str) -> None:
        self._call(
            "bulk ingest upload",
            lambda sf: self._bulk(sf, sobject).upload_job_data(job_id, csv_text),
            idempotent=True,
        )
        self._call("bulk ingest close", lambda sf: self._bulk(sf, sobject).close_job(job_id), idempotent=True)

    def _bulk_ingest_outcome(
        self, sobject: str, job_id: str, keys: Sequence[tuple[str, ...]], columns: Sequence[str]
    ) -> list[RecordResult]:
        info = self._wait_for_job(sobject, job_id, is_query=False)
        successful = self._call(
            "bulk ingest results",
            lambda sf: self._bulk(sf, sobject).get_ingest_results(job_id, ResultsType.successful.value),
            idempotent=True,
        )
        failed = ""
        if int(info.get("numberRecordsFailed") or 0) > 0:
            failed = self._call(
                "bulk ingest results",
                lambda sf: self._bulk(sf, sobject).get_ingest_results(job_id, ResultsType.failed.value),
                idempotent=True,
            )
        return match_ingest_results(keys, columns, successful, failed)

    def ingest_job_results(
        self, sobject: str, job_id: str, operation: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        """The outcome of an already submitted Bulk ingest job (see `ApiBudgetExhausted.job_id`), one result per
        record of the chunk that job carried (pass the same records, in the same order)."""
        _csv, columns, keys = build_ingest_csv(records, operation)
        return self._bulk_ingest_outcome(sobject, job_id, keys, columns)


def _composite_queries(sf: Salesforce, soqls: Sequence[str]) -> list[dict[str, Any]]:
    """One Composite request of GET query subrequests; the query answers in order. A failed subrequest raises
    like a failed request, so that `_call` retries or reports it the same way."""
    base = urlsplit(sf.base_url).path
    body = {
        "allOrNone": False,
        "compositeRequest": [
            {"method": "GET", "url": f"{base}query/?{urlencode({'q': soql})}", "referenceId": f"q{i}"}
            for i, soql in enumerate(soqls)
        ],
    }
    answer = sf.restful("composite", method="POST", json=body) or {}
    by_reference = {sub.get("referenceId"): sub for sub in answer.get("compositeResponse", [])}
    pages = []
    for i in range(len(soqls)):
        sub = by_reference.get(f"q{i}") or {"httpStatusCode": 500, "body": "no answer for this subrequest"}
        status = int(sub.get("httpStatusCode") or 500)
        if status >= 300:
            content = json.dumps(sub.get("body")).encode()
            raise SalesforceGeneralError(f"{base}composite (query {i})", status, "composite", content)
        pages.append(dict(sub.get("body") or {}))
    return pages


@dataclass(frozen=True, slots=True)
class _Page:
    """One fetched page. Bulk pages keep their CSV text and are parsed by `rows()` in the caller's thread, after
    the next page's download has started."""

    records: list[dict[str, Any]]
    next_token: str | None
    total: int | None
    csv_text: str = ""
    fields: Mapping[str, tuple[str, str]] | None = None

    def rows(self) -> list[dict[str, Any]]:
        if self.fields is None:
            return self.records
        return list(parse_query_csv(self.csv_text, self.fields))


class QueryStream(Iterator[dict[str, Any]]):
    """Records of one query, fetched a page at a time as the caller iterates.

    `total` is the number of rows Salesforce reports (fetching the first page if needed). While the caller works
    through one page the next is already being fetched (`prefetch`), so a caller that stops early may have spent
    one call more than it used. After `ApiBudgetExhausted`, `resume_token` (also on the error) names the first
    page not yet handed over; records already yielded stay yielded. A `None` token on the error means nothing
    was read yet: run the query again.
    """

    def __init__(
        self,
        client: SalesforceClient,
        *,
        soql: str | None = None,
        include_deleted: bool = False,
        api: Literal["rest", "bulk"] = "rest",
        resume_token: str | None = None,
        prefetch: bool = True,
    ) -> None:
        self._client = client
        self._soql = soql
        self._include_deleted = include_deleted
        self.api = api
        self._prefetch = prefetch
        self._buffer: deque[dict[str, Any]] = deque()
        self._total: int | None = None
        self._started = False
        self._closed = False
        self._token: str | None = None  # the first page not yet handed over
        self._object: str | None = None
        self._pending: Future[_Page] | None = None
        self._executor: ThreadPoolExecutor | None = None
        if resume_token is not None:
            self._started = True
            self._token = resume_token
            self.api = "bulk" if resume_token.startswith("bulk:") else "rest"
        elif api == "bulk":
            assert soql is not None
            self._object = soql_text.object_name(soql)

    @property
    def total(self) -> int | None:
        if not self._started:
            self._advance()
        return self._total

    @property
    def resume_token(self) -> str | None:
        """The first page not yet handed over (None: finished, or nothing read yet). Exact when iteration
        stopped with an error: records are only handed over page by page."""
        return self._token

    def __iter__(self) -> QueryStream:
        return self

    def __next__(self) -> dict[str, Any]:
        while not self._buffer:
            if self._closed or (self._started and self._token is None):
                self.close()
                raise StopIteration
            self._advance()
        return self._buffer.popleft()

    def close(self) -> None:
        """Stop: drop a page being prefetched and release the prefetch thread."""
        self._closed = True
        self._pending = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _advance(self) -> None:
        try:
            if self._pending is not None:
                pending, self._pending = self._pending, None
                page = pending.result()
            else:
                page = self._fetch_page(self._token)
        except ApiBudgetExhausted as exc:
            exc.resume_token = self._token
            raise
        self._started = True
        if self._total is None:
            self._total = page.total
        self._token = page.next_token
        if self._token is not None and self._prefetch:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesforce-prefetch")
            # in the caller's context, so the next page is fetched in the caller's budget lane (`usage.Lane`)
            self._pending = self._executor.submit(contextvars.copy_context().run, self._fetch_page, self._token)
        records = page.rows()
        self._buffer.extend(records)
        RECORDS.labels("read", self.api).inc(len(records))

    def _fetch_page(self, token: str | None) -> _Page:
        return self._fetch_bulk(token) if self.api == "bulk" else self._fetch_rest(token)

    def _fetch_rest(self, token: str | None) -> _Page:
        client = self._client
        if token is None:
            soql = self._soql or ""
            page = client._call(
                "query", lambda sf: sf.query(soql, include_deleted=self._include_deleted), idempotent=True
            )
        else:
            url = token.removeprefix("rest:")
            page = client._call("query more", lambda sf: sf.query_more(url, identifier_is_url=True), idempotent=True)
        next_url = page.get("nextRecordsUrl")
        next_token = f"rest:{next_url}" if next_url and not page.get("done", True) else None
        records = [_strip_attributes(r) for r in page.get("records", [])]
        return _Page(records, next_token, int(page.get("totalSize", 0)))

    def _fetch_bulk(self, token: str | None) -> _Page:
        client = self._client
        if token is None:  # nothing fetched yet (always in the caller's thread): create the job
            assert self._object is not None and self._soql is not None
            sobject, soql = self._object, self._soql
            operation = Operation.query_all if self._include_deleted else Operation.query
            client._field_types(sobject)  # describe first, so a budget stop cannot strand a created job
            job = client._call(
                "bulk query create", lambda sf: client._bulk(sf, sobject).create_job(operation, soql), idempotent=False
            )
            token = self._token = f"bulk:{sobject}:{job['id']}:"
        _, sobject, job_id, locator = token.split(":", 3)
        fields = client._field_types(sobject)
        total = None
        if not locator:
            info = client._wait_for_job(sobject, job_id, is_query=True)
            total = int(info.get("numberRecordsProcessed") or 0)
        page = client._call(
            "bulk query results",
            lambda sf: client._bulk(sf, sobject).get_query_results(job_id, locator, client.bulk_page_size),
            idempotent=True,
        )
        next_locator = page.get("locator") or ""
        next_token = f"bulk:{sobject}:{job_id}:{next_locator}" if next_locator and next_locator != "null" else None
        return _Page([], next_token, total, csv_text=page.get("records") or "", fields=fields)
