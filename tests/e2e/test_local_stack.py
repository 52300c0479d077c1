"""The local stack as the README tells a newcomer to use it: `gateway demo --stack-only` survives a killed worker,
and the README's commands to join it work exactly as printed (read from README.md and run in a shell)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis
import requests
from rq.job import Job
from rq.registry import FinishedJobRegistry

from tests.support import ROOT, descendants, wait_for


def _readme_command(pattern: str) -> str:
    """The README's indented command line matching `pattern` (exactly as printed)."""
    found = [line.strip() for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("    ")]
    (command,) = [line for line in found if re.search(pattern, line)]
    return command


def _signal_group(pid: int, sig: int) -> None:
    for each in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, sig)


def _alive(pid: int) -> bool:
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False


def _stack(var: Path) -> dict[str, Any]:
    return dict(json.loads((var / "stack.json").read_text()))


def _clean_env() -> dict[str, str]:
    prefixes = ("REDIS_URL", "GATEWAY_", "SALESFORCE_", "MOBILECOMMONS_", "MESSAGING_PLATFORM")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def test_the_stack_outlives_a_killed_worker_and_the_readme_join_commands_work_as_printed(tmp_path: Path) -> None:
    var = tmp_path / "var"
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the README's commands run from a checkout's root
    demo_log = tmp_path / "demo.out"
    demo = subprocess.Popen(
        [sys.executable, "-m", "gateway", "demo", "--stack-only", "--contacts", "10"],
        env={**_clean_env(), "GATEWAY_VAR_DIR": str(var)},
        cwd=ROOT,
        stdout=demo_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    joined: subprocess.Popen[bytes] | None = None
    stack_worker = 0
    try:
        wait_for((var / "stack.json").exists, timeout=120, interval=0.2, what="the stack")
        stack = _stack(var)
        conn = redis.Redis.from_url(stack["redis"]["url"])

        # 1. A worker of the stack is killed (with its work horse): the stack restarts it and keeps running.
        killed = stack["pids"]["worker"]
        _signal_group(killed, signal.SIGKILL)
        stack_worker = wait_for(
            lambda: (pid := _stack(var)["pids"]["worker"]) != killed and _alive(pid) and pid,
            timeout=30,
            what="the stack to restart its worker",
        )
        assert demo.poll() is None, demo_log.read_text()
        assert "worker exited (killed by SIGKILL); restarting it in 1 s" in demo_log.read_text()

        # 2. The README's command adds a worker; with the stack's own worker stopped, the new one does the work.
        wait_for(lambda: _worker_named(conn, [stack_worker]), timeout=60, what="the restarted worker to register")
        joined = subprocess.Popen(
            ["bash", "-c", _readme_command(r"worker --join")],
            env=_clean_env(),
            cwd=tmp_path,
            stdout=(tmp_path / "joined.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        shell = joined
        name = wait_for(
            lambda: _worker_named(conn, [shell.pid, *descendants(shell.pid)]), timeout=60, what="the joined worker"
        )
        _signal_group(stack_worker, signal.SIGSTOP)
        phone = "+14155550142"
        created = _sf_control(stack, "POST", "records/Contact?as=admin", {"LastName": "Joined", "MobilePhone": phone})
        assert created.status_code == 201, created.text
        platform = next(iter(stack["platforms"].values()))
        wait_for(
            lambda: requests.get(
                f"{platform['url']}/__emulator__/contacts",
                params={"phone": phone},
                headers={"X-Emulator-Token": platform["control_token"]},
                timeout=10,
            ).json()["contacts"],
            timeout=60,
            interval=0.5,
            what="the new Contact on the platform",
        )
        synced = [Job.fetch(j, connection=conn) for j in FinishedJobRegistry("sync", connection=conn).get_job_ids()]
        done_by = {job.worker_name for job in synced if job.func_name == "gateway.jobs.sync_salesforce_events"}
        assert done_by == {name}, "the change was not synced by the joined worker"
        _signal_group(stack_worker, signal.SIGCONT)

        # 3. The README's command gives a shell the stack's environment, value for value.
        show = f"import json, os; print(json.dumps({{k: os.environ.get(k) for k in {sorted(stack['env'])!r}}}))"
        printed = subprocess.run(
            ["bash", "-c", f"{_readme_command(r'stack env')}\n{sys.executable} -c {shlex.quote(show)}"],
            env=_clean_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(printed.stdout) == stack["env"]
    finally:
        if stack_worker:
            _signal_group(stack_worker, signal.SIGCONT)
        if joined is not None:
            _stop_joined(joined, tmp_path / "joined.log")
        demo.send_signal(signal.SIGINT)
        demo.wait(60)
    assert demo.returncode == 0, demo_log.read_text()


def _stop_joined(joined: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM the joined worker and its processes (a warm shutdown); one still running 30 s later fails the test
    with what each of its processes was doing (state and kernel wait channel from /proc) and its log, then is
    killed. CI saw this once, with nothing to go on."""
    tree = [joined.pid, *descendants(joined.pid)]
    _signal_group(joined.pid, signal.SIGTERM)
    try:
        joined.wait(30)
    except subprocess.TimeoutExpired:
        seen = "\n".join(_process_line(pid) for pid in [joined.pid, *descendants(joined.pid)])
        _signal_group(joined.pid, signal.SIGKILL)
        joined.wait(10)
        raise AssertionError(
            f"the joined worker did not exit within 30 s of SIGTERM (sent to {tree});\n{seen}\nits log:\n"
            + log.read_text(errors="replace")[-4000:]
        ) from None


def _process_line(pid: int) -> str:
    """`pid`'s command line, state, and for each thread its wait channel and system call number (what it is blocked
    in: `futex` 202, `wait4` 61, `recvfrom` 45, `poll` 7 on x86-64), as /proc shows them."""
    proc = Path(f"/proc/{pid}")
    try:
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        threads = {
            task.name: f"{(task / 'wchan').read_text()} (syscall {(task / 'syscall').read_text().split(' ')[0]})"
            for task in (proc / "task").iterdir()
        }
    except OSError as exc:
        return f"{pid}: gone ({exc})"
    return f"{pid}: state {state}, threads {threads}: {cmdline}"


def _sf_control(stack: dict[str, Any], method: str, path: str, body: dict[str, Any]) -> requests.Response:
    """A change made in the emulated org (as an ordinary user, so its relay publishes it)."""
    with requests.Session() as session:
        session.verify = stack["salesforce"]["ca_bundle"]
        session.trust_env = False
        return session.request(
            method,
            f"{stack['salesforce']['url']}/__emulator__/{path}",
            headers={"X-Emulator-Token": stack["salesforce"]["control_token"]},
            json=body,
            timeout=60,
        )


def _worker_named(conn: redis.Redis, pids: list[int]) -> str | None:
    """The RQ name of the registered worker running as one of `pids`."""
    for key in conn.smembers("rq:workers"):
        pid = conn.hget(key, "pid")
        if pid is not None and int(pid) in pids:
            return str(key.decode().removeprefix("rq:worker:"))
    return None
