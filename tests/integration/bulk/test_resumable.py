"""A bulk run survives what production throws at it: a worker killed mid-run, and Salesforce's daily API limit.
It resumes from its checkpoints, loses nothing and sends nothing twice."""

from __future__ import annotations

import time
from collections import Counter

from tests.integration.bulk.conftest import BulkStack, people
from tests.support import wait_for


def _profile_updates(stack: BulkStack) -> int:
    return int(stack.mc_stats()["api_calls"]["by_method"].get("profile_update", 0))


def _assert_everyone_once(stack: BulkStack, count: int) -> None:
    profiles = stack.mc_contacts()
    assert len(profiles) == count
    assert len({p["phone"] for p in profiles}) == count
    linked = stack.sf_query("SELECT Messaging_Contact_Id__c FROM Contact WHERE Messaging_Contact_Id__c != null")
    assert len(linked) == count
    assert not [k for k, n in Counter(r["Messaging_Contact_Id__c"] for r in linked).items() if n > 1]


def test_a_worker_killed_mid_run_is_replaced_and_nothing_is_lost_or_doubled(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    stack.sf.seed("Contact", records=people(1200))
    stack.mc.control().post(f"{stack.mc.url}/__emulator__/faults", json={"latency_ms": 15, "ratio": 1.0})
    doomed = stack.start_worker()
    (run_id,) = stack.start("initial", "--to", "platform")
    wait_for(lambda: stack.report(run_id)["processed"] >= 200, timeout=60, interval=0.2, what="some progress")
    doomed.kill_group()
    stack.mc.control().delete(f"{stack.mc.url}/__emulator__/faults")
    stack.start_worker()
    run = stack.wait_done(run_id, timeout=120)

    assert run["processed"] == 1200
    assert sum(run["counts"].values()) == 1200
    assert run["counts"].get("failed", 0) == 0
    assert run["counts"]["created"] >= 1200 - 6  # at most one record per thread was in flight when the worker died
    _assert_everyone_once(stack, 1200)
    assert _profile_updates(stack) <= 1200 + 6


def test_request_limit_exceeded_pauses_the_run_which_resumes_when_calls_return(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    stack.sf.seed("Contact", records=people(1500))
    stack.mc.control().post(f"{stack.mc.url}/__emulator__/faults", json={"latency_ms": 10, "ratio": 1.0})
    stack.start_worker(GATEWAY_BULK_MAX_PAUSE_SECONDS="1")
    (run_id,) = stack.start("initial", "--to", "platform")
    wait_for(lambda: stack.report(run_id)["processed"] >= 250, timeout=60, interval=0.2, what="some progress")
    limit = stack.sf.control("GET", "limits").json()["max"]
    stack.sf.control("POST", "limits", json={"used": limit})  # the org's daily allocation is spent

    paused = wait_for(
        lambda: (r := stack.report(run_id))["status"] == "paused" and r, timeout=60, interval=0.2, what="the pause"
    )
    assert paused["pause_reason"]
    assert paused["processed"] < 1500
    status = stack.sync("status", "--json")
    assert status.returncode == 0, status.stderr

    # the rolling 24-hour window frees calls: the gateway notices by itself once its pause is over
    stack.sf.control("POST", "limits", json={"used": 0})
    stack.redis.delete("gateway:salesforce:paused_until", "gateway:salesforce:usage")
    stack.mc.control().delete(f"{stack.mc.url}/__emulator__/faults")
    run = stack.wait_done(run_id, timeout=90)
    assert run["processed"] == 1500
    assert run["counts"] == {"created": 1500}
    _assert_everyone_once(stack, 1500)
    assert _profile_updates(stack) == 1500


def test_a_stopped_run_resumes_from_its_checkpoint(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    stack.sf.seed("Contact", records=people(1000))
    stack.mc.control().post(f"{stack.mc.url}/__emulator__/faults", json={"latency_ms": 10, "ratio": 1.0})
    stack.start_worker()
    (run_id,) = stack.start("initial", "--to", "platform")
    wait_for(lambda: stack.report(run_id)["processed"] >= 150, timeout=60, interval=0.2, what="some progress")
    stopped = stack.sync("stop", run_id)
    assert stopped.returncode == 0, stopped.stderr

    def settled() -> int | None:
        first = stack.report(run_id)["processed"]
        time.sleep(1.0)
        return first if stack.report(run_id)["processed"] == first else None

    at_stop = wait_for(settled, timeout=30, interval=0.1, what="the workers to stop")
    assert 150 <= at_stop < 1000
    assert stack.report(run_id)["status"] == "stopped"
    assert _profile_updates(stack) == at_stop

    stack.mc.control().delete(f"{stack.mc.url}/__emulator__/faults")
    resumed = stack.sync("resume", run_id, timeout=90)
    assert resumed.returncode == 0, resumed.stderr
    run = stack.report(run_id)
    assert run["status"] == "done" and run["processed"] == 1000
    assert run["counts"] == {"created": 1000}
    _assert_everyone_once(stack, 1000)
    assert _profile_updates(stack) == 1000
