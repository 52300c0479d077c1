"""Fences: a sync, a write-back flusher or an inbound drainer whose claim passed to another process (it was stopped
and woke up late) writes and stores nothing more — checked deterministically by taking the claim over at the worst
moment (recording platform, real Redis, in-process Salesforce)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from gateway.domain.contact import Contact
from gateway.platforms.base import InboundEvent, InboundKind
from gateway.platforms.recording import RecordingAdapter
from gateway.sync import fencing, from_platform, state, to_platform, writeback
from gateway.sync.context import SyncContext
from tests.unit.sync.fakes import FakeSalesforce
from tests.unit.sync.test_to_platform import ORG, _contact, _event

LEASE = "test:lease"


class _FollowUp:
    def drain(self, platform: str) -> None:
        pass

    def sync_contacts(self, contacts: list[dict[str, Any]]) -> None:
        pass


def _leased(context: SyncContext, connection: redis.Redis) -> SyncContext:
    connection.set(LEASE, "mine")
    return replace(context, fence=fencing.Fence(LEASE, "mine"))


def test_a_sync_whose_lease_passed_to_another_execution_writes_and_stores_nothing(
    context: SyncContext, connection: redis.Redis, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)
    leased = _leased(context, connection)
    connection.set(LEASE, "the next execution's")

    with pytest.raises(fencing.Superseded):
        to_platform.sync_events(leased, ORG, [_event(salesforce, record_id)])

    assert recorder.recorded() == []
    assert state.record_state(connection, "Contact", record_id) == state.RecordState()
    assert writeback.pending_count(connection) == 0


def test_a_sync_that_keeps_its_lease_syncs_as_before(
    context: SyncContext, connection: redis.Redis, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> None:
    record_id = _contact(salesforce)

    counts = to_platform.sync_events(_leased(context, connection), ORG, [_event(salesforce, record_id)])

    assert counts["synced"] == 1
    assert len(recorder.recorded()) == 1
    assert state.record_state(connection, "Contact", record_id).version is not None
    assert connection.keys("gateway:claim:*") == []  # the record's claim went with its marks: the next sync may take it


def test_a_sync_superseded_after_its_platform_write_gives_its_record_claim_up_all_the_same(
    context: SyncContext,
    connection: redis.Redis,
    recorder: RecordingAdapter,
    salesforce: FakeSalesforce,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the lease passes to another execution once the platform holds the write: the commit that would have given the
    # record's claim up with its marks is refused, and the claim goes on its own, so the record is not held up for
    # the claim's whole life
    record_id = _contact(salesforce)
    write = to_platform.apply_platform_write

    def write_then_lose_the_lease(*args: Any, **kwargs: Any) -> Any:
        view = write(*args, **kwargs)
        connection.set(LEASE, "the next execution's")
        return view

    monkeypatch.setattr(to_platform, "apply_platform_write", write_then_lose_the_lease)

    with pytest.raises(fencing.Superseded):
        to_platform.sync_events(_leased(context, connection), ORG, [_event(salesforce, record_id)])

    assert len(recorder.recorded()) == 1  # the platform got the write; Redis got nothing of it
    assert state.record_state(connection, "Contact", record_id) == state.RecordState()
    assert connection.keys("gateway:claim:*") == []


def test_a_lease_taken_over_while_the_commit_is_being_prepared_stores_nothing(connection: redis.Redis) -> None:
    fence = fencing.Fence(LEASE, "mine")
    connection.set(LEASE, "mine")

    def write(pipe: Any) -> None:
        pipe.set("test:mark", "late")
        connection.set(LEASE, "the next execution's")  # another process, between WATCH and EXEC

    with pytest.raises(fencing.Superseded):
        fencing.commit(connection, fence, write)
    assert connection.get("test:mark") is None


def test_a_released_claim_that_passed_to_another_process_stays_theirs(connection: redis.Redis) -> None:
    mine = fencing.claim(connection, "test:lock", 60)
    assert mine is not None and fencing.claim(connection, "test:lock", 60) is None
    connection.set("test:lock", "theirs")

    fencing.release(connection, mine)

    assert connection.get("test:lock") == b"theirs"


class _TakenOverDuringWrite(FakeSalesforce):
    """Salesforce, while another process takes `key` over (its holder was stopped past the claim's life)."""

    def __init__(self, connection: redis.Redis, key: str) -> None:
        super().__init__()
        self.connection, self.key, self.armed = connection, key, True

    def _take_over(self) -> None:
        if self.armed:
            self.connection.set(self.key, "another process")

    def create(self, sobject: str, records: Any, **kwargs: Any) -> Any:
        self._take_over()
        return super().create(sobject, records, **kwargs)

    def update(self, sobject: str, records: Any, **kwargs: Any) -> Any:
        self._take_over()
        return super().update(sobject, records, **kwargs)

    def upsert(self, sobject: str, field: str, records: Any, **kwargs: Any) -> Any:
        self._take_over()
        return super().upsert(sobject, field, records, **kwargs)


def test_a_flusher_whose_lock_passed_to_another_removes_nothing_from_the_write_back(connection: redis.Redis) -> None:
    entries = [writeback.WriteBack(result={"direction": "To Platform", "status": "Success"}) for _ in range(2)]
    pipe = connection.pipeline()
    writeback.queue_entries(pipe, entries)
    pipe.execute()
    salesforce = _TakenOverDuringWrite(connection, writeback.LOCK_KEY)

    written = writeback.flush(connection, salesforce)  # type: ignore[arg-type]

    assert written == 0
    assert writeback.pending_count(connection) == 2, "entries the next flusher owns were removed"
    assert connection.get(writeback.LOCK_KEY) == b"another process"

    connection.delete(writeback.LOCK_KEY)  # that other flusher is done with its lock: the batch is written again
    salesforce.armed = False
    assert writeback.flush(connection, salesforce) == 2  # type: ignore[arg-type]
    assert writeback.pending_count(connection) == 0
    assert len(salesforce.rows("SELECT Id FROM Sync_Result__c")) == 2, "a sync was logged twice"


def test_a_drainer_whose_lock_passed_to_another_removes_no_pending_event(
    context: SyncContext, connection: redis.Redis, recorder: RecordingAdapter
) -> None:
    salesforce = _TakenOverDuringWrite(connection, from_platform.DRAIN_LOCK_KEY.format(recorder.name))
    salesforce.seed("Contact", LastName="Hopper", MobilePhone="(415) 555-2671", Mobile_Subscriber__c=True)
    recorder.upsert_contact(Contact(phone="+14155552671", last_name="Hopper"), subscribe=True)
    stop = InboundEvent(InboundKind.OPT_OUT, "+14155552671", "stop-1", datetime.now(UTC))
    from_platform.accept(connection, recorder.name, [stop], 3600, _FollowUp())

    with pytest.raises(fencing.Superseded):
        from_platform.drain(replace(context, _salesforce=salesforce), _FollowUp())

    pending = connection.lrange(from_platform.INBOUND_KEY.format(recorder.name), 0, -1)
    assert [json.loads(raw)["idempotency_key"] for raw in pending] == ["stop-1"], "the next drainer's STOP was lost"


class _CountedConnection(redis.Connection):
    """A Redis connection that counts what it sends: one send is one round trip (a pipeline sends all at once)."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sends += 1
        super().send_packed_command(command, check_health)


def _counted_and_leased(redis_url: str) -> tuple[redis.Redis, fencing.Fence]:
    """A client whose round trips are counted, holding the lease, the fenced script already known to the server."""
    client = redis.Redis(connection_pool=redis.ConnectionPool.from_url(redis_url, connection_class=_CountedConnection))
    client.set(LEASE, "mine")
    fence = fencing.Fence(LEASE, "mine")
    fencing.commit(client, fence, lambda pipe: pipe.set("test:warm", "1"))  # the server learns the script once
    return client, fence


def test_a_fenced_commit_checks_its_claim_and_stores_in_one_round_trip(redis_url: str) -> None:
    client, fence = _counted_and_leased(redis_url)

    before = _CountedConnection.sends
    fencing.commit(client, fence, lambda pipe: (pipe.set("test:mark", "v", ex=60), pipe.rpush("test:list", "a", "b")))

    assert _CountedConnection.sends - before == 1
    assert client.get("test:mark") == b"v" and client.ttl("test:mark") > 0
    assert client.lrange("test:list", 0, -1) == [b"a", b"b"]
    client.close()


def test_a_fenced_commit_gives_a_record_claim_up_with_its_writes_in_the_same_round_trip(redis_url: str) -> None:
    client, fence = _counted_and_leased(redis_url)
    claim = fencing.claim(client, "test:claim", 60)
    assert claim is not None

    before = _CountedConnection.sends
    released = fencing.commit(client, fence, lambda pipe: pipe.set("test:mark", "v"), release=claim)

    assert released and _CountedConnection.sends - before == 1
    assert client.get("test:mark") == b"v" and client.get("test:claim") is None
    client.close()


def test_a_commit_keeps_a_claim_that_passed_to_another_process(connection: redis.Redis) -> None:
    connection.set(LEASE, "mine")
    claim = fencing.claim(connection, "test:claim", 60)
    assert claim is not None
    connection.set("test:claim", "theirs")  # this process froze past the claim's life; another took the record

    assert fencing.commit(
        connection, fencing.Fence(LEASE, "mine"), lambda pipe: pipe.set("test:mark", "v"), release=claim
    )
    assert connection.get("test:claim") == b"theirs" and connection.get("test:mark") == b"v"


def test_a_refused_commit_gives_no_claim_up(connection: redis.Redis) -> None:
    connection.set(LEASE, "the next execution's")
    claim = fencing.claim(connection, "test:claim", 60)
    assert claim is not None

    with pytest.raises(fencing.Superseded):
        fencing.commit(connection, fencing.Fence(LEASE, "mine"), lambda pipe: pipe.set("test:mark", "v"), release=claim)
    assert connection.get("test:claim") == claim.token.encode() and connection.get("test:mark") is None


def _count_once(pipe: Any, record: str, failure: str = "") -> None:
    """What a bulk run stores for a record's outcome: claimed once; counted (and its failure row queued) only then;
    its mark stored every time."""
    with fencing.if_new(pipe, "test:outcomes", record, "created"):
        pipe.hincrby("test:counts", "created", 1)
        if failure:
            pipe.rpush("test:failures", failure)
    pipe.set(f"test:mark:{record}", "v2")


def test_commands_guarded_by_if_new_run_only_when_it_set_the_field_in_the_same_round_trip(
    redis_url: str,
) -> None:
    client, fence = _counted_and_leased(redis_url)
    claim = fencing.claim(client, "test:claim", 60)
    assert claim is not None

    before = _CountedConnection.sends
    released = fencing.commit(
        client, fence, lambda pipe: (_count_once(pipe, "a", "row-a"), _count_once(pipe, "b")), release=claim
    )
    assert released and _CountedConnection.sends - before == 1 and client.get("test:claim") is None
    client.delete("test:mark:a")
    fencing.commit(client, fence, lambda pipe: (_count_once(pipe, "a", "row-a"), _count_once(pipe, "c")))

    assert client.hgetall("test:counts") == {b"created": b"3"}  # a, b, c: a's second outcome was not counted
    assert client.lrange("test:failures", 0, -1) == [b"row-a"]  # nor its failure row queued twice
    assert client.hgetall("test:outcomes") == {b"a": b"created", b"b": b"created", b"c": b"created"}
    assert client.get("test:mark:a") == b"v2"  # what follows the guarded commands runs either way
    client.close()


def test_an_unfenced_commit_keeps_the_guards_too(connection: redis.Redis) -> None:
    for _ in range(2):
        fencing.commit(connection, None, lambda pipe: _count_once(pipe, "a", "row-a"))
    assert connection.hgetall("test:counts") == {b"created": b"1"}
    assert connection.lrange("test:failures", 0, -1) == [b"row-a"]


def test_a_guard_nested_in_a_skipped_one_is_skipped_with_what_it_guards(connection: redis.Redis) -> None:
    connection.hset("test:outcomes", "a", "created")  # the outer guard finds it set

    def nested(pipe: Any) -> None:
        with (
            fencing.if_new(pipe, "test:outcomes", "a", "created"),
            fencing.if_new(pipe, "test:outcomes", "b", "created"),  # skipped: never run, so set nothing
        ):
            pipe.set("test:b1", "1")
            pipe.set("test:b2", "1")
        pipe.set("test:after", "1")

    fencing.commit(connection, None, nested)
    assert connection.hget("test:outcomes", "b") is None
    assert connection.get("test:b1") is None and connection.get("test:b2") is None
    assert connection.get("test:after") == b"1"


def test_a_guard_in_a_commit_no_script_can_run_is_refused_storing_nothing(connection: redis.Redis) -> None:
    members = [str(n) for n in range(10_000)]  # the WATCH way: no script runs the guard there
    connection.set(LEASE, "mine")
    with pytest.raises(ValueError, match="if_new"):
        fencing.commit(
            connection,
            fencing.Fence(LEASE, "mine"),
            lambda pipe: (_count_once(pipe, "a"), pipe.sadd("test:big", *members)),
        )
    assert not connection.exists("test:outcomes") and not connection.exists("test:big")


def test_a_commit_too_long_for_one_script_call_is_fenced_all_the_same(connection: redis.Redis) -> None:
    members = [str(n) for n in range(10_000)]  # beyond what Lua unpacks into one call (about 8,000)
    fence = fencing.Fence(LEASE, "mine")
    connection.set(LEASE, "mine")

    fencing.commit(connection, fence, lambda pipe: (pipe.sadd("test:big", *members), pipe.set("test:small", "1")))

    assert connection.scard("test:big") == 10_000 and connection.get("test:small") == b"1"
    connection.set(LEASE, "the next execution's")
    with pytest.raises(fencing.Superseded):
        fencing.commit(connection, fence, lambda pipe: pipe.sadd("test:late", *members))
    assert not connection.exists("test:late")


def test_a_commit_whose_writes_run_a_script_is_fenced_all_the_same(connection: redis.Redis) -> None:
    """A commit's writes may run a script (a bulk chunk's outcome claim was one, before `if_new`): a script the
    fenced one cannot call."""
    count = connection.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    connection.script_flush()  # the server has not seen it: the commit must load it
    fence = fencing.Fence(LEASE, "mine")
    connection.set(LEASE, "mine")

    fencing.commit(
        connection, fence, lambda pipe: (count(keys=["test:count"], args=[2], client=pipe), pipe.set("test:x", 1))
    )

    assert connection.get("test:count") == b"2" and connection.get("test:x") == b"1"
    connection.set(LEASE, "the next execution's")
    with pytest.raises(fencing.Superseded):
        fencing.commit(connection, fence, lambda pipe: count(keys=["test:count"], args=[5], client=pipe))
    assert connection.get("test:count") == b"2"


def test_a_lease_taken_over_between_the_check_and_exec_of_a_watched_commit_stores_nothing(redis_url: str) -> None:
    """The WATCH way (writes a script cannot run): another process takes the lease after the token was read, right
    before EXEC. WATCH must make EXEC store nothing."""
    other = redis.Redis.from_url(redis_url)

    class _LateTakeover(redis.client.Pipeline):
        def execute(self, raise_on_error: bool = True) -> list[Any]:
            if self.transaction:
                other.set(LEASE, "the next execution's")  # after WATCH and the GET, before EXEC
            return super().execute(raise_on_error)

    class _Client(redis.Redis):
        def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> redis.client.Pipeline:
            return _LateTakeover(self.connection_pool, self.response_callbacks, transaction, shard_hint)

    client = _Client.from_url(redis_url)
    count = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    client.set(LEASE, "mine")

    with pytest.raises(fencing.Superseded):
        fencing.commit(
            client,
            fencing.Fence(LEASE, "mine"),
            lambda pipe: (count(keys=["test:count"], args=[2], client=pipe), pipe.set("test:late", 1)),
        )

    assert client.get("test:count") is None and client.get("test:late") is None
    client.close()
    other.close()
