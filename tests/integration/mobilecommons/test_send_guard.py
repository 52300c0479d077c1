"""A platform write is checked right before it leaves (`gateway.sendguard`), not before the waits in front of it: a
sync taken over while it waited for one of the deployment's shared slots, or between two attempts, sends nothing.

Real Redis (the shared limiter), the Mobile Commons emulator over HTTP, the adapter as a worker builds it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import redis

from gateway import sendguard
from gateway.domain.contact import Contact
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.emulators.mobilecommons import MobileCommonsEmulator
from gateway.platforms.mobilecommons import MobileCommonsAdapter
from gateway.ratelimit import PlatformLimits, limits_for
from tests.integration.mobilecommons.conftest import Control, settings_for
from tests.support import wait_for


class TakeOver:
    """The sync's check: refuses once another sync has taken the record (or the job) over."""

    def __init__(self) -> None:
        self.taken = threading.Event()

    def __call__(self) -> None:
        if self.taken.is_set():
            raise SyncFailure(SyncError(SyncErrorCode.RATE_LIMITED, "another sync took the record over"))


@pytest.fixture
def limited(emulator: MobileCommonsEmulator, redis_url: str) -> Iterator[tuple[MobileCommonsAdapter, PlatformLimits]]:
    """An adapter allowed one request in flight, its limits shared in Redis as every worker's are."""
    settings = settings_for(emulator, max_concurrent=1, backoff_seconds=1.0)
    limits = limits_for(redis.Redis.from_url(redis_url), f"mobilecommons-{uuid.uuid4().hex[:8]}", settings)
    adapter = MobileCommonsAdapter(settings, limits=limits)
    yield adapter, limits
    adapter.close()


def _write_in_thread(adapter: MobileCommonsAdapter, check: TakeOver, outcome: list[str]) -> threading.Thread:
    def write() -> None:
        with sendguard.guarded(check):
            try:
                adapter.upsert_contact(Contact(phone="+14155552690", first_name="Older"), subscribe=False)
                outcome.append("sent")
            except SyncFailure as failure:
                outcome.append(failure.error.code.value)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_write_taken_over_while_it_waited_for_a_shared_slot_is_never_sent(
    limited: tuple[MobileCommonsAdapter, PlatformLimits], control: Control
) -> None:
    adapter, limits = limited
    assert limits.concurrency is not None
    check, outcome = TakeOver(), []
    with limits.concurrency.slot():  # the deployment's only slot, busy with another job's request
        thread = _write_in_thread(adapter, check, outcome)
        thread.join(0.5)  # the write is now waiting for the slot
        check.taken.set()  # meanwhile its record was taken over
    thread.join(30)
    assert outcome == [SyncErrorCode.RATE_LIMITED.value]
    assert control.calls("profile_update") == 0, "a write whose sync lost its claim was sent"


def test_a_write_taken_over_between_two_attempts_sends_no_second_attempt(
    limited: tuple[MobileCommonsAdapter, PlatformLimits], control: Control
) -> None:
    adapter, _ = limited
    control.post("faults", {"status": 503, "count": 1})  # the first attempt fails; the adapter backs off 1 s
    check, outcome = TakeOver(), []
    thread = _write_in_thread(adapter, check, outcome)
    wait_for(lambda: control.calls("profile_update") == 1, timeout=10, what="the first attempt")
    check.taken.set()
    thread.join(30)
    assert outcome == [SyncErrorCode.RATE_LIMITED.value]
    assert control.calls("profile_update") == 1, "the retry of a write whose sync lost its claim was sent"
