"""The last check before a request leaves for a platform: the sync's claim on what it writes, checked by the adapter
at the moment it sends, not before it waits.

A platform write can wait a long time between the sync deciding it and the request leaving: for a slot of the
platform's shared concurrency cap (`gateway.ratelimit`), for a rate slot, for a back-off between two attempts. A
process can also stop for any length of time in that wait (a paused VM, a SIGSTOP). Meanwhile the job can be handed
to another worker, and the record synced again with newer values; a request sent after that would write the older
values over them. So the sync registers its check (`guarded`), and every adapter calls `check()` right before each
request leaves (after its slots are held, on every attempt): a sync whose claim was taken over sends nothing more.

Guarantee: within `guarded(check)`, no request of that thread is sent unless `check` returned just before it. The
only gap left is the instant between that check and the request leaving the machine (`gateway.sync.fencing`).
Outside a `guarded` block (lookups, the CLI) `check()` does nothing. The registration is per thread: a sync runs
each record on one thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_current = threading.local()


@contextmanager
def guarded(check: Callable[[], None]) -> Iterator[None]:
    """Run `check` right before every platform request this thread sends inside the block; what it raises stops the
    request and leaves the adapter as the caller's own exception."""
    previous = getattr(_current, "check", None)
    _current.check = check
    try:
        yield
    finally:
        _current.check = previous


def check() -> None:
    """Called by adapters right before a request leaves (after its limiter slots are held, on every attempt)."""
    registered: Callable[[], None] | None = getattr(_current, "check", None)
    if registered is not None:
        registered()
