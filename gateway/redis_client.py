"""How the gateway talks to Redis: one way to connect, one way to read a reply as text.

Kept apart from `redis_server` (which starts an embedded server) so that the sync layer can use Redis without
importing anything that starts processes.
"""

from __future__ import annotations

import redis


def connect(url: str, **kwargs: object) -> redis.Redis:
    """A client for `url` (bytes mode: RQ requires it). Health-checked and with sane timeouts."""
    return redis.Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5, **kwargs)


def text(value: bytes | str) -> str:
    """A Redis reply as text (the clients here run in bytes mode, as RQ requires)."""
    return value.decode() if isinstance(value, bytes) else value
