"""A sync context over a real Redis, the recording platform and the in-process fake Salesforce."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from gateway.config import Settings
from gateway.platforms.recording import RecordingAdapter
from gateway.sync.context import SyncContext
from tests.unit.sync.fakes import FakeSalesforce


@pytest.fixture
def salesforce() -> FakeSalesforce:
    return FakeSalesforce()


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def recorder(connection: redis.Redis) -> RecordingAdapter:
    return RecordingAdapter(connection)


@pytest.fixture
def context(
    settings: Settings, connection: redis.Redis, recorder: RecordingAdapter, salesforce: FakeSalesforce
) -> SyncContext:
    return SyncContext.build(settings, connection, platform=recorder, salesforce=salesforce)  # type: ignore[arg-type]
