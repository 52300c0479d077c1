"""What a sync needs at hand: settings, Redis, the platform adapter, the Salesforce client and the sync
configuration. Built once per job; each outside client is created on first use.

The package's configuration (custom metadata) is read from Salesforce at most once per `CONFIG_TTL` seconds for the
whole deployment: the raw records are cached in Redis, so a burst of jobs costs no extra API calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from gateway.config import Settings
from gateway.domain.mapping import MappingRules
from gateway.domain.sync_config import SyncConfig, parse_sync_config
from gateway.platforms.base import PlatformAdapter
from gateway.redis_client import connect
from gateway.salesforce.client import SalesforceClient
from gateway.salesforce.config_reader import read_sync_configuration

CONFIG_KEY = "gateway:salesforce:sync-config"
CONFIG_TTL = 300


@dataclass
class SyncContext:
    settings: Settings
    redis: Redis
    platform: PlatformAdapter
    _salesforce: SalesforceClient | None = field(default=None, repr=False)
    _config: SyncConfig | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, connection: Redis | None = None) -> SyncContext:
        if connection is None:
            if not settings.redis_url:
                raise RuntimeError("REDIS_URL is not set: start workers through `gateway worker`")
            connection = connect(settings.redis_url)
        return cls(settings=settings, redis=connection, platform=build_platform(settings, connection))

    @property
    def salesforce(self) -> SalesforceClient:
        if self._salesforce is None:
            if self.settings.salesforce is None:
                raise RuntimeError("Salesforce is not configured: set SALESFORCE_LOGIN_URL and SALESFORCE_CLIENT_ID")
            self._salesforce = SalesforceClient(self.settings.salesforce, redis=self.redis)
        return self._salesforce

    @property
    def rules(self) -> MappingRules:
        return MappingRules(default_region=self.settings.phone_default_region)

    def sync_config(self) -> SyncConfig:
        """The package's sync configuration (cached in Redis for `CONFIG_TTL` s)."""
        if self._config is None:
            cached = self.redis.get(CONFIG_KEY)
            if cached is not None:
                raw: dict[str, Any] = json.loads(cached)
            else:
                read = read_sync_configuration(self.salesforce)
                raw = {"objects": read.sync_objects, "mappings": read.field_mappings}
                self.redis.set(CONFIG_KEY, json.dumps(raw), ex=CONFIG_TTL)
            self._config = parse_sync_config(raw["objects"], raw["mappings"])
        return self._config

    def close(self) -> None:
        if self._salesforce is not None:
            self._salesforce.close()
        close = getattr(self.platform, "close", None)
        if callable(close):
            close()


def build_platform(settings: Settings, connection: Redis) -> PlatformAdapter:
    """The adapter `MESSAGING_PLATFORM` names, built from the settings."""
    if settings.messaging_platform == "recording":
        from gateway.platforms.recording import RecordingAdapter

        return RecordingAdapter(connection)
    if settings.messaging_platform == "mobilecommons":
        from gateway.platforms.mobilecommons import MobileCommonsAdapter, MobileCommonsSettings

        mc = settings.mobilecommons
        return MobileCommonsAdapter(
            MobileCommonsSettings(
                username=mc.username,
                password=mc.password.reveal() if mc.password else None,
                bearer_token=mc.bearer_token.reveal() if mc.bearer_token else None,
                base_url=mc.base_url,
                company_key=mc.company_key,
                opt_in_path_id=mc.opt_in_path_id,
                campaign_id=mc.campaign_id,
                crm_id_column=mc.crm_id_column,
                webhook_secret=mc.webhook_secret.reveal() if mc.webhook_secret else None,
            )
        )
    raise RuntimeError(f"MESSAGING_PLATFORM={settings.messaging_platform!r} has no adapter")
