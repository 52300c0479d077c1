"""Limits on how hard the gateway uses an outside API (a messaging platform), shared by every process on every
machine through Redis. (Not the web tier's limits on failed sign-ins: those are `gateway.web.ratelimit`.)

`platform_limits()` is the one way to get them for a platform: both limiters on the keys this module owns
(`gateway:platform:<name>:rate|concurrency`), so every platform's `<NAME>_REQUESTS_PER_SECOND` and
`<NAME>_MAX_CONCURRENT` mean the same thing and no other module formats these keys. `PlatformLimits.request()`
holds a concurrency slot and takes a rate slot around one request (or consecutive rate slots around a read and the
write it decides, so that nothing queues between them). Requests are spaced for `HEADROOM` below the
platform's limit (`effective_rate()`): we space departures, the platform counts arrivals, and network and scheduling
jitter bunch them — measured at the Action Network emulator (`scripts/bench/platform_rate`, 2 workers, 4/s limit
counted over any one second), exact spacing at 4/s drew 17 429s in 101 requests, spacing at 3.6/s none, and the
run finished sooner.

- `RateLimiter`: at most `per_second` requests per second across all processes — GCRA (the token bucket stated as
  a "theoretical arrival time"), one atomic Lua script per request, timed by Redis' own clock so machines with
  skewed clocks still share one schedule. A caller that must wait reserves its slot and sleeps, so waiting callers
  are served in order instead of stampeding. `penalize()` pushes the schedule back for everyone (a 429).
- `ConcurrencyLimiter`: at most `limit` requests in flight across all processes — a Redis semaphore whose leases
  expire, so a process that dies mid-request holds its slot for at most `lease_seconds`. A caller that finds every
  slot taken blocks on a wake-up list (`BLPOP`) that each release pushes to, instead of polling: a job may keep as
  many threads waiting as the platform allows in flight without costing Redis a call per thread per poll. A caller
  that comes while threads of its process already wait joins them on the list before asking Redis (every slot was
  taken at their last try; measured in a bulk run at the cap: one script call a record fewer, a seventh of Redis'
  commands). Not fair: a thread that has just released a slot may take one again before the waiter it woke (the
  total is still held to `limit`; a job that waits long enough raises `Throttled` and is retried).
  A lease taken from Redis serves the process's requests for up to `reuse_seconds` (one at a time): a request that
  ends puts it back in the process, where the next request takes it without a round trip, and it goes back to Redis
  once nobody here took it again within `linger_seconds`, once its `reuse_seconds` are over, at once when another
  thread of the process waits for a slot to free up, and at `close()`. Taking and giving back a slot cost two round
  trips a request; measured with the Mobile Commons emulator answering at once (`scripts/bench/e2e`), they were a
  sixth of a worker's time. A short `reuse_seconds` keeps a process from holding slots that the waiters of other
  processes would take: a slow platform's lease serves about one request, a fast one's many. A request that starts on
  a reused lease ends before `lease_seconds` after the lease was taken as long as `lease_seconds` exceeds the longest
  request plus `reuse_seconds` (`limits_for` keeps 5 s: 4.8 s to spare).
- `backoff_delay()`: how long to wait before retrying a throttled or failed request: `Retry-After` when the
  platform sent one (capped), else capped exponential backoff with full jitter.

Guarantees: with `burst=1`, no two requests granted by one `RateLimiter` key are less than `1/per_second` apart
on Redis' clock; every key expires once idle (nothing is left behind by a dead process); a wait longer than
`max_wait` is never taken on: `Throttled` is raised instead, holding no reservation, so the job can be retried
later rather than stall a worker.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Protocol

from redis import Redis

log = logging.getLogger(__name__)

HEADROOM = 0.1  # share of a platform's published limit left unused, for jitter (see the module docstring)

_RATE_KEY = "gateway:platform:{}:rate"  # platform -> GCRA theoretical arrival time (µs, Redis clock)
_CONCURRENCY_KEY = "gateway:platform:{}:concurrency"  # platform -> sorted set of leases by expiry
_WAKE_SUFFIX = ":wake"  # <concurrency key>:wake -> list with one item per recent release (wakes one waiter)

# KEYS[1]: the theoretical arrival time (µs, Redis clock). ARGV: interval µs, burst tolerance µs, max wait µs.
# Returns {granted (1|0), wait µs}. Granting reserves the slot: the caller sleeps `wait` and then goes.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tonumber(ARGV[2]) - now
if wait < 0 then wait = 0 end
if wait > tonumber(ARGV[3]) then return {0, wait} end
local new_tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, wait}
"""

