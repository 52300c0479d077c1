"""Injected faults: error answers for the next N calls or a ratio of calls, added latency, a spent limit.

`per_record: true` with an `error_code` answers an sObject Collections call as Salesforce does when rows stay
locked (`UNABLE_TO_LOCK_ROW`) with `allOrNone` false: HTTP 200, every record `success: false` with that
`statusCode`, nothing written (REST API Developer Guide, "sObject Collections": each record's result carries its own
errors). It matches only `/composite/sobjects` calls.

Guarantees: faults are checked in the order they were added; a counted fault is used up by exactly N
matching calls; DELETE clears everything including the spent daily limit.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

_DEFAULT_STATUS = {
    "UNABLE_TO_LOCK_ROW": 400,
    "REQUEST_LIMIT_EXCEEDED": 403,
    "INVALID_SESSION_ID": 401,
    "SERVER_UNAVAILABLE": 503,
    "UNKNOWN_EXCEPTION": 500,
    "QUERY_TIMEOUT": 400,
}
_CODE_FOR_STATUS = {
    500: "UNKNOWN_EXCEPTION",
    502: "BAD_GATEWAY",
    503: "SERVER_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    400: "INVALID_REQUEST",
    429: "REQUEST_LIMIT_EXCEEDED",
}
_MESSAGES = {
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record or 1 records: 003000000000000AAA",
    "UNKNOWN_EXCEPTION": "An unexpected error occurred. Please include this ErrorId if you contact support: "
    "1234567890-12345 (-1234567890)",
    "SERVER_UNAVAILABLE": "Server temporarily unavailable",
    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
    "INVALID_SESSION_ID": "Session expired or invalid",
    "QUERY_TIMEOUT": "Your query request was running for too long.",
}


@dataclass
class Fault:
    status: int
    error_code: str
    message: str
    remaining: int | None = None
    ratio: float | None = None
    latency_ms: int = 0
    error: bool = True
    path: str | None = None
    scope: str = "api"  # api | token | all
    per_record: bool = False  # sObject Collections: HTTP 200, every record failing with the error, nothing written
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status if self.error else None,
            "error_code": self.error_code if self.error else None,
            "count": self.remaining,
            "ratio": self.ratio,
            "latency_ms": self.latency_ms,
            "path": self.path,
            "scope": self.scope,
            "per_record": self.per_record,
            "fired": self.fired,
        }


class FaultError(ValueError):
    pass


@dataclass
class Faults:
    faults: list[Fault] = field(default_factory=list)
    limit_spent: bool = False
    rng: random.Random = field(default_factory=random.Random)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """Add one fault from a control-API body; raises FaultError on a body that makes no sense."""
        if not isinstance(spec, dict):
            raise FaultError("the body must be a JSON object")
        if spec.get("daily_limit_spent") or spec.get("daily_limit_exhausted"):
            with self.lock:
                self.limit_spent = True
            if set(spec) <= {"daily_limit_spent", "daily_limit_exhausted"}:
                return self.describe()
        if "seed" in spec:
            self.rng.seed(spec["seed"])
        code = spec.get("error_code")
        status = spec.get("status")
        latency = int(spec.get("latency_ms") or 0)
        if code is None and status is None and not latency:
            raise FaultError("give status, error_code or latency_ms")
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise FaultError("status must be an HTTP status code")
        count, ratio = spec.get("count"), spec.get("ratio")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise FaultError("count must be a positive integer")
        if ratio is not None and (not isinstance(ratio, (int, float)) or not 0 < ratio <= 1):
            raise FaultError("ratio must be in (0, 1]")
        if count is None and ratio is None:
            count = 1 if (code or status) else None
        scope = spec.get("scope", "api")
        if scope not in ("api", "token", "all"):
            raise FaultError("scope must be api, token or all")
        error = code is not None or status is not None
        per_record = spec.get("per_record", False)
        if not isinstance(per_record, bool) or (per_record and code is None):
            raise FaultError("per_record must be true or false, and needs an error_code (each record's statusCode)")
        final_code = str(code or _CODE_FOR_STATUS.get(int(status or 500), "UNKNOWN_EXCEPTION"))
        final_status = int(status or _DEFAULT_STATUS.get(final_code, 400))
        fault = Fault(
            status=final_status,
            error_code=final_code,
            message=str(spec.get("message") or _MESSAGES.get(final_code, final_code.replace("_", " ").lower())),
            remaining=count,
            ratio=float(ratio) if ratio is not None else None,
            latency_ms=latency,
            error=error,
            path=spec.get("path"),
            scope=scope,
            per_record=per_record,
        )
        with self.lock:
            self.faults.append(fault)
        return self.describe()

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.limit_spent = False

    def describe(self) -> list[dict[str, Any]]:
        with self.lock:
            return [f.describe() for f in self.faults]

    def check(self, path: str, scope: str) -> tuple[int, Fault | None]:
        """(latency in ms to add, the error fault to answer with or None) for one call."""
        latency = 0
        hit: Fault | None = None
        with self.lock:
            for fault in list(self.faults):
                if fault.scope not in (scope, "all") or (fault.path and fault.path not in path):
                    continue
                if fault.per_record and "/composite/sobjects" not in path:
                    continue  # only a collection call answers record by record
                if fault.ratio is not None and self.rng.random() >= fault.ratio:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                fault.fired += 1
                latency += fault.latency_ms
                if fault.error and hit is None:
                    hit = fault
        return latency, hit
