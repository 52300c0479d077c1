"""A command that queues work names the Redis it uses and says when no worker listens on its queue, instead of a
progress bar that never moves (what `gateway sync initial` did when run without the local stack's environment)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gateway.config import mask_url
from tests.integration.bulk.conftest import BulkStack, _os_env, people
from tests.support import GATEWAY, ROOT, wait_for

SAID = "no worker is listening on the `bulk` queue of"


def test_a_run_nobody_works_on_is_named_as_such_and_goes_on_once_a_worker_starts(
    bulk_stack: BulkStack, tmp_path: Path
) -> None:
    bulk_stack.sf.seed("Contact", records=people(20))
    stderr = tmp_path / "stderr"
    command = subprocess.Popen(
        [GATEWAY, "sync", "initial", "--to", "platform"],
        env={**_os_env(), **bulk_stack.env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr.open("wb"),
    )
    try:
        where = mask_url(bulk_stack.env["REDIS_URL"])
        said = wait_for(lambda: SAID in stderr.read_text() and stderr.read_text(), timeout=30, what="the warning")
        assert said.startswith(f"Redis: {where}\n")
        assert f"{SAID} {where}, so nothing moves" in said
        assert "`gateway worker`" in said and 'eval "$(.venv/bin/gateway stack env)"' in said
        bulk_stack.start_worker()
        assert command.wait(120) == 0, stderr.read_text()
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    assert stderr.read_text().count(SAID) == 1
    assert len(bulk_stack.mc_contacts()) == 20  # the run went on once a worker listened


def test_a_run_queued_in_an_embedded_redis_this_command_started_says_so_at_once(
    bulk_stack: BulkStack, tmp_path: Path
) -> None:
    """`gateway sync initial --detach` without `REDIS_URL` (the local stack's environment forgotten)."""
    done = bulk_stack.sync(
        "initial", "--to", "platform", "--detach", REDIS_URL="", GATEWAY_VAR_DIR=str(tmp_path / "var")
    )

    assert done.returncode == 0, done.stderr
    socket = (tmp_path / "var" / "redis" / "redis.sock").resolve()
    assert f"Redis: unix://{socket} (an embedded Redis this command started: REDIS_URL is not set)" in done.stderr
    assert f"{SAID} unix://{socket}, so nothing moves" in done.stderr