# KEYS[1]: as above. ARGV[1]: µs from now before which nobody may start.
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ = now + tonumber(ARGV[1])
if until_ > tat then
  redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 1
"""

# KEYS[1]: sorted set lease id → expiry (ms, Redis clock). ARGV: limit, lease id, lease ms.
# Returns 0 when the lease is held, else the ms until the earliest lease expires (a hint for the next try).
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lease = tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], lease + 1000)
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - now)
"""


# KEYS[1]: the concurrency key, KEYS[2]: the rate key. Returns {leases not yet expired, µs the rate schedule is booked
# ahead of now (as text: it may exceed Lua's integer reply)}. Reads only.
_USAGE = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local held = redis.call('ZCOUNT', KEYS[1], '(' .. now_ms, '+inf')
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
return {held, string.format('%.0f', math.max(0, tat - now_us))}
"""


class Throttled(Exception):
    """Waiting for a slot would take longer than allowed; nothing was reserved. `wait` is the estimate (s)."""

    def __init__(self, what: str, wait: float) -> None:
        super().__init__(f"{what}: the next slot is {wait:.1f} s away")
        self.wait = wait


class RateLimiter:
    """At most `per_second` requests per second for everyone using `key` (plus `burst - 1` at once after a lull)."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        per_second: float,
        burst: int = 1,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.key = key
        self.per_second = per_second
        self._interval_us = round(1_000_000 / per_second)
        self._tolerance_us = (burst - 1) * self._interval_us
        self._max_wait_us = round(max_wait * 1_000_000)
        self._acquire = redis.register_script(_ACQUIRE)
        self._penalize = redis.register_script(_PENALIZE)
        self._sleep = sleep

    def acquire(self, slots: int = 1) -> float:
        """Take the next `slots` consecutive slots in one reservation, sleeping until the first comes; returns the
        seconds slept. The others follow `interval` apart: nobody else is granted one in between. Raises
        `Throttled` (without reserving) when the first slot is more than `max_wait` away."""
        if slots < 1:
            raise ValueError("slots must be at least 1")
        args = [self._interval_us * slots, self._tolerance_us, self._max_wait_us]
        granted, wait_us = self._acquire(keys=[self.key], args=args)
        wait = int(wait_us) / 1_000_000
        if not int(granted):
            raise Throttled(f"rate limit {self.per_second:g}/s on {self.key}", wait)
        if wait > 0:
            self._sleep(wait)
        return wait

    @property
    def interval(self) -> float:
        """Seconds between two slots of the schedule."""
        return self._interval_us / 1_000_000

    def sleep(self, seconds: float) -> None:
        """Sleep the way `acquire` does (a test's clock can stand in)."""
        if seconds > 0:
            self._sleep(seconds)

    def penalize(self, seconds: float) -> None:
        """Nobody using this key starts a request for `seconds` from now (the platform said slow down)."""
        if seconds > 0:
            self._penalize(keys=[self.key], args=[round(seconds * 1_000_000)])


# How long a lease taken from Redis serves this process's requests before it goes back: many requests to a platform
# answering at once, about one to a slow one (so a process never keeps a slot from other processes' waiters much
# longer than its own request). Measured (scripts/bench/throughput, 250 ms platform, 4 workers): 0.2 s and 1 s gave
# the same burst rate within the noise (212-235 against 214-221 records/s).
REUSE_SECONDS = 0.2
LINGER_SECONDS = 0.05  # how long an idle lease waits for another request of this process before it goes back


