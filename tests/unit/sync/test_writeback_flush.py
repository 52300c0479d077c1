"""The write-back flush: every entry pending when a flush is called is written (by it or by the flusher holding the
lock), and entries of syncs still running are left to their own flush instead of written a few at a time (real
Redis, in-process Salesforce)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from gateway.sync import writeback
from tests.unit.sync.fakes import FakeSalesforce


def _queue(connection: redis.Redis, count: int) -> None:
    pipe = connection.pipeline()
    writeback.queue_entries(
        pipe, [writeback.WriteBack(result={"direction": "To Platform", "status": "Success"}) for _ in range(count)]
    )
    pipe.execute()


class _BusySalesforce(FakeSalesforce):
    """Salesforce whose first write happens while another sync does `meanwhile` (queues entries, flushes…)."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        super().__init__()
        self.meanwhile: Callable[[], None] | None = meanwhile
        self.calls = 0

    def upsert(self, sobject: str, field: str, records: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return super().upsert(sobject, field, records, **kwargs)


def _logged(salesforce: FakeSalesforce) -> int:
    return len(salesforce.rows("SELECT Id FROM Sync_Result__c"))


def test_a_flush_that_finds_the_lock_taken_gets_its_entries_written_by_the_holder(connection: redis.Redis) -> None:
    salesforce: _BusySalesforce

    def another_sync_ends() -> None:
        _queue(connection, 5)
        assert writeback.flush(connection, salesforce) == 0  # type: ignore[arg-type]  # the lock is held

    salesforce = _BusySalesforce(another_sync_ends)
    _queue(connection, 3)

    written = writeback.flush(connection, salesforce)  # type: ignore[arg-type]

    assert written == 8
    assert writeback.pending_count(connection) == 0, "the other sync's log rows wait for a flush nobody will make"
    assert _logged(salesforce) == 8


def test_entries_of_syncs_still_running_are_left_to_their_own_flush(connection: redis.Redis) -> None:
    salesforce = _BusySalesforce(lambda: _queue(connection, 5))  # a sync still running queues its entries
    _queue(connection, 3)

    assert writeback.flush(connection, salesforce) == 3  # type: ignore[arg-type]
    assert writeback.pending_count(connection) == 5
    assert salesforce.calls == 1

    assert writeback.flush(connection, salesforce) == 5  # type: ignore[arg-type]  # that sync's end
    assert writeback.pending_count(connection) == 0
    assert _logged(salesforce) == 8


def test_everything_pending_at_the_start_is_written_whatever_the_batches(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeback, "BATCH", 3)
    _queue(connection, 5)  # a full batch, then a short one: both were pending when the flush began
    salesforce = FakeSalesforce()

    assert writeback.flush(connection, salesforce) == 5  # type: ignore[arg-type]
    assert writeback.pending_count(connection) == 0
