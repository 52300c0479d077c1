"""Typed errors of the Salesforce client, and the mapping from Salesforce's error bodies to them.

Guarantees: every failure a caller can see from `gateway.salesforce` is a `SalesforceError` subclass; messages
name what failed (endpoint, error code, Salesforce's message) and never carry a token, key or secret;
`ApiBudgetExhausted` is the only error that means "stop now and resume later" and it carries what is needed to
resume (`resume_token` for reads, `results`/`next_index` for writes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.salesforce.results import RecordResult

#: errorCodes whose request changed nothing and can be sent again as is.
RETRYABLE_ERROR_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT"})
#: HTTP statuses that mean "Salesforce did not process this request; try again".
RETRYABLE_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class ApiError:
    """One entry of a Salesforce error body: `[{"errorCode"|"statusCode", "message", "fields"}]`."""

    code: str
    message: str
    fields: tuple[str, ...] = field(default=())


def parse_error_body(content: Any) -> list[ApiError]:
    """Salesforce's error body (already-parsed JSON, bytes or text) as `ApiError`s; never raises.

    Top-level REST errors use `errorCode`, sObject Collections results use `statusCode`, the token endpoint uses
    `{"error", "error_description"}`; anything else becomes one `UNKNOWN_ERROR` entry holding the text.
    """
    if isinstance(content, bytes | bytearray):
        content = content.decode("utf-8", "replace")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            text = content.strip()
            return [ApiError("UNKNOWN_ERROR", text[:500])] if text else []
    if isinstance(content, dict):
        if "error" in content:
            return [ApiError(str(content["error"]), str(content.get("error_description") or ""))]
        content = [content]
    errors: list[ApiError] = []
    if isinstance(content, list):
        for entry in content:
            if not isinstance(entry, dict):
                continue
            code = entry.get("errorCode") or entry.get("statusCode") or "UNKNOWN_ERROR"
            raw_fields = entry.get("fields") or ()
            fields_ = tuple(str(f) for f in raw_fields) if isinstance(raw_fields, list | tuple) else ()
            errors.append(ApiError(str(code), str(entry.get("message") or ""), fields_))
    return errors


class SalesforceError(Exception):
    """Base of every error raised by `gateway.salesforce`."""


class SalesforceAuthError(SalesforceError):
    """No access token could be obtained. `step` names what failed (e.g. `token request`, `TLS`, `private key`)."""

    def __init__(self, step: str, detail: str, *, endpoint: str | None = None) -> None:
        self.step = step
        self.detail = detail
        self.endpoint = endpoint
        where = f" at {endpoint}" if endpoint else ""
        super().__init__(f"Salesforce authentication failed ({step}){where}: {detail}")


class SalesforceRequestError(SalesforceError):
    """Salesforce refused a request for a reason that retrying will not fix (bad SOQL, bad field, not found…)."""

    def __init__(self, status: int, endpoint: str, errors: Sequence[ApiError]) -> None:
        self.status = status
        self.endpoint = endpoint
        self.errors = tuple(errors)
        summary = "; ".join(f"{e.code}: {e.message}" for e in self.errors) or "no error body"
        super().__init__(f"Salesforce answered {status} to {endpoint}: {summary}")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.errors)


class SalesforceUnavailable(SalesforceError):
    """Salesforce kept failing transiently (5xx, locked rows, connection errors) until the retries ran out."""

    def __init__(self, endpoint: str, attempts: int, last_error: str) -> None:
        self.endpoint = endpoint
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"Salesforce unavailable for {endpoint} after {attempts} attempts: {last_error}")


class BulkJobFailed(SalesforceError):
    """A Bulk API 2.0 job ended `Failed` or `Aborted`, or did not finish in time."""

    def __init__(self, job_id: str, state: str, message: str) -> None:
        self.job_id = job_id
        self.state = state
        super().__init__(f"Bulk API 2.0 job {job_id} ended {state}: {message}")


class ApiBudgetExhausted(SalesforceError):
    """The API budget is spent (our share of the daily allocation, or Salesforce said REQUEST_LIMIT_EXCEEDED).

    Nothing was dropped: the call that would have crossed the line was not made. `retry_after` is a hint in
    seconds. Readers resume with `SalesforceClient.resume_query(resume_token)`; writers get the `results` of
    the records already written and `next_index`, the first record of their input that was not written (and
    `job_id` when a Bulk ingest job was already submitted: fetch its outcome later, do not resubmit).
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        retry_after: float | None = None,
        used: int | None = None,
        limit: int | None = None,
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
        self.used = used
        self.limit = limit
        self.resume_token: str | None = None
        self.results: list[RecordResult] = []
        self.next_index: int | None = None
        self.job_id: str | None = None
        super().__init__(f"Salesforce API budget exhausted ({reason}): {detail}")
