"""The shared limiters against a real Redis: spacing, penalties, refusals that reserve nothing, expiring leases."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from gateway.ratelimit import (
    ConcurrencyLimiter,
    PlatformLimits,
    RateLimiter,
    Throttled,
    Usage,
    platform_limits,
    usage,
)
from tests.support import wait_for


@pytest.fixture
def conn(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_grants_from_many_threads_are_spaced_by_the_rate(conn: redis.Redis) -> None:
    limiter = RateLimiter(conn, "t:rate", per_second=20)
    stamps: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    stamps.sort()
    assert len(stamps) == 20
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # 20 grants at 20/s take at least 19 intervals; thread wake-up jitter may shrink a single gap, not the sum.
    assert stamps[-1] - stamps[0] >= 19 / 20 - 0.03
    assert sum(gaps) / len(gaps) >= 0.05 * 0.97


def test_a_slot_too_far_away_is_refused_without_being_reserved(conn: redis.Redis) -> None:
    slept: list[float] = []
    limiter = RateLimiter(conn, "t:rate", per_second=1, max_wait=0.5, sleep=slept.append)
    assert limiter.acquire() == 0.0
    with pytest.raises(Throttled) as caught:
        limiter.acquire()  # the next slot is ~1 s away, more than max_wait
    assert 0.5 < caught.value.wait <= 1.0
    before = int(conn.get("t:rate") or 0)
    with pytest.raises(Throttled):
        limiter.acquire()
    assert int(conn.get("t:rate") or 0) == before  # refusals moved nothing
    assert slept == []


def test_a_penalty_holds_back_every_user_of_the_key(conn: redis.Redis) -> None:
    slept: list[float] = []
    one = RateLimiter(conn, "t:rate", per_second=100, sleep=slept.append)
    other = RateLimiter(conn, "t:rate", per_second=100, sleep=slept.append)
    one.penalize(2.0)
    waited = other.acquire()
    assert 1.9 <= waited <= 2.0
    assert slept == [waited]


def test_an_idle_key_expires_so_a_dead_process_leaves_nothing(conn: redis.Redis) -> None:
    RateLimiter(conn, "t:rate", per_second=50).acquire()
    ttl = conn.pttl("t:rate")
    assert 0 < ttl <= 1100


def test_no_more_than_the_limit_are_in_flight_across_threads(conn: redis.Redis) -> None:
    limiter = ConcurrencyLimiter(conn, "t:conc", limit=2, lease_seconds=10, poll_seconds=0.01)
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal in_flight, peak
        for _ in range(3):
            with limiter.slot():
                with lock:
                    in_flight += 1
                    peak = max(peak, in_flight)
                time.sleep(0.02)
                with lock:
                    in_flight -= 1

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak == 2
    deadline = time.monotonic() + 5
    while conn.zcard("t:conc") and time.monotonic() < deadline:  # idle leases go back after their linger
        time.sleep(0.01)
    assert conn.zcard("t:conc") == 0  # every lease released


def test_requests_one_after_another_reuse_one_lease_without_taking_more(conn: redis.Redis) -> None:
    limiter = ConcurrencyLimiter(conn, "t:conc", limit=3, lease_seconds=10, linger_seconds=5)
    leases = set()
    for _ in range(5):
        with limiter.slot():
            leases.update(conn.zrange("t:conc", 0, -1))
            assert conn.zcard("t:conc") == 1
    assert len(leases) == 1
    limiter.close()  # the process is done with the platform: its idle lease goes back at once
    assert conn.zcard("t:conc") == 0


def test_an_idle_lease_goes_back_at_its_reuse_limit_though_the_reaper_slept_for_a_later_one(
    conn: redis.Redis,
) -> None:
    # a lease is given back at the earlier of its linger (idle since) and its reuse limit (taken at). `old` is taken
    # first and held; `new` is taken meanwhile and put back at once, so the reaper sleeps until new's reuse limit.
    # `old`, put back after, is due sooner (its own reuse limit): the reaper must wake for it, not sleep on.
    limiter = ConcurrencyLimiter(conn, "t:conc", limit=2, lease_seconds=10, reuse_seconds=3.0, linger_seconds=3.5)
    try:
        held = limiter.slot()
        old_taken = time.monotonic()  # the limiter reads its clock after this: its reuse limit is no earlier
        held.__enter__()
        (old,) = conn.zrange("t:conc", 0, -1)
        time.sleep(1.0)
        with limiter.slot():
            (new,) = set(conn.zrange("t:conc", 0, -1)) - {old}
        new_due = time.monotonic() + 3.0  # its reuse limit, before its linger ends
        time.sleep(0.2)
        held.__exit__(None, None, None)  # `old` idles now, due at old_taken + 3.0: about a second before `new`
        while conn.zscore("t:conc", old) is not None and time.monotonic() < new_due + 2:
            time.sleep(0.01)
        given_back = time.monotonic()
        assert given_back < new_due - 0.1  # not left until the reaper woke for `new`
        assert given_back >= old_taken + 3.0  # nor given back before its reuse limit
        assert conn.zscore("t:conc", new) is not None  # `new` still lingers, held for the next request
    finally:
        limiter.close()


def test_a_lease_idle_in_one_process_goes_to_another_that_waits(conn: redis.Redis) -> None:
    first = ConcurrencyLimiter(conn, "t:conc", limit=1, lease_seconds=10, linger_seconds=0.05)
    with first.slot():
        pass  # its lease now idles in `first`, held for its own next request
    assert conn.zcard("t:conc") == 1
    other = ConcurrencyLimiter(conn, "t:conc", limit=1, lease_seconds=10, max_wait=3, poll_seconds=5)
    started = time.monotonic()
    with other.slot():
        waited = time.monotonic() - started
        with pytest.raises(Throttled), ConcurrencyLimiter(conn, "t:conc", limit=1, max_wait=0.1).slot():
            pass  # still one in flight at most
    assert waited < 2  # woken by the idle lease's return, not by its expiry (10 s) nor a poll (5 s)


def test_a_lease_its_holder_never_released_expires(conn: redis.Redis) -> None:
    dead = ConcurrencyLimiter(conn, "t:conc", limit=1, lease_seconds=0.3)
    holder = dead.slot()
    holder.__enter__()  # a process that took the slot and died: it never exits the `with`
    alive = ConcurrencyLimiter(conn, "t:conc", limit=1, lease_seconds=5, max_wait=2, poll_seconds=0.02)
    started = time.monotonic()
    with alive.slot():
        waited = time.monotonic() - started
    assert 0.15 <= waited < 1.5


def test_waiting_longer_than_allowed_for_a_slot_raises(conn: redis.Redis) -> None:
    held = ConcurrencyLimiter(conn, "t:conc", limit=1, lease_seconds=30).slot()
    held.__enter__()  # kept referenced: a collected generator would release its lease
    with pytest.raises(Throttled), ConcurrencyLimiter(conn, "t:conc", limit=1, max_wait=0.1).slot():
        pass


def test_a_hold_of_two_slots_sends_its_second_request_one_interval_after_its_first_whoever_waits(
    conn: redis.Redis,
) -> None:
    """A check and the write it decides (`request(slots=2)`): nobody else is granted a slot between them, the second
    waits at most one interval, and the schedule counts both."""
    limits = platform_limits(conn, "t-pair", requests_per_second=10 / 0.9, max_concurrent=2)  # paced at 10/s
    other = platform_limits(conn, "t-pair", requests_per_second=10 / 0.9, max_concurrent=2)
    stamps: list[tuple[str, float]] = []
    with limits.request(slots=2) as next_slot:
        stamps.append(("check", time.monotonic()))
        waiting = threading.Thread(target=lambda: _one(other, stamps))
        waiting.start()
        next_slot()
        stamps.append(("write", time.monotonic()))
        with pytest.raises(RuntimeError):
            next_slot()  # only two were reserved
    waiting.join(10)
    stamps.sort(key=lambda stamp: stamp[1])
    assert [name for name, _ in stamps] == ["check", "write", "other"]
    check, write, later = (at for _, at in stamps)
    assert 0.1 * 0.9 <= write - check < 0.2 * 0.95  # its own slot, not the one after the other process's
    assert later - check >= 0.2 * 0.95  # the other process's request takes the third slot


def _one(limits: PlatformLimits, stamps: list[tuple[str, float]]) -> None:
    with limits.request():
        stamps.append(("other", time.monotonic()))


def test_each_platform_has_its_own_budget_and_every_user_of_one_shares_it(conn: redis.Redis) -> None:
    first = platform_limits(conn, "t-one", requests_per_second=1, max_concurrent=1, max_wait=0.1)
    same = platform_limits(conn, "t-one", requests_per_second=1, max_concurrent=1, max_wait=0.1)
    other = platform_limits(conn, "t-two", requests_per_second=1, max_wait=0.1)
    with first.request():
        pass
    with pytest.raises(Throttled), same.request():  # another process of the same platform: the slot is taken
        pass
    with other.request():  # another platform: its own budget
        pass
    assert other.concurrency is None


def test_usage_counts_the_slots_held_and_the_schedule_booked_ahead(conn: redis.Redis) -> None:
    """What `/metrics` shows an operator: the slots every process holds now (a lease past its expiry, its holder dead,
    no longer counts) and how far ahead the paced schedule is booked."""
    limits = platform_limits(conn, "t-usage", requests_per_second=2, max_concurrent=3, lease_seconds=0.3)
    assert usage(conn, "t-usage") == Usage(slots_in_use=0, rate_booked_seconds=0.0)
    assert limits.concurrency is not None and limits.rate is not None
    held = [limits.concurrency.slot(), limits.concurrency.slot()]
    for slot in held:
        slot.__enter__()  # two requests in flight (kept referenced: a collected generator would give its lease back)
    assert usage(conn, "t-usage").slots_in_use == 2
    time.sleep(0.4)  # their holders never come back: the leases expire
    assert usage(conn, "t-usage").slots_in_use == 0
    booked = RateLimiter(conn, "gateway:platform:t-usage:rate", per_second=2, sleep=lambda seconds: None)
    for _ in range(3):
        booked.acquire()  # three requests granted at once at 2/s: the schedule is booked 1.5 s ahead
    assert 1.0 < usage(conn, "t-usage").rate_booked_seconds <= 1.5
    assert usage(conn, "t-unused") == Usage(slots_in_use=0, rate_booked_seconds=0.0)


def _blocked(conn: redis.Redis) -> int:
    """How many clients of this test's database block now in BLPOP (CLIENT LIST names no key: the test's limiter's
    wake-up list is the only one waited on here)."""
    db = conn.connection_pool.connection_kwargs.get("db", 0)
    return sum(1 for c in conn.client_list() if c.get("cmd") == "blpop" and int(c.get("db", -1)) == db)


def test_a_caller_coming_while_others_of_its_process_wait_queues_behind_them_without_asking_redis(
    conn: redis.Redis,
) -> None:
    """Every slot is taken and a thread of this process already waits: a new caller joins the wait without a try of
    its own (it would find no slot), then gets a slot in turn, woken as soon as it is freed (not at its poll)."""
    limiter = ConcurrencyLimiter(conn, "t:conc", limit=1, lease_seconds=10, max_wait=10, poll_seconds=5)
    tries: list[str] = []
    take = limiter._take
    limiter._take = lambda keys, args: (tries.append(threading.current_thread().name), take(keys=keys, args=args))[1]
    served: list[str] = []

    def request() -> None:
        with limiter.slot():
            served.append(threading.current_thread().name)

    held = limiter.slot()
    held.__enter__()  # every slot taken
    first = threading.Thread(target=request, name="first")
    first.start()
    wait_for(lambda: _blocked(conn) == 1, what="the first caller to wait")
    second = threading.Thread(target=request, name="second")
    second.start()
    wait_for(lambda: _blocked(conn) == 2, what="the second caller to wait")
    assert tries == ["MainThread", "first"]  # the second asked Redis for nothing: it queued behind the first
    freed = time.monotonic()
    held.__exit__(None, None, None)
    first.join(10)
    second.join(10)
    assert served == ["first", "second"]
    assert time.monotonic() - freed < 2  # each woken by the release before it, well before its 5 s poll
    assert tries == ["MainThread", "first", "first", "second"]  # each woken waiter takes the slot freed for it


def test_a_caller_that_queued_behind_others_looks_again_when_a_dead_holders_lease_falls_due(
    conn: redis.Redis,
) -> None:
    """Slots freed by expiry are announced to nobody: the caller that joined the wait without a try of its own still
    looks when the earliest lease the others found falls due, not only at its poll."""
    dead = ConcurrencyLimiter(conn, "t:conc", limit=2, lease_seconds=0.6)
    holders = [dead.slot(), dead.slot()]
    for holder in holders:
        holder.__enter__()  # a process that took both slots and died: it never exits the `with`
    alive = ConcurrencyLimiter(conn, "t:conc", limit=2, lease_seconds=10, max_wait=8, poll_seconds=5)
    started = time.monotonic()
    served: dict[str, float] = {}

    def request() -> None:
        with alive.slot():
            served[threading.current_thread().name] = time.monotonic() - started
            time.sleep(1.5)  # holds its slot: the other one is woken by no release

    first = threading.Thread(target=request, name="first")
    first.start()
    wait_for(lambda: _blocked(conn) == 1, what="the first caller to wait")
    second = threading.Thread(target=request, name="second")
    second.start()
    first.join(10)
    second.join(10)
    assert set(served) == {"first", "second"}
    assert max(served.values()) < 1.5  # both at the leases' expiry (0.6 s), not at a 5 s poll
