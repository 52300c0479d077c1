"""How the gateway talks to Redis: one way to connect, one way to read a reply as text.

Kept apart from `redis_server` (which starts an embedded server) so that the sync layer can use Redis without
importing anything that starts processes.
"""

from __future__ import annotations

import redis

# Connections one client may open: a sync job's threads (up to twice the platform's cap, `to_platform.job_concurrency`)
# each hold one at a time, and a thread waiting for a platform slot holds one while it blocks; redis-py's default pool
# (100) would refuse the 101st with MaxConnectionsError.
MAX_CONNECTIONS = 1024


def connect(url: str, **kwargs: object) -> redis.Redis:
    """A client for `url` (bytes mode: RQ requires it). Health-checked and with sane timeouts."""
    options: dict[str, object] = {"max_connections": MAX_CONNECTIONS, **kwargs}
    return redis.Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5, **options)


def text(value: bytes | str) -> str:
    """A Redis reply as text (the clients here run in bytes mode, as RQ requires)."""
    return value.decode() if isinstance(value, bytes) else value
