"""The org this gateway serves, for the webhook door: what its own Salesforce login said (`salesforce.identity`).

Guarantees: the org id is read from Redis, where whichever gateway process last logged in put it; a web process
logs in itself only when no process has (once, from one thread; meanwhile, and for `RETRY_SECONDS` after a failed
login, `expected()` answers None at once instead of queueing requests behind Salesforce). Once known, the id is kept
for the life of the process: the org behind a given login never changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from gateway.config import SalesforceSettings
from gateway.salesforce.identity import known_org_id

log = logging.getLogger(__name__)

RETRY_SECONDS = 5


class OrgIdentity:
    def __init__(self, redis: Any, settings: SalesforceSettings | None, login: Callable[[], str | None]) -> None:
        """`login()` logs in (through a client that shares the result in Redis) and returns the org id."""
        self.redis = redis
        self.settings = settings
        self._login = login
        self._known: str | None = None
        self._learning = threading.Lock()
        self._failed_at = float("-inf")

    @property
    def configured(self) -> bool:
        return self.settings is not None

    def expected(self) -> str | None:
        """The org id, or None while it cannot be known (Salesforce not configured, not reachable, or being asked)."""
        if self._known is not None or self.settings is None:
            return self._known
        self._known = known_org_id(self.redis, self.settings)
        if self._known is None and self._learning.acquire(blocking=False):
            try:
                if time.monotonic() - self._failed_at >= RETRY_SECONDS:
                    self._known = self._learn()
            finally:
                self._learning.release()
        return self._known

    def _learn(self) -> str | None:
        try:
            org_id = self._login()
        except Exception:  # the caller answers 503; the reason belongs in the log
            log.warning("could not log in to Salesforce to learn which org this gateway serves", exc_info=True)
            org_id = None
        else:
            if org_id is None:
                log.warning("Salesforce's token response named no org (no identity URL): webhooks cannot be checked")
        if org_id is None:
            self._failed_at = time.monotonic()
        return org_id
