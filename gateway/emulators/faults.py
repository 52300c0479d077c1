"""Injected faults and throttling for a platform emulator's API: the control shape every platform emulator shares
(DESIGN §6), `POST /__emulator__/faults` with

- `status` (an HTTP status to answer) or `error_code` (the platform's own error, answered the platform's way),
- `count` (that many calls) or `ratio` (that share of calls; neither: every call),
- `latency_ms` (± `jitter_ms`, uniform) added to every call,
- `max_concurrent` and `max_per_second`: beyond them a call gets the platform's own throttling answer,
- `seed` for a reproducible `ratio`/`jitter_ms`,

and `DELETE /__emulator__/faults` to clear the plan.

Guarantees: a plan applies to API calls only, never to control calls; a `count` plan is used by exactly that many
calls; the delay is spent while the call counts as in flight (slow answers raise concurrency, as on a real server);
the account's own concurrency cap (`account_max_concurrent`, the platform's documented limit) applies with or
without a plan, and a plan's `max_concurrent` replaces it while the plan lasts. The emulator turns an `Admission`
into its platform's answers; this module knows no platform.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


class FaultSpecError(ValueError):
    """A control-API fault body that makes no sense; the message names the field."""


@dataclass
class FaultPlan:
    """What the next API calls suffer (see the module docstring for each field)."""

    status: int | None = None
    error_code: int | str | None = None
    count: int | None = None
    ratio: float | None = None
    latency_ms: int = 0
    jitter_ms: int = 0
    max_concurrent: int | None = None
    max_per_second: int | None = None
    fired: int = 0

    @property
    def errs(self) -> bool:
        return self.status is not None or self.error_code is not None

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


@dataclass(frozen=True, slots=True)
class Admission:
    """How one API call goes: wait `delay` seconds, then answer the platform's throttling error when `throttled`,
    else `status` (an HTTP status) or `error_code` (the platform's error) when one is set, else serve the call."""

    delay: float = 0.0
    throttled: bool = False
    status: int | None = None
    error_code: int | str | None = None


def _int(spec: Mapping[str, Any], name: str, minimum: int) -> int | None:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultSpecError(f"{name} must be an integer of at least {minimum}")
    return value


def parse_plan(spec: Any) -> FaultPlan:
    """A `FaultPlan` from a control-API body; `FaultSpecError` names the first field that makes no sense."""
    if not isinstance(spec, Mapping):
        raise FaultSpecError("the body must be a JSON object")
    unknown = set(spec) - {*FaultPlan.__dataclass_fields__, "seed"} - {"fired"}
    if unknown:
        raise FaultSpecError(f"unknown field(s): {', '.join(sorted(unknown))}")
    ratio = spec.get("ratio")
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1):
        raise FaultSpecError("ratio must be a number in (0, 1]")
    code = spec.get("error_code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int | str) or code == ""):
        raise FaultSpecError("error_code must be the platform's error code (a number or a name)")
    plan = FaultPlan(
        status=_int(spec, "status", 100),
        error_code=code,
        count=_int(spec, "count", 1),
        ratio=float(ratio) if ratio is not None else None,
        latency_ms=_int(spec, "latency_ms", 0) or 0,
        jitter_ms=_int(spec, "jitter_ms", 0) or 0,
        max_concurrent=_int(spec, "max_concurrent", 1),
        max_per_second=_int(spec, "max_per_second", 1),
    )
    if plan.status is not None and plan.status > 599:
        raise FaultSpecError("status must be an HTTP status code")
    if plan.count is not None and plan.ratio is not None:
        raise FaultSpecError("give count or ratio, not both")
    if not (plan.errs or plan.latency_ms or plan.jitter_ms or plan.max_concurrent or plan.max_per_second):
        raise FaultSpecError("give status, error_code, latency_ms, jitter_ms, max_concurrent or max_per_second")
    return plan


class Faults:
    """The current plan, the calls in flight and the recent call starts of one emulated account."""

    def __init__(self, *, account_max_concurrent: int | None = None) -> None:
        self.account_max_concurrent = account_max_concurrent
        self._lock = threading.Lock()
        self._plan: FaultPlan | None = None
        self._in_flight = 0
        self._starts: deque[float] = deque()
        self._rng = random.Random()
        self.injected = 0
        self.throttled = 0
        self.peak_in_flight = 0
        self.busy_calls = 0  # calls answered (throttled ones too)
        self.busy_seconds = 0.0  # the time they spent in flight, summed: calls in flight on average, times seconds

    def set(self, spec: Any) -> dict[str, Any]:
        """Replace the plan with the one `spec` describes; its description."""
        plan = parse_plan(spec)
        with self._lock:
            if "seed" in spec:
                self._rng.seed(spec["seed"])
            self._plan = plan
        return plan.describe()

    def clear(self) -> None:
        with self._lock:
            self._plan = None

    def reset(self) -> None:
        """No plan, and the counters back to zero (the calls in flight stay counted until they end)."""
        with self._lock:
            self._plan = None
            self._starts.clear()
            self.injected = self.throttled = self.peak_in_flight = self.busy_calls = 0
            self.busy_seconds = 0.0

    def describe(self) -> dict[str, Any] | None:
        with self._lock:
            return self._plan.describe() if self._plan else None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "faults_injected": self.injected,
                "throttled": self.throttled,
                "peak_in_flight": self.peak_in_flight,
                "busy_calls": self.busy_calls,
                "busy_seconds": round(self.busy_seconds, 6),
                "max_concurrent": self._cap(),
            }

    @contextmanager
    def call(self) -> Iterator[Admission]:
        """One API call from its start to its answer: counted in flight for the whole block, and its time added to
        `busy_seconds` (so that calls in flight on average over a span are the growth of `busy_seconds` over it,
        and a call's mean time in flight that growth over the growth of `busy_calls`)."""
        started = time.monotonic()
        admission = self._enter()
        try:
            yield admission
        finally:
            with self._lock:
                self._in_flight -= 1
                self.busy_calls += 1
                self.busy_seconds += time.monotonic() - started

    def _cap(self) -> int | None:
        plan = self._plan
        return plan.max_concurrent if plan is not None and plan.max_concurrent else self.account_max_concurrent

    def _enter(self) -> Admission:
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            now = time.monotonic()
            while self._starts and now - self._starts[0] >= 1.0:
                self._starts.popleft()
            self._starts.append(now)
            plan = self._plan
            delay = 0.0
            if plan is not None and (plan.latency_ms or plan.jitter_ms):
                jitter = self._rng.uniform(-plan.jitter_ms, plan.jitter_ms) if plan.jitter_ms else 0.0
                delay = max(0.0, plan.latency_ms + jitter) / 1000
            cap = self._cap()
            per_second = plan.max_per_second if plan is not None else None
            if (cap is not None and self._in_flight > cap) or (
                per_second is not None and len(self._starts) > per_second
            ):
                self.throttled += 1
                return Admission(delay, throttled=True)
            if plan is None or not plan.errs:
                return Admission(delay)
            if plan.count is not None:
                if plan.count <= 0:
                    return Admission(delay)
                plan.count -= 1
            elif plan.ratio is not None and self._rng.random() >= plan.ratio:
                return Admission(delay)
            plan.fired += 1
            self.injected += 1
            return Admission(delay, status=plan.status, error_code=plan.error_code)
