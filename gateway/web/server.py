"""The production web server: gunicorn running `create_app()`, with Prometheus counters shared across its workers.

Why this worker and these timeouts (gunicorn's own documentation, "Design" and "Settings"; docs/deploy.md):
- gunicorn's `sync` worker serves one connection at a time per process and reads it with no deadline: a client
  that sends its request line and then one header every few seconds holds the whole process until gunicorn's
  `timeout` kills it (then the next slow client takes it again), so a handful of such clients stop the gateway.
- The `gthread` worker accepts on a poller and waits for a connection's first bytes without a thread (gunicorn 27
  parks silent connections on the poller, closing them after `keepalive` seconds), but once a request has started
  it reads the head and the body in a thread with a blocking socket and no deadline: a slow client still holds
  that thread as long as it keeps trickling. `timeout` does not help there (the main loop keeps the worker's
  heartbeat alive while its threads are stuck).
- `gevent` makes a slow client cost a greenlet instead of a thread, but bounds its time no better, and would patch
  every socket of the process (Redis, Salesforce, the platform) for an app whose requests are CPU-bound.
So the gateway runs `GatewayThreadWorker`: gunicorn's gthread worker whose client sockets give each request
`GATEWAY_REQUEST_READ_TIMEOUT_SECONDS` (default 10) from its first byte to read its head and body. A client past
it is dropped (mid-head) or answered 408 (mid-body, by the app), and its thread is free again. With N threads per
process, fewer than N slow clients per process cannot delay anyone; more wait at most that deadline. A buffering
reverse proxy in front (nginx) absorbs slow clients entirely: see docs/deploy.md.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import ThreadWorker

from gateway.config import Settings

DEFAULT_THREADS = 4
LIMIT_REQUEST_LINE = 8190  # gunicorn's maximum: a platform's GET webhook carries its fields in the query string
LIMIT_REQUEST_FIELDS = 50  # Salesforce's callouts send about a dozen headers
LIMIT_REQUEST_FIELD_SIZE = 8190


class SlowClient(NoMoreData):  # type: ignore[misc]
    """The client did not send its request within the read deadline. A `NoMoreData`, so gunicorn drops the
    connection quietly when it happens mid-head, and the app (`web.json_body`) answers 408 when it happens mid-body."""

    def __str__(self) -> str:
        return "the request was not received within the read deadline"


class DeadlineSocket:
    """A client socket whose reads for one request must end within `limit` seconds of the request's first read.

    Everything but `recv` is the wrapped socket's own (gunicorn polls it, writes to it and closes it as usual)."""

    def __init__(self, sock: socket.socket, limit: float) -> None:
        self._sock = sock
        self._limit = limit
        self._deadline: float | None = None

    def begin_request(self) -> None:
        self._deadline = None

    def recv(self, size: int, *flags: int) -> bytes:
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._limit
        remaining = self._deadline - now
        if remaining <= 0:
            raise SlowClient()
        prior = self._sock.gettimeout()
        self._sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            if time.monotonic() >= self._deadline:
                raise SlowClient() from None
            raise
        finally:
            self._sock.settimeout(prior)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class GatewayThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker with a read deadline per request (see the module's docstring)."""

    def handle(self, conn: Any) -> Any:
        if not isinstance(conn.sock, DeadlineSocket):
            limit = float(self.app.settings.edge.request_read_timeout_seconds)
            conn.sock = DeadlineSocket(conn.sock, limit)
        conn.sock.begin_request()
        return super().handle(conn)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from gateway import create_app

        return create_app(self.settings)


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def gunicorn_options(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """The gunicorn settings `gateway serve` runs with."""
    debug = settings.log_level == "DEBUG"
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": GatewayThreadWorker,
        "accesslog": "-" if debug else None,  # request lines pass through the redacting log factory
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "timeout": 30,  # a worker whose main loop stops answering the arbiter for 30 s is replaced
        "graceful_timeout": 20,  # on SIGTERM, requests in flight get 20 s to finish
        "keepalive": 5,  # an idle kept-alive (or silent new) connection is closed after 5 s
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_fields": LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
        "control_socket_disable": True,  # gunicorn 27's control socket under $HOME: nothing here uses it
        "child_exit": _child_exit,
        "preload_app": False,
    }


def run_gunicorn(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until SIGTERM/SIGINT. Each worker process builds its own app (no client is shared across a fork)."""
    metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    logging.getLogger(__name__).debug("gunicorn with %d worker(s) x %d thread(s)", workers, threads)
    try:
        _Gunicorn(settings, gunicorn_options(settings, host=host, port=port, workers=workers, threads=threads)).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