class ConcurrencyLimiter:
    """At most `limit` requests in flight for everyone using `key`; a lease not released expires after
    `lease_seconds` (set it above the longest request plus `reuse_seconds`, e.g. its read timeout + 5 s)."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        limit: int,
        lease_seconds: float = 60.0,
        max_wait: float = 60.0,
        poll_seconds: float = 1.0,
        reuse_seconds: float = REUSE_SECONDS,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.key = key
        self.limit = limit
        self._redis = redis
        self._lease_ms = round(lease_seconds * 1000)
        self._max_wait = max_wait
        self._poll = poll_seconds
        self._reuse = min(reuse_seconds, lease_seconds / 2)  # a short lease (tests) is reused for half its life
        self._linger = linger_seconds
        self._take = redis.register_script(_TAKE_SLOT)
        self._wake = key + _WAKE_SUFFIX
        self._local()

    def _local(self) -> None:
        """This process's own state: the leases it holds idle and the thread that gives them back. A forked child
        starts empty (its parent's leases are the parent's)."""
        self._pid = os.getpid()
        self._lock = threading.Condition()
        self._idle: list[tuple[str, float, float]] = []  # (lease, taken at, idle since), on the monotonic clock
        self._waiting = 0  # threads of this process waiting for a slot to free up (every slot taken)
        self._reaper: threading.Thread | None = None
        self._reaper_sleeps_until = 0.0  # when the reaper, asleep, looks again (0: it is awake, and will look)
        self._earliest_expiry = 0.0  # when the earliest lease the last try here found falls due (monotonic clock)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the `limit` slots for the body of the `with`; raises `Throttled` after `max_wait`.

        A lease this process holds idle is taken first (no round trip). Otherwise, while every slot is taken the
        caller blocks on the wake-up list, which each release pushes one item to (Redis serves blocked callers in
        arrival order, so the longest waiter is woken first); it also looks again when the earliest lease expires,
        and at least every `poll_seconds` (a dead holder's lease expires unannounced). A caller that comes while
        threads of this process already wait joins their wait before its first look."""
        if self._pid != os.getpid():
            self._local()
        held = self._reuse_idle() or self._take_new()
        try:
            yield
        finally:
            self._put_back(*held)

    def close(self) -> None:
        """Give every idle lease back to Redis now (the process is done with the platform). A forked process holds
        none of its parent's: it gives nothing back (the parent keeps using them)."""
        if self._pid != os.getpid():
            self._local()
            return
        with self._lock:
            leases = [lease for lease, _, _ in self._idle]
            self._idle.clear()
        self._release(leases)

    def _reuse_idle(self) -> tuple[str, float] | None:
        now = time.monotonic()
        with self._lock:
            if not self._idle:
                return None
            lease, taken, _ = self._idle.pop()
            if now - taken < self._reuse:
                return lease, taken
            self._to_reaper((lease, taken, now))  # too old to start a request on: the reaper gives it back
            return None

    def _take_new(self) -> tuple[str, float]:
        lease = secrets.token_hex(8)
        deadline = time.monotonic() + self._max_wait
        # While threads of this process already wait, every slot was taken at their last try: a new caller joins
        # their wait on the wake-up list before asking Redis (a round trip that would find none). It asks when woken,
        # when the earliest lease their tries saw falls due (a dead holder's lease frees its slot unannounced), or
        # after `poll_seconds`, whichever comes first.
        if self._waiting > 0 and self._max_wait > 0:
            self._wait_turn(min(self._max_wait, self._poll, self._earliest_expiry - time.monotonic()))
        while True:
            taken = time.monotonic()  # before Redis starts the lease: the lease outlives `taken + lease_seconds`
            hint_ms = int(self._take(keys=[self.key], args=[self.limit, lease, self._lease_ms]))
            if hint_ms == 0:
                return lease, taken
            self._earliest_expiry = time.monotonic() + hint_ms / 1000
            left = deadline - time.monotonic()
            if left <= 0:
                raise Throttled(f"{self.limit} concurrent requests on {self.key}", hint_ms / 1000)
            self._wait_turn(min(left, hint_ms / 1000, self._poll))

    def _wait_turn(self, seconds: float) -> None:
        with self._lock:
            self._waiting += 1  # every slot is taken: a lease this process puts back goes to Redis at once
        try:
            self._wait(seconds)
        finally:
            with self._lock:
                self._waiting -= 1

    def _put_back(self, lease: str, taken: float) -> None:
        now = time.monotonic()
        with self._lock:
            keep = self._waiting == 0 and now - taken < self._reuse and self._pid == os.getpid()
            if keep:
                self._to_reaper((lease, taken, now))
        if not keep:
            self._release([lease])

    def _to_reaper(self, item: tuple[str, float, float]) -> None:
        """Hold `item` idle until the reaper gives it back (with the lock held). The reaper is woken only when it
        would otherwise sleep past the item's due time (`_due`: a lease held long can be due before those idle
        already); most leases put back are due later, and waking the reaper for each would cost a thread switch a
        request, for nothing."""
        self._idle.append(item)
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(target=self._reap, name=f"lease-reaper {self.key}", daemon=True)
            self._reaper.start()
        elif self._due(item) < self._reaper_sleeps_until:
            self._lock.notify()

    def _reap(self) -> None:
        """Give back idle leases as they reach their linger or reuse limit (runs while any are idle)."""
        while True:
            with self._lock:
                if not self._idle:
                    self._reaper = None
                    return
                now = time.monotonic()
                due = [item for item in self._idle if self._due(item) <= now]
                for item in due:
                    self._idle.remove(item)
                if not due:
                    self._reaper_sleeps_until = min(self._due(item) for item in self._idle)
                    self._lock.wait(self._reaper_sleeps_until - now)
                    self._reaper_sleeps_until = 0.0
            if due:
                try:
                    self._release([lease for lease, _, _ in due])
                except Exception:  # Redis away, or the process exiting: the leases expire instead
                    log.debug("idle leases on %s left to expire", self.key, exc_info=True)

    def _due(self, item: tuple[str, float, float]) -> float:
        _, taken, idle_since = item
        return min(idle_since + self._linger, taken + self._reuse)

    def _wait(self, seconds: float) -> None:
        # BLPOP takes a timeout in seconds with millisecond precision (Redis >= 6; 0 would block for ever)
        if seconds >= 0.001:
            self._redis.blpop([self._wake], timeout=round(seconds, 3))

    def _release(self, leases: list[str]) -> None:
        if not leases:
            return
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrem(self.key, *leases)
        pipe.lpush(self._wake, *([1] * len(leases)))
        pipe.ltrim(self._wake, 0, self.limit - 1)  # wake-ups nobody took are bounded by the slots they stand for
        pipe.pexpire(self._wake, self._lease_ms + 1000)
        pipe.execute()


