"""The local stack (`gateway demo`) as a running thing: its processes kept up, and the file others join it by.

Guarantees:
- `Supervisor.run()` returns only on Ctrl-C or SIGTERM (as `KeyboardInterrupt`), never because one of the stack's
  processes exited. A gateway process that exits (web, a worker, the scheduler) is started again after a backoff of
  1 s, doubling with each exit in the last `RESTART_WINDOW` s up to `MAX_BACKOFF`; one that exits more than
  `MAX_RESTARTS` times in that window is left down, and the stack says so and keeps running. An emulator that exits
  is reported, not restarted: its URL and tokens, which `var/stack.json` gives everyone, would change. Each restart
  rewrites `var/stack.json` (its pids). Workers started by hand are not the stack's to watch.
- `stack_env()` reads the environment the stack's processes run with from its `stack.json`, or fails with an error
  that says what is wrong (no file: no stack was started here; not a stack file); `export_lines()` prints it as
  shell-quoted `export` lines, since the values hold spaces, quotes and newlines (the OAuth clients' JSON, a PEM key)
  that `env $(…)` would split.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

RESTART_WINDOW = 300
MAX_RESTARTS = 5
MAX_BACKOFF = 30
CHECK_INTERVAL = 0.5


class StackFileError(Exception):
    """`stack.json` cannot be used to join the stack; the message says why and what to do."""


def stack_env(path: Path) -> dict[str, str]:
    """The `env` object of a stack file: every variable the stack's own processes run with."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise StackFileError(
            f"{path} does not exist: start the local stack first (`gateway demo --stack-only`, or scripts/demo)"
        ) from None
    except (OSError, ValueError) as exc:
        raise StackFileError(f"{path} cannot be read as a stack file: {exc}") from None
    env = document.get("env") if isinstance(document, dict) else None
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise StackFileError(f"{path} has no `env` object of strings: it is not a stack file `gateway demo` wrote")
    return dict(env)


def export_lines(env: Mapping[str, str]) -> str:
    """`export NAME='value'` lines a POSIX shell reads back exactly (`eval "$(gateway stack env)"`)."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in sorted(env.items()))


@dataclass
class _Watched:
    process: subprocess.Popen[bytes]
    exits: list[float] = field(default_factory=list)
    restart_at: float | None = None
    down: bool = False


class Supervisor:
    """Watches the stack's processes (`processes`, the stack's own mapping, kept current) and restarts the
    `restartable` ones with `start(name)`; `changed()` runs after each restart, `say(text)` tells the user."""

    def __init__(
        self,
        processes: MutableMapping[str, subprocess.Popen[bytes]],
        *,
        restartable: Iterable[str],
        start: Callable[[str], subprocess.Popen[bytes]],
        changed: Callable[[], None],
        say: Callable[[str], None],
        logs: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.processes = processes
        self.restartable = set(restartable)
        self.start = start
        self.changed = changed
        self.say = say
        self.logs = logs
        self.clock = clock
        self.watched = {name: _Watched(process) for name, process in processes.items()}

    def run(self) -> None:
        """Keep the stack up until interrupted."""
        while True:
            self.check()
            time.sleep(CHECK_INTERVAL)

    def check(self) -> None:
        """One look at every process: report exits, schedule and make restarts."""
        now = self.clock()
        for name, watched in self.watched.items():
            if watched.down:
                continue
            if watched.restart_at is not None:
                if now >= watched.restart_at:
                    self._restart(name, watched)
                continue
            status = watched.process.poll()
            if status is None:
                continue
            log = self.logs / f"{name}.log"
            if name not in self.restartable:
                watched.down = True
                self.say(f"{name} exited ({_how(status)}); the rest of the stack keeps running without it (see {log})")
                continue
            watched.exits = [t for t in watched.exits if now - t < RESTART_WINDOW] + [now]
            if len(watched.exits) > MAX_RESTARTS:
                watched.down = True
                self.say(
                    f"{name} exited ({_how(status)}) {len(watched.exits)} times in {RESTART_WINDOW // 60} minutes; "
                    f"it is left down, the rest of the stack keeps running (see {log})"
                )
                continue
            delay = min(MAX_BACKOFF, 2 ** (len(watched.exits) - 1))
            watched.restart_at = now + delay
            self.say(f"{name} exited ({_how(status)}); restarting it in {delay} s (see {log})")

    def _restart(self, name: str, watched: _Watched) -> None:
        watched.restart_at = None
        watched.process = self.processes[name] = self.start(name)
        self.changed()
        self.say(f"{name} restarted (pid {watched.process.pid})")


def _how(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"
