"""MOBILECOMMONS_MAX_CONCURRENT holds for the whole deployment: two `gateway worker` processes syncing at once
against a Mobile Commons emulator that answers error 27 beyond its cap and counts the calls it holds in flight."""

from __future__ import annotations

from rq.job import Job
from rq.registry import FinishedJobRegistry

from gateway.queues import BULK
from tests.integration.bulk.conftest import BulkStack, people

CAP = 6


def test_two_workers_together_keep_the_platforms_cap_in_flight_and_never_exceed_it(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    stack.sf.seed("Contact", records=people(600))
    # slow answers, so that each worker alone could hold more than the cap (its jobs keep CAP calls in flight each)
    faults = stack.mc.control().post(
        f"{stack.mc.url}/__emulator__/faults", json={"latency_ms": 60, "jitter_ms": 20, "max_concurrent": CAP}
    )
    assert faults.status_code == 200, faults.text
    del stack.env["GATEWAY_BULK_THREADS"]  # a job's threads follow the platform's cap
    for _ in range(2):
        stack.start_worker(MOBILECOMMONS_MAX_CONCURRENT=str(CAP))
    (run_id,) = stack.start("initial", "--to", "platform")
    run = stack.wait_done(run_id, timeout=120)

    assert run["processed"] == 600 and run["counts"].get("failed", 0) == 0, run
    assert len(stack.mc_contacts()) == 600
    stats = stack.mc_stats()
    assert stats["throttled"] == 0  # no error 27: the cap was never exceeded…
    assert stats["peak_in_flight"] == CAP  # …and it was used fully
    finished = FinishedJobRegistry(BULK, connection=stack.redis)
    workers = {Job.fetch(i, connection=stack.redis).worker_name for i in finished.get_job_ids()}
    assert len(workers) == 2, f"one worker ran every chunk ({workers}): nothing was shared"
