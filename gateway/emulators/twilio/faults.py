"""Injected faults and throttling for the Twilio emulator's REST API (DESIGN §6 fault shape).

Guarantees: a plan applies to REST calls only (never to control calls); `count` faults are used by exactly that many
calls, `ratio` ones by that share of calls, a plan with neither by every call; `latency_ms` (± `jitter_ms`) delays
each call; more than `max_concurrent` calls in flight, or more than `max_per_second` started within one second, are
answered with Twilio's own throttling error (HTTP 429, code 20429), which Twilio documents as never processed.
`peak_in_flight` is the most REST calls ever in flight at once (with or without a plan), as a benchmark checks a
client's concurrency against a cap.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from gateway.emulators.twilio.state import TwilioApiError

_STATUS_FOR_CODE = {20429: 429, 20003: 401, 20404: 404, 21610: 400, 21211: 400, 20500: 500}  # 20500: UNCONFIRMED
_CODE_FOR_STATUS = {429: 20429, 401: 20003, 404: 20404}
_MESSAGES = {
    20429: "Too Many Requests",
    20003: "Authenticate",
    20404: "The requested resource was not found",
    21610: "Attempt to send to unsubscribed recipient",
}


class FaultSpecError(ValueError):
    """A control-API fault body that makes no sense; the message says which field."""


@dataclass
class FaultPlan:
    status: int | None = None
    error_code: int | None = None
    count: int | None = None
    ratio: float | None = None
    latency_ms: int = 0
    jitter_ms: int = 0
    max_concurrent: int | None = None
    max_per_second: int | None = None
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error_code": self.error_code,
            "count": self.count,
            "ratio": self.ratio,
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "max_concurrent": self.max_concurrent,
            "max_per_second": self.max_per_second,
            "fired": self.fired,
        }


def _int(spec: dict[str, Any], name: str, minimum: int) -> int | None:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultSpecError(f"{name} must be an integer of at least {minimum}")
    return value


class Faults:
    """The current plan, the calls in flight and the recent call starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: FaultPlan | None = None
        self._in_flight = 0
        self._starts: deque[float] = deque()
        self._rng = random.Random()
        self.injected = 0
        self.throttled = 0
        self.peak_in_flight = 0

    def set(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise FaultSpecError("the body must be a JSON object")
        ratio = spec.get("ratio")
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1):
            raise FaultSpecError("ratio must be a number in (0, 1]")
        plan = FaultPlan(
            status=_int(spec, "status", 100),
            error_code=_int(spec, "error_code", 1),
            count=_int(spec, "count", 1),
            ratio=float(ratio) if ratio is not None else None,
            latency_ms=_int(spec, "latency_ms", 0) or 0,
            jitter_ms=_int(spec, "jitter_ms", 0) or 0,
            max_concurrent=_int(spec, "max_concurrent", 1),
            max_per_second=_int(spec, "max_per_second", 1),
        )
        if plan.status is not None and plan.status > 599:
            raise FaultSpecError("status must be an HTTP status code")
        if "seed" in spec:
            self._rng.seed(spec["seed"])
        with self._lock:
            self._plan = plan
        return plan.describe()

    def clear(self) -> None:
        with self._lock:
            self._plan = None

    def reset(self) -> None:
        with self._lock:
            self._plan = None
            self._starts.clear()
            self.injected = self.throttled = self.peak_in_flight = 0

    def describe(self) -> dict[str, Any] | None:
        with self._lock:
            return self._plan.describe() if self._plan else None

    def enter(self) -> tuple[float, TwilioApiError | None]:
        """Start one REST call: (seconds to wait first, the error to answer or None). Call `leave` afterwards."""
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            plan = self._plan
            if plan is None:
                return 0.0, None
            now = time.monotonic()
            while self._starts and now - self._starts[0] >= 1.0:
                self._starts.popleft()
            self._starts.append(now)
            delay = 0.0
            if plan.latency_ms or plan.jitter_ms:
                jitter = self._rng.uniform(-plan.jitter_ms, plan.jitter_ms) if plan.jitter_ms else 0.0
                delay = max(0.0, plan.latency_ms + jitter) / 1000
            if (plan.max_concurrent is not None and self._in_flight > plan.max_concurrent) or (
                plan.max_per_second is not None and len(self._starts) > plan.max_per_second
            ):
                self.throttled += 1
                return delay, TwilioApiError(429, 20429, _MESSAGES[20429])
            if plan.status is None and plan.error_code is None:
                return delay, None
            if plan.count is not None:
                if plan.count <= 0:
                    return delay, None
                plan.count -= 1
            elif plan.ratio is not None and self._rng.random() >= plan.ratio:
                return delay, None
            plan.fired += 1
            self.injected += 1
            code = plan.error_code or _CODE_FOR_STATUS.get(plan.status or 0, 20500)
            status = plan.status or _STATUS_FOR_CODE.get(code, 400)
            return delay, TwilioApiError(status, code, _MESSAGES.get(code, f"Injected error {code}"))

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
