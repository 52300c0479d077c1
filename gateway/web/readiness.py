"""Readiness of the gateway's dependencies, answered from results shared in Redis and refreshed in the background.

Guarantees:
- `/readyz` costs one Redis round trip (PING and the shared results, pipelined, with a 1 s socket timeout) and
  never waits for Salesforce or the platform, however slow or dead they are.
- Remote checks (Salesforce: a valid token and the instance answering; the platform's own check) run in a
  background thread, at most once per `interval` seconds for the whole deployment (a Redis `SET NX` claim shared by
  every web process), and never twice at once in one process. The Salesforce check reuses the process's token, so
  readiness causes no login while that token is valid.
- Each result names its check and is one of `ok`, `failing` (the last check failed), `stale` (a check has been
  running for `stale_after` seconds: it hangs) or `unknown` (not yet checked). A result older than `interval` is
  still answered (the call that finds it starts a fresh check), so a rarely probed gateway is not "not ready". The
  answer never holds an exception's text or a URL (it is unauthenticated); the reason goes to the log at WARNING
  when a check starts failing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis
from flask import Flask

log = logging.getLogger(__name__)

RESULTS_KEY = "gateway:readiness"  # hash: name -> {"ok", "at"}; "started:<name>" -> epoch s while it runs
CLAIM_KEY = "gateway:readiness:claim"

Check = Callable[[], None]


class Readiness:
    """The web process's view of readiness: `redis` checked on each call, the `remote` checks from shared results."""

    def __init__(
        self,
        app: Flask,
        redis_url: str,
        remote: Mapping[str, Check],
        *,
        interval: float = 10.0,
        stale_after: float = 60.0,
    ) -> None:
        self.app = app
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self.remote = dict(remote)
        self.interval = interval
        self.stale_after = stale_after
        self._running = threading.Lock()
        self._last_ok: dict[str, bool] = {}

    def state(self) -> dict[str, str]:
        """Each check's state now; starts a background refresh when the shared results are older than `interval`."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.ping()
            pipe.hgetall(RESULTS_KEY)
            _, raw = pipe.execute()
        except redis.RedisError:
            return {"redis": "failing", **dict.fromkeys(self.remote, "unknown")}
        now = time.time()
        states = {"redis": "ok"}
        due = False
        for name in self.remote:
            result = _parse(raw.get(name.encode()))
            started = raw.get(f"started:{name}".encode())
            due = due or result is None or now - result["at"] >= self.interval
            if started is not None and now - float(started) >= self.stale_after:
                states[name] = "stale"  # its check has been running that long: hung
            elif result is None:
                states[name] = "unknown"
            else:
                states[name] = "ok" if result["ok"] else "failing"
        if due and self.remote:
            self._refresh_in_background()
        return states

    def _refresh_in_background(self) -> None:
        if not self._running.acquire(blocking=False):
            return  # this process is checking already
        try:
            claimed = self.redis.set(CLAIM_KEY, os.getpid(), nx=True, ex=max(1, int(self.interval)))
        except redis.RedisError:
            claimed = False
        if not claimed:
            self._running.release()
            return
        threading.Thread(target=self._refresh, name="gateway-readiness", daemon=True).start()

    def _refresh(self) -> None:
        try:
            with self.app.app_context():
                for name, check in self.remote.items():
                    self._mark_started(name)
                    self._record(name, _run(check))
        finally:
            self._running.release()

    def _mark_started(self, name: str) -> None:
        with contextlib.suppress(redis.RedisError):  # the result will not be stored either; the next call retries
            self.redis.hset(RESULTS_KEY, f"started:{name}", time.time())

    def _record(self, name: str, failure: str | None) -> None:
        ok = failure is None
        if self._last_ok.get(name) is not ok:  # log changes, not every check
            if ok:
                log.info("readiness: %s ok", name)
            else:
                log.warning("readiness: %s failing: %s", name, failure)
        self._last_ok[name] = ok
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(RESULTS_KEY, name, json.dumps({"ok": ok, "at": time.time()}))
            pipe.hdel(RESULTS_KEY, f"started:{name}")
            pipe.execute()
        except redis.RedisError:
            log.warning("readiness: could not store the %s result in Redis", name)


def _run(check: Check) -> str | None:
    """None when `check` passes, else why it failed (for the log only)."""
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "not ready"
        return f"{type(exc).__name__}: {exc}"
    return None


def _parse(value: bytes | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        result = json.loads(value)
        return {"ok": bool(result["ok"]), "at": float(result["at"])}
    except (ValueError, KeyError, TypeError):
        return None
