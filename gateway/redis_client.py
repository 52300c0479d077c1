"""How the gateway talks to Redis: one way to connect, a script built once for any client, a lock given up only by
its holder, a reply read as text.

Kept apart from `redis_server` (which starts an embedded server) so that the sync layer can use Redis without
importing anything that starts processes.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

# Connections one client may open: a sync job's threads (up to twice the platform's cap, `to_platform.job_concurrency`)
# each hold one at a time, and a thread waiting for a platform slot holds one while it blocks; redis-py's default pool
# (100) would refuse the 101st with MaxConnectionsError.
MAX_CONNECTIONS = 1024

# What each connection tells the server it is (CLIENT SETINFO: "redis-py" and its version, shown by CLIENT LIST),
# built once. Without it redis-py 8 builds it for every connection it opens, reading the installed package's metadata
# from disk each time: 260 µs a connection against 16, and a sync job's work horse opens one per thread. A redis-py
# without `driver_info` computes its version once, as a default argument.
try:
    from redis.driver_info import DriverInfo
except ImportError:  # a redis-py before `driver_info`
    _IDENTITY: dict[str, object] = {}
else:
    _IDENTITY = {"driver_info": DriverInfo()}


def connect(url: str, **kwargs: object) -> redis.Redis:
    """A client for `url` (bytes mode: RQ requires it). Health-checked and with sane timeouts.

    It never sends a command twice: a connection that breaks after Redis ran a command but before its reply arrived
    raises `ConnectionError`. A retry would run it again, and not every write is safe to repeat (the fenced commit's
    script trims a list by a count, `sync.fencing`); the job that made it is retried whole instead, and finds what was
    stored. (redis-py's `Redis()` retries 3 to 10 times by default; `from_url` clients did not, now it is said here.)"""
    options: dict[str, object] = {
        "max_connections": MAX_CONNECTIONS,
        "retry": Retry(NoBackoff(), 0),
        **_IDENTITY,
        **kwargs,
    }
    return redis.Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5, **options)


def script(source: str) -> Script:
    """A Lua script built once, with its SHA-1, to run on any client: `script(keys=…, args=…, client=…)` sends
    EVALSHA (not the source, as EVAL would on every call) and loads the script once when the server answers NOSCRIPT
    (a restarted or another Redis)."""
    return Script(None, source.encode())  # type: ignore[arg-type]  # a client is given at each call


# KEYS[1]: a lock; ARGV[1]: its holder's token. Deletes the key only while the token is still there.
_RELEASE = script(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
)


def release(client: redis.Redis, key: str, token: str) -> bool:
    """Give up the lock at `key` that `token` holds, unless it has already passed to another holder (then it is
    theirs to keep): one round trip (a script comparing the token and deleting). True when it was deleted."""
    return bool(_RELEASE(keys=[key], args=[token], client=client))


def text(value: bytes | str) -> str:
    """A Redis reply as text (the clients here run in bytes mode, as RQ requires)."""
    return value.decode() if isinstance(value, bytes) else value
