"""The nightly incremental pull: it catches what real time missed (a change during a run, a change exactly at the
high-water mark) and a night without changes costs at most 2 Salesforce API calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.bulk.conftest import BulkStack, people
from tests.support import wait_for


def _api_calls(stack: BulkStack) -> int:
    by_class = dict(stack.sf.stats()["api_calls"]["by_class"])
    by_class.pop("token")  # token requests do not count against the org's API allocation
    return sum(by_class.values())


def test_a_change_during_the_run_and_one_at_the_mark_are_picked_up(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    ids = stack.sf.seed("Contact", records=people(800))
    first = sorted(ids)[0]
    stack.mc.control().post(f"{stack.mc.url}/__emulator__/faults", json={"latency_ms": 10, "ratio": 1.0})
    stack.start_worker()
    (run_id,) = stack.start("initial", "--to", "platform")
    wait_for(lambda: stack.report(run_id)["processed"] >= 300, timeout=60, interval=0.2, what="the first chunk")
    # changed in Salesforce after its chunk was read, and real time missed it (no relay here)
    stack.sf.control("PATCH", f"records/Contact/{first}", json={"FirstName": "Changed-During-Run"})
    stack.mc.control().delete(f"{stack.mc.url}/__emulator__/faults")
    stack.wait_done(run_id)
    assert not [p for p in stack.mc_contacts() if p["first_name"] == "Changed-During-Run"]

    runs = [stack.wait_done(r) for r in stack.start("incremental")]
    assert sorted((r["direction"], r["object"]) for r in runs) == [
        ("to-platform", "Contact"),
        ("to-platform", "Lead"),
        ("to-salesforce", "Contact"),
    ]
    run = next(r for r in runs if r["direction"] == "to-platform" and r["object"] == "Contact")
    assert run["kind"] == "incremental" and run["direction"] == "to-platform"
    assert [p for p in stack.mc_contacts() if p["first_name"] == "Changed-During-Run"]
    assert run["counts"].get("failed", 0) == 0

    # a record whose SystemModstamp equals the high-water mark exactly is read again (the window is inclusive)
    target = sorted(ids)[1]
    stack.sf.control("PATCH", f"records/Contact/{target}", json={"FirstName": "At-The-Mark"})
    stamp = stack.sf.record("Contact", target)["SystemModstamp"]
    mark = datetime.fromisoformat(stamp.replace("+0000", "+00:00").replace("Z", "+00:00"))
    stack.redis.set("gateway:bulk:hwm:to-platform:Contact", mark.isoformat())
    done = stack.sync("incremental", "--detach", GATEWAY_INCREMENTAL_OVERLAP_SECONDS="1")
    assert done.returncode == 0, done.stderr
    wait_for(
        lambda: [p for p in stack.mc_contacts() if p["first_name"] == "At-The-Mark"],
        timeout=60,
        interval=0.3,
        what="the record at the mark on the platform",
    )


def test_a_night_without_changes_costs_at_most_two_api_calls(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    stack.sf.seed("Contact", records=people(50))
    later = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    for obj in ("Contact", "Lead"):
        stack.redis.set(f"gateway:bulk:hwm:to-platform:{obj}", later)
    stack.start_worker()
    before = _api_calls(stack)
    done = stack.sync("incremental", GATEWAY_INCREMENTAL_OVERLAP_SECONDS="1", timeout=90)
    assert done.returncode == 0, done.stderr + done.stdout
    assert _api_calls(stack) - before <= 2
    assert stack.mc_contacts() == []
