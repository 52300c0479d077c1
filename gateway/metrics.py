"""Prometheus metrics: in-process counters for the web tier, Redis-backed figures for what workers do.

Guarantees: job outcomes and durations are recorded in Redis, so `/metrics` on any web process reports the work of
every worker on every machine (workers need no scrape port of their own); queue depths are read at scrape time.
With gunicorn's several processes, `PROMETHEUS_MULTIPROC_DIR` makes the in-process counters add up across them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gateway.ratelimit import usage
from gateway.redis_client import text

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests by route and status.", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
WEBHOOK_EVENTS = Counter(
    "gateway_webhook_events_total",
    "Salesforce events received, by outcome (accepted, duplicate, rejected).",
    ["outcome"],
)

JOB_DURATION_BUCKETS: Sequence[float] = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_JOBS_KEY = "gateway:metrics:jobs"  # hash: "<function>|<outcome>" -> count
_DURATIONS_KEY = "gateway:metrics:job_durations"  # hash: "<function>|<le>" -> count, "<function>|sum" -> seconds


def record_job(connection: redis.Redis, function: str, outcome: str, seconds: float) -> None:
    """Count one job run (outcome: succeeded, failed, retried, superseded — handed to another worker while this one
    was frozen) and its duration, shared by all workers."""
    pipe = connection.pipeline(transaction=False)
    pipe.hincrby(_JOBS_KEY, f"{function}|{outcome}", 1)
    for bound in JOB_DURATION_BUCKETS:
        if seconds <= bound:
            pipe.hincrby(_DURATIONS_KEY, f"{function}|{bound}", 1)
    pipe.hincrby(_DURATIONS_KEY, f"{function}|+Inf", 1)
    pipe.hincrbyfloat(_DURATIONS_KEY, f"{function}|sum", seconds)
    pipe.execute()


class RedisCollector(Collector):
    """Reads queue depths and job figures from Redis at scrape time."""

    def __init__(self, connection: redis.Redis, queue_names: Sequence[str]) -> None:
        self.connection = connection
        self.queue_names = tuple(queue_names)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        from rq import Queue
        from rq.registry import FailedJobRegistry, StartedJobRegistry

        depth = GaugeMetricFamily("gateway_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"])
        started = GaugeMetricFamily("gateway_queue_started", "Jobs running now, by queue.", labels=["queue"])
        failed = GaugeMetricFamily(
            "gateway_queue_failed", "Jobs in the failed-job registry, by queue.", labels=["queue"]
        )
        up = GaugeMetricFamily("gateway_redis_up", "1 when Redis answered this scrape.")
        try:
            for name in self.queue_names:
                queue = Queue(name, connection=self.connection)
                depth.add_metric([name], queue.count)
                started.add_metric([name], StartedJobRegistry(queue=queue).count)
                failed.add_metric([name], FailedJobRegistry(queue=queue).count)
            jobs = self.connection.hgetall(_JOBS_KEY)
            durations = self.connection.hgetall(_DURATIONS_KEY)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, depth, started, failed)
        job_counts = {text(k): text(v) for k, v in jobs.items()}
        job_durations = {text(k): text(v) for k, v in durations.items()}
        outcomes = CounterMetricFamily(
            "gateway_jobs", "Jobs run, by function and outcome.", labels=["function", "outcome"]
        )
        for key, count in sorted(job_counts.items()):
            function, outcome = key.rsplit("|", 1)
            outcomes.add_metric([function, outcome], int(count))
        yield outcomes
        yield _job_histogram(job_durations)


class PlatformLimitsCollector(Collector):
    """Reads, at scrape time, how much of the messaging platform's shared limits the deployment holds
    (`ratelimit.usage`), beside the limits set (`<NAME>_MAX_CONCURRENT`, `<NAME>_REQUESTS_PER_SECOND`): slots in use
    at the cap mean the platform bounds the syncs and more workers would only wait; a booked schedule means requests
    queue for the rate."""

    def __init__(
        self, connection: redis.Redis, platform: str, max_concurrent: int | None, requests_per_second: float | None
    ) -> None:
        self.connection = connection
        self.platform = platform
        self.max_concurrent = max_concurrent
        self.requests_per_second = requests_per_second

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.max_concurrent is None and self.requests_per_second is None:
            return  # a platform with neither limit: nothing to read, no round trip on every scrape
        try:
            now = usage(self.connection, self.platform)
        except redis.RedisError:  # `gateway_redis_up` says so
            return
        if self.max_concurrent is not None:
            yield self._gauge(
                "gateway_platform_concurrency_limit",
                "Requests the deployment may have in flight to the platform at once (<NAME>_MAX_CONCURRENT).",
                self.max_concurrent,
            )
            yield self._gauge(
                "gateway_platform_slots_in_use",
                "The platform's concurrency slots held now by every process: requests in flight, and slots a process "
                "keeps for its next request (at most 0.2 s).",
                now.slots_in_use,
            )
        if self.requests_per_second is not None:
            yield self._gauge(
                "gateway_platform_rate_limit",
                "Requests a second the platform allows (<NAME>_REQUESTS_PER_SECOND; the gateway paces 10 % below).",
                self.requests_per_second,
            )
            yield self._gauge(
                "gateway_platform_rate_booked_seconds",
                "How far ahead the shared request schedule is booked: a request asking now waits about that long.",
                now.rate_booked_seconds,
            )

    def _gauge(self, name: str, documentation: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, documentation, labels=["platform"])
        family.add_metric([self.platform], value)
        return family


def _job_histogram(raw: dict[str, str]) -> HistogramMetricFamily:
    family = HistogramMetricFamily("gateway_job_duration_seconds", "Job run time, by function.", labels=["function"])
    by_function: dict[str, dict[str, float]] = {}
    for key, value in raw.items():
        function, bound = key.rsplit("|", 1)
        by_function.setdefault(function, {})[bound] = float(value)
    for function, values in sorted(by_function.items()):
        buckets = [(str(b), values.get(str(b), 0.0)) for b in JOB_DURATION_BUCKETS]
        buckets.append(("+Inf", values.get("+Inf", 0.0)))
        family.add_metric([function], buckets, values.get("sum", 0.0))
    return family


def build_registry(
    connection: redis.Redis, queue_names: Sequence[str], extra: Sequence[Collector] = ()
) -> CollectorRegistry:
    """The registry `/metrics` renders: this process's (or all gunicorn processes') counters, Redis figures, and
    `extra` collectors (such as the Salesforce usage every worker records in Redis)."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry.register(_Forward(REGISTRY))
    registry.register(RedisCollector(connection, queue_names))
    for collector in extra:
        registry.register(collector)
    return registry


class _Forward(Collector):
    """Exposes the default registry's metrics through another registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        yield from self.source.collect()


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