_waited = threading.local()  # .seconds: how long this thread has waited for slots, in all (`waited_seconds`)


def waited_seconds() -> float:
    """How long the calling thread has waited so far, in all, for the slots of `PlatformLimits.request` (a running
    total: callers take differences), so that a platform's own answer time can be told from the wait for the cap."""
    return float(getattr(_waited, "seconds", 0.0))


@dataclass(frozen=True)
class PlatformLimits:
    """One platform's shared limits: `rate` when the platform limits requests per second, `concurrency` when it
    caps requests in flight (either may be None: that limit is not kept)."""

    rate: RateLimiter | None
    concurrency: ConcurrencyLimiter | None = None

    @contextmanager
    def request(self, slots: int = 1) -> Iterator[Callable[[], None]]:
        """Around one request, or `slots` requests sent one after another: a concurrency slot (if capped) held for
        all of them, then that many consecutive rate slots (if paced) reserved at once; the body starts at the
        first. Before each further request the body calls the value, `next_slot()`, which sleeps until that
        request's slot: never more than one interval after the previous slot, however many requests other processes
        book meanwhile — so a request that reads what the next one decides is at most that old when the next one
        leaves. A slot not used is not given back. Raises `Throttled` (nothing held) when the concurrency slot or
        the first rate slot is further away than its `max_wait`. The concurrency lease must outlive all `slots`
        requests (`limits_for(requests_per_hold=…)`)."""
        started = time.perf_counter()
        with self.concurrency.slot() if self.concurrency is not None else nullcontext():
            if self.rate is not None:
                self.rate.acquire(slots)
            first = time.perf_counter()
            _waited.seconds = waited_seconds() + first - started
            yield self._next_slot(first, slots)

    def _next_slot(self, first: float, slots: int) -> Callable[[], None]:
        """`next_slot()` for a hold whose first rate slot came at `first` (on `time.perf_counter`)."""
        rate = self.rate
        used = 1

        def next_slot() -> None:
            nonlocal used
            if used >= slots:
                raise RuntimeError(f"this hold reserved {slots} request slot(s), all of them used")
            due = first + used * (rate.interval if rate is not None else 0.0)
            used += 1
            wait = due - time.perf_counter()
            if rate is not None and wait > 0:
                rate.sleep(wait)
                _waited.seconds = waited_seconds() + wait

        return next_slot

    def close(self) -> None:
        """Give back the concurrency leases this process holds idle (call it when done with the platform)."""
        if self.concurrency is not None:
            self.concurrency.close()

    def penalize(self, seconds: float) -> None:
        """Nobody starts a request to this platform for `seconds` (it answered 429); a platform without a rate
        limit has no shared schedule to push back, and the caller waits on its own."""
        if self.rate is not None:
            self.rate.penalize(seconds)


