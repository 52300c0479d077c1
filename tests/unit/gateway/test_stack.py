"""The local stack's supervisor and its stack file, with real processes and a real shell."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.stack import MAX_RESTARTS, StackFileError, Supervisor, export_lines, stack_env


def _process(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _supervisor(processes: dict, clock: _Clock, tmp_path: Path, said: list[str], started: list[str]) -> Supervisor:
    def start(name: str) -> subprocess.Popen[bytes]:
        started.append(name)
        return _process("import time; time.sleep(60)") if name == "web" else _process("raise SystemExit(3)")

    return Supervisor(
        processes,
        restartable={"web", "worker"},
        start=start,
        changed=lambda: said.append("stack.json rewritten"),
        say=said.append,
        logs=tmp_path,
        clock=clock,
    )


def _wait_exit(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.wait(10)


def test_a_killed_gateway_process_is_started_again_after_a_backoff_and_the_stack_file_follows(tmp_path: Path) -> None:
    clock, said, started = _Clock(), [], []
    web = _process("import time; time.sleep(60)")
    processes = {"web": web}
    supervisor = _supervisor(processes, clock, tmp_path, said, started)
    supervisor.check()
    web.kill()
    _wait_exit(web)

    supervisor.check()
    assert started == [] and said == [f"web exited (killed by SIGKILL); restarting it in 1 s (see {tmp_path}/web.log)"]
    clock.now = 1.0
    supervisor.check()

    assert started == ["web"]
    assert processes["web"] is not web and processes["web"].poll() is None
    assert said[1:] == ["stack.json rewritten", f"web restarted (pid {processes['web'].pid})"]
    processes["web"].kill()
    processes["web"].wait()


def test_a_process_that_keeps_exiting_is_left_down_with_a_growing_backoff_and_the_stack_keeps_running(
    tmp_path: Path,
) -> None:
    clock, said, started = _Clock(), [], []
    processes = {"worker": _process("raise SystemExit(3)")}
    supervisor = _supervisor(processes, clock, tmp_path, said, started)
    delays = []
    for _ in range(MAX_RESTARTS + 1):
        _wait_exit(processes["worker"])
        supervisor.check()
        pending = supervisor.watched["worker"].restart_at
        if pending is None:
            break
        delays.append(pending - clock.now)
        clock.now = pending
        supervisor.check()

    assert delays == [1, 2, 4, 8, 16]
    assert len(started) == MAX_RESTARTS
    assert "it is left down, the rest of the stack keeps running" in said[-1]
    clock.now += 3600
    supervisor.check()  # no further restart, no exception: the stack goes on
    assert len(started) == MAX_RESTARTS


def test_an_emulator_that_exits_is_reported_not_restarted(tmp_path: Path) -> None:
    clock, said, started = _Clock(), [], []
    salesforce = _process("raise SystemExit(1)")
    supervisor = _supervisor({"salesforce": salesforce}, clock, tmp_path, said, started)
    _wait_exit(salesforce)

    supervisor.check()
    supervisor.check()

    assert started == []
    assert said == [
        f"salesforce exited (exit status 1); the rest of the stack keeps running without it (see {tmp_path}/"
        "salesforce.log)"
    ]


def test_the_stack_environment_survives_a_shell_exactly(tmp_path: Path) -> None:
    env = {
        "GATEWAY_OAUTH_CLIENTS": json.dumps([{"client_id": "a b", "scopes": ["x"]}]),
        "GATEWAY_TOKEN_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nMIIE'\"$HOME`x`\n-----END PRIVATE KEY-----\n",
        "REDIS_URL": "unix:///tmp/with space/redis.sock",
    }
    show = f"import json, os; print(json.dumps({{k: os.environ[k] for k in {sorted(env)!r}}}))"
    script = export_lines(env) + f"{sys.executable} -c {shlex.quote(show)}"

    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout

    assert json.loads(out) == env


def test_a_missing_or_foreign_stack_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StackFileError, match="start the local stack first"):
        stack_env(tmp_path / "stack.json")
    (tmp_path / "stack.json").write_text('{"env": {"A": 1}}')
    with pytest.raises(StackFileError, match="not a stack file"):
        stack_env(tmp_path / "stack.json")
    (tmp_path / "stack.json").write_text("{")
    with pytest.raises(StackFileError, match="cannot be read"):
        stack_env(tmp_path / "stack.json")
