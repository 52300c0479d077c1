"""One Salesforce access token for every process of the deployment, shared through Redis.

RQ runs each job in a forked work horse, so without sharing every job logged in again: one token request per job,
to a token endpoint whose documented error codes include `rate_limit_exceeded` (docs/deploy.md, "The Salesforce
access token"). `SharedTokens` keeps the token in Redis instead; `TokenSource` asks it before asking Salesforce.

Guarantees:
* At most one process at a time asks Salesforce for a token for one login (login URL, client id, username): it holds
  `gateway:salesforce:token-lock:<login>` (`SET NX PX`, released only by its holder); the others wait for the token
  it stores, polling every `POLL_SECONDS`. A holder that dies holds the others back at most `lock_seconds`, after
  which a waiter logs in on its own — nobody waits forever.
* A stored token leaves Redis (`PX`) before its known or assumed expiry less the refresh margin, so a reader never
  adopts one that is about to die.
* `invalidate(stale)` (Salesforce answered 401 INVALID_SESSION_ID) deletes the stored token only while it is still
  that one (compared by fingerprint in one Lua script), so a 401 on an old token never throws away a newer one.
* Redis being unavailable (or holding something unreadable) is never worse than not sharing: the process logs in
  on its own and says so in a warning; no error reaches the caller because of the cache.
* The token is a secret: Redis holds it encrypted (Fernet, with a key derived by HKDF from the Salesforce credential
  itself — the client secret, private key or refresh token that every gateway process already has), so a Redis
  dump, backup, replica or `MONITOR` does not hand out a usable session; beside it only a SHA-256 fingerprint. It
  is never logged and never part of an error or a repr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import redis
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway import redis_client
from gateway.salesforce.settings import SalesforceSettings

log = logging.getLogger(__name__)

TOKEN_KEY = "gateway:salesforce:token:{}"  # noqa: S105 - a key name; + login fingerprint -> hash {fp, blob}
LOCK_KEY = "gateway:salesforce:token-lock:{}"
POLL_SECONDS = 0.05

# KEYS[1]: the token hash. ARGV[1]: the fingerprint of the token found invalid. Deletes only that token.
_DISCARD = """
if redis.call('HGET', KEYS[1], 'fp') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def fingerprint(access_token: str) -> str:
    return hashlib.sha256(access_token.encode()).hexdigest()[:32]


def _credential(settings: SalesforceSettings) -> bytes:
    """The secret material this login is made with (what every process of the deployment holds)."""
    parts = [s.reveal() for s in (settings.private_key, settings.client_secret, settings.refresh_token) if s]
    return "\n".join(parts).encode()


class SharedTokens:
    """The shared token of one login in Redis. `TokenSource` is its only user; the payload it stores and returns is
    the dict `encode`/`decode` of `auth.AccessToken` (kept as a dict here so this module does not import auth)."""

    def __init__(self, connection: redis.Redis, settings: SalesforceSettings, *, lock_seconds: float = 35.0) -> None:
        login = settings.login_fingerprint()
        self.redis = connection
        self.key = TOKEN_KEY.format(login)
        self.lock_key = LOCK_KEY.format(login)
        self.lock_ms = int(lock_seconds * 1000)
        material = _credential(settings)
        self.enabled = bool(material)  # no secret to derive a key from: nothing is shared
        info = b"gateway salesforce token " + login.encode()
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived.derive(material or b"-")))
        self._discard = connection.register_script(_DISCARD)

    def read(self) -> dict[str, Any] | None:
        """The stored token's fields, or None (none stored, or unreadable: another credential, a corrupt value)."""
        blob = self.redis.hget(self.key, "blob")
        if blob is None:
            return None
        try:
            value = json.loads(self._fernet.decrypt(blob))
        except (InvalidToken, ValueError):
            return None
        return value if isinstance(value, dict) and value.get("access_token") else None

    def store(self, token: dict[str, Any], ttl_seconds: float) -> None:
        """Store `token` for `ttl_seconds` (nothing when that is not positive: it would be stale on arrival)."""
        ms = int(ttl_seconds * 1000)
        if ms <= 0:
            return
        blob = self._fernet.encrypt(json.dumps(token).encode())
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key, mapping={"fp": fingerprint(token["access_token"]), "blob": blob})
        pipe.pexpire(self.key, ms)
        pipe.execute()

    def keep(self, token: dict[str, Any], ttl_seconds: float) -> None:
        """`store`, where Redis failing costs only the sharing (the caller has its token either way)."""
        self._quietly(lambda: self.store(token, ttl_seconds))

    def invalidate(self, access_token: str) -> None:
        self._discard(keys=[self.key], args=[fingerprint(access_token)])

    def obtain(
        self, request: Callable[[], tuple[dict[str, Any], float]], usable: Callable[[dict[str, Any]], bool]
    ) -> tuple[dict[str, Any], bool]:
        """A usable stored token, else the one `request` gets (it returns the token and its TTL in Redis) while
        holding the lock; returns (token, whether this process requested it). Raises `redis.RedisError` only
        before `request` was called (the caller then requests on its own), never after."""
        deadline = time.monotonic() + self.lock_ms / 1000
        while True:
            found = self.read()
            if found is not None and usable(found):
                return found, False
            holder = secrets.token_hex(16)
            if self.redis.set(self.lock_key, holder, nx=True, px=self.lock_ms):
                try:
                    found = self.read()  # stored between our read and our lock
                    if found is not None and usable(found):
                        return found, False
                    token, ttl = request()
                    self.keep(token, ttl)
                    return token, True
                finally:
                    self._quietly(partial(redis_client.release, self.redis, self.lock_key, holder))
            if time.monotonic() >= deadline:  # the holder died or hangs: do not wait for it any longer
                token, ttl = request()
                self.keep(token, ttl)
                return token, True
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _quietly(action: Callable[[], object]) -> None:
        """After a token was obtained, Redis failing costs only the sharing, never the token."""
        try:
            action()
        except redis.RedisError as exc:
            log.warning("could not share the Salesforce access token through Redis (%s)", type(exc).__name__)