@dataclass(frozen=True)
class Usage:
    """What the deployment holds of one platform's limits now, on Redis' clock (`usage`)."""

    slots_in_use: int  # leases not yet expired: requests in flight, and leases a process keeps for its next request
    rate_booked_seconds: float  # how far ahead the request schedule is booked: a request asking now waits about that


def usage(redis: Redis, platform: str) -> Usage:
    """How much of `platform`'s shared limits every process holds now (one round trip, reads only): the concurrency
    slots in use, to read beside `<NAME>_MAX_CONCURRENT` (at it, the cap bounds the syncs and more workers would only
    wait), and how far ahead the paced schedule is booked (above zero, requests queue for the rate). A platform
    without one of the limits reads 0 for it."""
    held, booked_us = redis.eval(_USAGE, 2, _CONCURRENCY_KEY.format(platform), _RATE_KEY.format(platform))
    return Usage(slots_in_use=int(held), rate_booked_seconds=int(booked_us) / 1_000_000)


def effective_rate(requests_per_second: float) -> float:
    """The pace `platform_limits` keeps for a platform limited to `requests_per_second`."""
    return requests_per_second * (1 - HEADROOM)


def platform_limits(
    redis: Redis,
    platform: str,
    *,
    requests_per_second: float | None,
    max_concurrent: int | None = None,
    lease_seconds: float = 60.0,
    max_wait: float = 60.0,
) -> PlatformLimits:
    """The limits every process using `redis` shares for `platform` (its registry name): requests spaced for
    `effective_rate(requests_per_second)` (never more than `requests_per_second`; None: not paced), and at most
    `max_concurrent` in flight (None: no cap). `lease_seconds` must exceed the longest request (connect + read
    timeouts) plus `REUSE_SECONDS`."""
    rate = None
    if requests_per_second is not None:
        rate = RateLimiter(
            redis, _RATE_KEY.format(platform), per_second=effective_rate(requests_per_second), max_wait=max_wait
        )
    concurrency = None
    if max_concurrent is not None:
        concurrency = ConcurrencyLimiter(
            redis,
            _CONCURRENCY_KEY.format(platform),
            limit=max_concurrent,
            lease_seconds=lease_seconds,
            max_wait=max_wait,
        )
    return PlatformLimits(rate, concurrency)


class LimitedSettings(Protocol):
    """What `limits_for` reads from a platform's settings fragment."""

    @property
    def requests_per_second(self) -> float | None: ...

    @property
    def max_concurrent(self) -> int | None: ...

    @property
    def connect_timeout_seconds(self) -> float: ...

    @property
    def read_timeout_seconds(self) -> float: ...


def limits_for(redis: Redis, platform: str, settings: LimitedSettings, *, requests_per_hold: int = 1) -> PlatformLimits:
    """`platform_limits` from a platform's settings (`<NAME>_REQUESTS_PER_SECOND`, `<NAME>_MAX_CONCURRENT`), with
    leases that outlive the longest `requests_per_hold` requests (connect + read timeouts each) one hold of
    `PlatformLimits.request(slots=…)` sends, by 5 s."""
    longest = settings.connect_timeout_seconds + settings.read_timeout_seconds
    return platform_limits(
        redis,
        platform,
        requests_per_second=settings.requests_per_second,
        max_concurrent=settings.max_concurrent,
        lease_seconds=requests_per_hold * longest + 5,
    )


def backoff_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float = 0.5,
    cap: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (1 = the first retry): the platform's `Retry-After` when it
    gave one (capped at `cap`), else full-jitter exponential backoff `uniform(0, min(cap, base * 2**(attempt-1)))`
    — jitter keeps many workers from retrying in lockstep."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    return float(rng() * min(cap, base * 2 ** (attempt - 1)))


__all__ = [
    "ConcurrencyLimiter",
    "PlatformLimits",
    "RateLimiter",
    "Throttled",
    "Usage",
    "backoff_delay",
    "effective_rate",
    "limits_for",
    "platform_limits",
    "usage",
    "waited_seconds",
]
