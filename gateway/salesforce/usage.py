"""API-usage metering and the daily budget guard, shared by every worker through Redis.

Guarantees: every HTTP response from Salesforce is counted (Prometheus counter by call class, plus a per-day
count in Redis under `gateway:salesforce:`), and the latest `Sforce-Limit-Info` is kept (gauges, and in Redis
so all workers see it). `UsageMeter.ensure_budget()` refuses a call, with `ApiBudgetExhausted`, when

* the org's usage reported by Salesforce has reached `budget_share` of the org's daily allocation,
* the gateway's own calls today (UTC) have reached `daily_budget` (when set), or
* Salesforce answered `REQUEST_LIMIT_EXCEEDED` less than `limit_pause` seconds ago.

Calls are made in a lane (`budget_lane`): the `OPT_OUT` lane (a STOP being written to Salesforce) may spend the
whole budget; every other call (real-time syncs, the conversation API's lookups, bulk work) stops at
`1 - opt_out_reserve` of each line above. So reads and bulk work can never spend the share kept for opt-outs: a
STOP is held back only when the whole budget is spent, or when Salesforce itself refuses calls.

The org usage seen last is trusted for `usage_ttl` seconds; after a quiet period the next call goes through and
reads the header again, which is how a paused gateway notices that the rolling 24-hour window has freed calls.
Without Redis the same state lives in the process (for tests and single-process tools).
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from gateway.salesforce.errors import ApiBudgetExhausted

log = logging.getLogger(__name__)

KEY_PREFIX = "gateway:salesforce:"

API_CALLS = Counter(
    "gateway_salesforce_api_calls_total", "HTTP requests made to Salesforce, by call class", ["call_class"]
)
API_USAGE_USED = Gauge("gateway_salesforce_api_usage_used", "Org API requests used (latest Sforce-Limit-Info)")
API_USAGE_MAX = Gauge("gateway_salesforce_api_usage_max", "Org daily API allocation (latest Sforce-Limit-Info)")
RETRIES = Counter("gateway_salesforce_retries_total", "Salesforce calls retried, by reason", ["reason"])
TOKEN_REQUESTS = Counter(
    "gateway_salesforce_token_requests_total", "OAuth token requests, by grant and outcome", ["grant", "outcome"]
)
BUDGET_STOPS = Counter(
    "gateway_salesforce_budget_stops_total", "Calls refused because the API budget is spent", ["reason"]
)
RECORDS = Counter(
    "gateway_salesforce_records_total", "Records read or written, by operation and API", ["operation", "api"]
)


class Lane(enum.StrEnum):
    """Whose call it is, for the budget: opt-outs may spend the reserve, nothing else may."""

    OPT_OUT = "opt_out"  # writing a STOP (or what it needs: its matching query, the configuration) to Salesforce
    DEFAULT = "default"  # everything else: real-time syncs, the conversation API's lookups, bulk work


# The lane of the calls made by this thread (or task). A context variable, so that a lane entered around a piece of
# sync work covers every call made inside it, whatever client method makes them; `QueryStream` carries it into its
# prefetch thread.
_LANE: ContextVar[Lane] = ContextVar("gateway_salesforce_budget_lane", default=Lane.DEFAULT)


@contextmanager
def budget_lane(lane: Lane) -> Iterator[None]:
    """Make the Salesforce calls inside the block in `lane`."""
    token = _LANE.set(lane)
    try:
        yield
    finally:
        _LANE.reset(token)


def current_lane() -> Lane:
    return _LANE.get()


_USAGE_RE = re.compile(r"(?:^|[;\s])api-usage=(\d+)/(\d+)")
_PER_APP_RE = re.compile(r"per-app-api-usage=(\d+)/(\d+)\(appName=([^)]*)\)")


@dataclass(frozen=True, slots=True)
class LimitInfo:
    """`Sforce-Limit-Info` parsed: org-wide `used`/`max`, and the per-app figures when Salesforce sends them."""

    used: int
    max: int
    per_app_used: int | None = None
    per_app_max: int | None = None
    app_name: str | None = None


def parse_limit_info(header: str | None) -> LimitInfo | None:
    """`api-usage=18/5000; per-app-api-usage=17/250(appName=x)` → `LimitInfo`; None when absent or unreadable."""
    if not header:
        return None
    match = _USAGE_RE.search(header)
    if not match:
        return None
    per_app = _PER_APP_RE.search(header)
    if per_app:
        return LimitInfo(int(match[1]), int(match[2]), int(per_app[1]), int(per_app[2]), per_app[3])
    return LimitInfo(int(match[1]), int(match[2]))


def call_class(method: str, url: str) -> str:
    """The metering class of a request: token, query, query_more, search, collections, sobject, describe,
    limits, bulk_query, bulk_ingest, composite or other."""
    path = urlsplit(url).path.rstrip("/")
    if path.endswith("/services/oauth2/token"):
        return "token"
    marker = path.find("/services/data/")
    rest = path[marker + len("/services/data/") :] if marker >= 0 else path
    parts = [p for p in rest.split("/") if p][1:]  # drop the vNN.0 segment
    if not parts:
        return "other"
    head = parts[0]
    if head in ("query", "queryAll"):
        return "query_more" if len(parts) > 1 else "query"
    if head == "jobs" and len(parts) > 1:
        return "bulk_query" if parts[1] == "query" else "bulk_ingest"
    if head == "composite":
        return "collections" if len(parts) > 1 and parts[1] == "sobjects" else "composite"
    if head == "sobjects":
        return "describe" if parts[-1] == "describe" or len(parts) == 1 else "sobject"
    if head == "limits":
        return "limits"
    if head in ("search", "parameterizedSearch"):
        return "search"
    return "other"


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def _num(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class UsageMeter:
    """Counts calls and guards the budget; one per client, sharing state through `redis` when given."""

    def __init__(
        self,
        *,
        budget_share: float,
        daily_budget: int | None = None,
        opt_out_reserve: float = 0.0,
        redis: Any = None,
        usage_ttl: float = 300.0,
        limit_pause: float = 300.0,
        clock: Any = time.time,
    ) -> None:
        self.budget_share = budget_share
        self.daily_budget = daily_budget
        self.opt_out_reserve = opt_out_reserve
        self.usage_ttl = usage_ttl
        self.limit_pause = limit_pause
        self._redis = redis
        self._clock = clock
        self._lock = threading.Lock()
        # in-process state, used when there is no Redis
        self._usage: tuple[LimitInfo, float] | None = None
        self._calls: dict[str, dict[str, int]] = {}
        self._paused_until = 0.0

    # -- recording -------------------------------------------------------------------------------------------
    def record_response(self, method: str, url: str, headers: Any) -> None:
        """Count one HTTP response and remember its `Sforce-Limit-Info`. Token calls are counted, not budgeted."""
        klass = call_class(method, url)
        API_CALLS.labels(klass).inc()
        info = parse_limit_info(headers.get("Sforce-Limit-Info") if headers is not None else None)
        if info is not None:
            API_USAGE_USED.set(info.used)
            API_USAGE_MAX.set(info.max)
        now = self._clock()
        day_key = f"{KEY_PREFIX}calls:{_day(now)}"
        if self._redis is not None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hincrby(day_key, klass, 1)
            if klass != "token":
                pipe.hincrby(day_key, "total", 1)
            pipe.expire(day_key, 3 * 86400)
            if info is not None:
                mapping = {"used": info.used, "max": info.max, "observed_at": now}
                pipe.hset(f"{KEY_PREFIX}usage", mapping=mapping)
                pipe.pexpire(f"{KEY_PREFIX}usage", max(1, int(self.usage_ttl * 1000)))
            try:
                pipe.execute()
            except RedisError as exc:  # the Salesforce call already happened: never fail it over metering
                log.warning("could not record Salesforce API usage in Redis: %s", type(exc).__name__)
            return
        with self._lock:
            counts = self._calls.setdefault(day_key, {})
            counts[klass] = counts.get(klass, 0) + 1
            if klass != "token":
                counts["total"] = counts.get("total", 0) + 1
            if info is not None:
                self._usage = (info, now)

    def record_limit_exceeded(self) -> float:
        """Salesforce said REQUEST_LIMIT_EXCEEDED: pause every worker for `limit_pause` seconds. Returns the pause."""
        until = self._clock() + self.limit_pause
        if self._redis is not None:
            self._redis.set(f"{KEY_PREFIX}paused_until", until, px=max(1, int(self.limit_pause * 1000)))
        else:
            with self._lock:
                self._paused_until = until
        return self.limit_pause

    # -- reading ---------------------------------------------------------------------------------------------
    def _state(self) -> tuple[tuple[int, int] | None, int, float]:
        """(org used/max if fresh, our calls today, paused-until epoch)."""
        now = self._clock()
        day_key = f"{KEY_PREFIX}calls:{_day(now)}"
        if self._redis is not None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hmget(f"{KEY_PREFIX}usage", ["used", "max"])
            pipe.hget(day_key, "total")
            pipe.get(f"{KEY_PREFIX}paused_until")
            (used, max_), total, paused = pipe.execute()
            used_n, max_n = _num(used), _num(max_)
            usage = (int(used_n), int(max_n)) if used_n is not None and max_n is not None else None
            return usage, int(_num(total) or 0), _num(paused) or 0.0
        with self._lock:
            usage = None
            if self._usage is not None and now - self._usage[1] < self.usage_ttl:
                usage = (self._usage[0].used, self._usage[0].max)
            total = self._calls.get(day_key, {}).get("total", 0)
            return usage, total, self._paused_until

    def _usage_age_left(self) -> float:
        if self._redis is not None:
            ttl_ms = int(self._redis.pttl(f"{KEY_PREFIX}usage") or 0)
            return max(0.0, ttl_ms / 1000)
        with self._lock:
            if self._usage is None:
                return 0.0
            age = float(self._clock()) - self._usage[1]
            return max(0.0, self.usage_ttl - age)

    def _share_of_line(self, lane: Lane) -> float:
        """The part of each budget line calls in `lane` may use."""
        return 1.0 if lane is Lane.OPT_OUT else 1.0 - self.opt_out_reserve

    def ensure_budget(self) -> None:
        """Raise `ApiBudgetExhausted` if the next call (in the current `budget_lane`) must not be made; otherwise
        return at once."""
        usage, ours, paused_until = self._state()
        now = self._clock()
        lane = current_lane()
        share = self._share_of_line(lane)
        kept = "" if lane is Lane.OPT_OUT else f" (the last {self.opt_out_reserve:.0%} of it is kept for opt-outs)"
        if paused_until > now:
            BUDGET_STOPS.labels("request_limit_exceeded").inc()
            raise ApiBudgetExhausted(
                "request_limit_exceeded",
                "Salesforce answered REQUEST_LIMIT_EXCEEDED; calls are paused",
                retry_after=paused_until - now,
            )
        if self.daily_budget is not None:
            line = int(self.daily_budget * share)
            if ours >= line:
                BUDGET_STOPS.labels("daily_budget").inc()
                tomorrow = (now // 86400 + 1) * 86400
                raise ApiBudgetExhausted(
                    "daily_budget",
                    f"the gateway made {ours} calls today (UTC), its daily budget is {self.daily_budget}{kept}",
                    retry_after=tomorrow - now,
                    used=ours,
                    limit=line,
                )
        if usage is not None:
            used, max_ = usage
            allowed = int(int(max_ * self.budget_share) * share)
            if max_ > 0 and used >= allowed:
                BUDGET_STOPS.labels("budget_share").inc()
                raise ApiBudgetExhausted(
                    "budget_share",
                    f"the org has used {used} of {max_} daily API requests; the gateway stops at "
                    f"{self.budget_share:.0%} ({int(max_ * self.budget_share)}){kept}",
                    retry_after=self._usage_age_left() or self.usage_ttl,
                    used=used,
                    limit=allowed,
                )

    def snapshot(self) -> dict[str, Any]:
        """API usage for status pages: org used/max (if known), the stop line (the opt-outs' line: every other call
        stops `opt_out_reserve` of it earlier), our calls today by class."""
        now = self._clock()
        usage, _ours, paused_until = self._state()
        day_key = f"{KEY_PREFIX}calls:{_day(now)}"
        if self._redis is not None:
            raw = self._redis.hgetall(day_key) or {}
            by_class = {(k.decode() if isinstance(k, bytes) else k): int(_num(v) or 0) for k, v in raw.items()}
        else:
            with self._lock:
                by_class = dict(self._calls.get(day_key, {}))
        total = by_class.pop("total", 0)
        return {
            "org_used": usage[0] if usage else None,
            "org_max": usage[1] if usage else None,
            "budget_share": self.budget_share,
            "stop_at": int(usage[1] * self.budget_share) if usage else None,
            "daily_budget": self.daily_budget,
            "opt_out_reserve": self.opt_out_reserve,
            "calls_today": total,
            "calls_today_by_class": by_class,
            "paused_for_seconds": max(0.0, paused_until - now),
        }


class SharedUsageCollector(Collector):
    """Prometheus collector for `/metrics` on any process: the usage every worker recorded in Redis.

    Worker processes have no scrape port, so their in-process counters are not what `/metrics` shows; register
    this collector (with the same Redis) where `/metrics` is served to see the whole deployment's Salesforce use.
    Metric names: `gateway_salesforce_shared_calls_today{call_class}`, `gateway_salesforce_shared_org_api_used`,
    `gateway_salesforce_shared_org_api_max`, `gateway_salesforce_shared_budget_stop_at`,
    `gateway_salesforce_shared_paused_seconds`.
    """

    def __init__(self, redis: Any, *, budget_share: float, daily_budget: int | None = None) -> None:
        self._meter = UsageMeter(budget_share=budget_share, daily_budget=daily_budget, redis=redis)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            snap = self._meter.snapshot()
        except RedisError:
            return
        calls = GaugeMetricFamily(
            "gateway_salesforce_shared_calls_today",
            "Salesforce calls made today (UTC) by all workers, by call class",
            labels=["call_class"],
        )
        for klass, count in sorted(snap["calls_today_by_class"].items()):
            calls.add_metric([klass], count)
        yield calls
        for name, key, doc in (
            ("org_api_used", "org_used", "Org API requests used, as Salesforce last reported to any worker"),
            ("org_api_max", "org_max", "Org daily API allocation, as Salesforce last reported to any worker"),
            ("budget_stop_at", "stop_at", "Org usage at which the gateway stops calling Salesforce"),
        ):
            if snap[key] is not None:
                yield GaugeMetricFamily(f"gateway_salesforce_shared_{name}", doc, value=snap[key])
        yield GaugeMetricFamily(
            "gateway_salesforce_shared_paused_seconds",
            "Seconds left in a pause after REQUEST_LIMIT_EXCEEDED",
            value=snap["paused_for_seconds"],
        )
