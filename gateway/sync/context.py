"""What a sync needs at hand: settings, Redis, the platform adapter, the Salesforce client, the sync configuration
and the fence of the job it runs in. Built once per job; each outside client is created on first use.

The package's configuration (custom metadata) is read from Salesforce at most once per `CONFIG_TTL` seconds for the
whole deployment: the raw records are cached in Redis, so a burst of jobs costs no extra API calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis import Redis

from gateway.config import Settings
from gateway.domain.mapping import MappingRules
from gateway.domain.sync_config import SyncConfig, parse_sync_config
from gateway.platforms.base import PlatformAdapter
from gateway.redis_client import connect
from gateway.sync import fencing

if TYPE_CHECKING:
    from gateway.salesforce.client import SalesforceClient

CONFIG_KEY = "gateway:salesforce:sync-config"
CONFIG_TTL = 300


@dataclass
class SyncContext:
    """Everything a sync function is handed. The entry point that builds it (a worker's job, the web app, a CLI
    verb) chooses the platform adapter; the sync layer only ever sees it through `PlatformAdapter`."""

    settings: Settings
    redis: Redis
    fence: fencing.Fence | None = None  # the lease of the job's execution (None: not run by `gateway worker`)
    _platform: PlatformAdapter | None = field(default=None, repr=False)
    _owns_platform: bool = field(default=False, repr=False)
    _salesforce: SalesforceClient | None = field(default=None, repr=False)
    _config: SyncConfig | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        connection: Redis | None = None,
        *,
        platform: PlatformAdapter | None = None,
        build_platform: Callable[[Redis], PlatformAdapter] | None = None,
        salesforce: SalesforceClient | None = None,
        fence: fencing.Fence | None = None,
    ) -> SyncContext:
        """A context on `connection` (default: `REDIS_URL`) with a borrowed `platform` adapter, or one made by
        `build_platform` (then closed by `close()`); `salesforce` is a client to use instead of one built from the
        settings on first use; `fence` is the lease of the job's execution."""
        if connection is None:
            if not settings.redis_url:
                raise RuntimeError("REDIS_URL is not set: start workers through `gateway worker`")
            connection = connect(settings.redis_url)
        if build_platform is not None:
            platform = build_platform(connection)
        return cls(
            settings=settings,
            redis=connection,
            fence=fence,
            _platform=platform,
            _owns_platform=build_platform is not None,
            _salesforce=salesforce,
        )

    @property
    def has_platform(self) -> bool:
        return self._platform is not None

    @property
    def platform(self) -> PlatformAdapter:
        if self._platform is None:
            raise RuntimeError("MESSAGING_PLATFORM is not set: this gateway has no platform to sync with")
        return self._platform

    @property
    def salesforce(self) -> SalesforceClient:
        if self._salesforce is None:
            if self.settings.salesforce is None:
                raise RuntimeError("Salesforce is not configured: set SALESFORCE_LOGIN_URL and SALESFORCE_CLIENT_ID")
            from gateway.salesforce.client import SalesforceClient  # loaded by the first process that calls

            self._salesforce = SalesforceClient(self.settings.salesforce, redis=self.redis)
        return self._salesforce

    def check_fence(self) -> None:
        """Raise `fencing.Superseded` when the job's execution was handed to another worker: call it right before a
        write outside Redis (the platform, Salesforce), which cannot check the fence itself."""
        if self.fence is not None:
            self.fence.check(self.redis)

    def commit(self, write: Callable[[Any], object], *, release: fencing.Fence | None = None) -> bool:
        """Store what `write` queues (marks, what is owed to Salesforce) in one transaction, only while the job's
        execution holds its lease; raises `fencing.Superseded` otherwise, having stored nothing. `release` (a
        record's claim) is given up in the same step where it can be: True when it was (`fencing.commit`)."""
        return fencing.commit(self.redis, self.fence, write, release=release)

    @property
    def rules(self) -> MappingRules:
        return MappingRules(
            default_region=self.settings.phone_default_region,
            create_opted_out=self.settings.create_unmatched_opt_outs,
        )

    def sync_config(self) -> SyncConfig:
        """The package's sync configuration (cached in Redis for `CONFIG_TTL` s)."""
        if self._config is None:
            cached = self.redis.get(CONFIG_KEY)
            if cached is not None:
                raw: dict[str, Any] = json.loads(cached)
            else:
                from gateway.salesforce.config_reader import read_sync_configuration

                read = read_sync_configuration(self.salesforce)
                raw = {"objects": read.sync_objects, "mappings": read.field_mappings}
                self.redis.set(CONFIG_KEY, json.dumps(raw), ex=CONFIG_TTL)
            self._config = parse_sync_config(raw["objects"], raw["mappings"])
        return self._config

    def close(self) -> None:
        """Close the clients this context opened (a borrowed platform adapter stays open)."""
        if self._salesforce is not None:
            self._salesforce.close()
        if self._owns_platform and self._platform is not None:
            self._platform.close()
