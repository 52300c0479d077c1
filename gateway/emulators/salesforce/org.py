"""One emulated org: schema, data, credentials, query runner, relay, faults and the API meter together.

Guarantees: the daily API allocation is a counter in the org database (so every process sharing the file
meters against one allocation); a call over the allocation is refused before it does anything.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from .auth import Auth, TlsFiles, ensure_tls
from .faults import Faults
from .queries import QueryRunner
from .relay import Relay, RelayTarget
from .schema import build_schema
from .sosl import SearchRunner
from .store import Store

METERED_CLASSES = (
    "query",
    "query_more",
    "search",
    "sobject",
    "collections",
    "composite",
    "bulk_query",
    "bulk_ingest",
    "describe",
    "limits",
    "other",
)
DEFAULT_API_VERSION = "62.0"
#: Seconds before a changed record is searchable by SOSL ("about 15 minutes or more" in a real org).
DEFAULT_SEARCH_INDEX_DELAY = 900.0


@dataclass
class OrgConfig:
    package_dir: Path = Path("sfdx-package")
    var_dir: Path = Path("var")
    db: str = ":memory:"
    daily_limit: int = 100_000
    token_ttl: int = 7200
    relay: RelayTarget | None = None


class Org:
    def __init__(self, config: OrgConfig) -> None:
        self.config = config
        self.home = config.var_dir / "salesforce-emulator"
        self.home.mkdir(parents=True, exist_ok=True)
        self.tls: TlsFiles = ensure_tls(self.home / "tls")
        self.schema = build_schema(config.package_dir)
        self.store = Store(self.schema, config.db)
        self.store.set_meta("daily_limit", str(config.daily_limit))
        self.auth = Auth(self.store, self.home / "clients", token_ttl=config.token_ttl)
        self.queries = QueryRunner(self.store)
        self.searches = SearchRunner(self.queries)
        self.relay = Relay(self.store)
        self.faults = Faults()
        self.control_token = self.store.meta_default("control_token", lambda: secrets.token_urlsafe(24))
        self.base_url = ""
        from .bulk import BulkJobs

        self.bulk = BulkJobs(self)
        if config.relay is not None:
            self.relay.configure(config.relay)

    @property
    def daily_limit(self) -> int:
        return int(self.store.meta("daily_limit", str(self.config.daily_limit)) or self.config.daily_limit)

    @property
    def search_index_delay(self) -> float:
        """Seconds a change takes to reach the search index (shared by every process on the org file)."""
        return float(self.store.meta("search_index_delay", str(DEFAULT_SEARCH_INDEX_DELAY)) or 0)

    def set_search_index_delay(self, seconds: float) -> None:
        self.store.set_meta("search_index_delay", str(float(seconds)))

    def meter(self, api_class: str) -> tuple[bool, int, int]:
        """Count one call of `api_class`: (allowed, used, max). Refused calls are counted in stats only."""
        limit = self.daily_limit
        with self.store.tx() as conn:
            self.store.bump(conn, "calls:" + api_class)
            used_row = conn.execute("SELECT value FROM emu_counters WHERE name = 'api:usage'").fetchone()
            used = int(used_row[0]) if used_row else 0
            if self.faults.limit_spent or used >= limit:
                self.store.bump(conn, "api:refused")
                return False, max(used, limit) if self.faults.limit_spent else used, limit
            used = self.store.bump(conn, "api:usage")
        return True, used, limit

    def usage(self) -> tuple[int, int]:
        limit = self.daily_limit
        used = self.store.counter("api:usage")
        return (limit if self.faults.limit_spent else used), limit

    def stop(self) -> None:
        self.relay.stop()
        self.bulk.stop()
