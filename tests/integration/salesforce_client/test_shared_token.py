"""The shared access token when things go wrong: Redis down, a lock holder that died, a token refused."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from gateway.salesforce.auth import TokenSource
from gateway.salesforce.token_cache import SharedTokens
from tests.conftest import free_port
from tests.integration.salesforce_emulator.conftest import Emulator

from .conftest import fast_client, settings_for

SOQL = "SELECT Id FROM Contact"


def test_clients_of_one_login_share_a_token_and_another_login_does_not(emulator: Emulator, redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    issued = emulator.stats()["tokens_issued"]
    for _ in range(3):
        with fast_client(settings_for(emulator), redis=conn) as client:
            client.query_records(SOQL)
    assert emulator.stats()["tokens_issued"] == issued + 1
    with fast_client(settings_for(emulator, "jwt-bearer"), redis=conn) as other:  # another login: its own token
        other.query_records(SOQL)
    assert emulator.stats()["tokens_issued"] == issued + 2


def test_without_redis_each_process_logs_in_on_its_own_and_says_why(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    settings = settings_for(emulator)
    issued = emulator.stats()["tokens_issued"]
    with caplog.at_level(logging.WARNING):
        tokens = [TokenSource(settings, shared=SharedTokens(nowhere, settings)).get() for _ in range(2)]
        refreshed = TokenSource(settings, shared=SharedTokens(nowhere, settings)).refresh(stale=tokens[0])
    assert len({t.access_token for t in [*tokens, refreshed]}) == 3
    assert emulator.stats()["tokens_issued"] == issued + 3
    assert "logs in to Salesforce on its own" in caplog.text
    assert f"{emulator.org_id[:15]}!" not in caplog.text


def test_a_dead_lock_holder_holds_the_others_back_only_for_the_lock_time(emulator: Emulator, redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    settings = settings_for(emulator)
    shared = SharedTokens(conn, settings, lock_seconds=0.5)
    conn.set(shared.lock_key, "a worker that was killed while logging in", px=60_000)
    started = time.monotonic()
    token = TokenSource(settings, shared=shared).get()
    waited = time.monotonic() - started
    assert 0.5 <= waited < 5
    assert token.access_token  # logged in on its own, and shared what it got
    assert TokenSource(settings, shared=SharedTokens(conn, settings)).get().access_token == token.access_token


def test_a_refused_token_is_dropped_only_if_it_is_still_the_shared_one(emulator: Emulator, redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    settings = settings_for(emulator)
    first, second = (TokenSource(settings, shared=SharedTokens(conn, settings)) for _ in range(2))
    old = first.get()
    assert second.get() == old
    new = first.refresh(stale=old)  # Salesforce refused `old`: one new token for both
    assert new.access_token != old.access_token
    assert second.refresh(stale=old) == new  # the second meets the same 401 later: it adopts, no login
    issued = emulator.stats()["tokens_issued"]
    assert TokenSource(settings, shared=SharedTokens(conn, settings)).refresh(stale=old) == new
    assert emulator.stats()["tokens_issued"] == issued


def test_a_token_stored_with_another_credential_is_not_used(emulator: Emulator, redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    settings = settings_for(emulator)
    TokenSource(settings, shared=SharedTokens(conn, settings)).get()
    key = SharedTokens(conn, settings).key
    conn.hset(key, "blob", b"not a token this credential encrypted")
    issued = emulator.stats()["tokens_issued"]
    assert TokenSource(settings, shared=SharedTokens(conn, settings)).get().access_token
    assert emulator.stats()["tokens_issued"] == issued + 1


def test_the_login_lock_is_given_up_once_a_new_token_is_stored(emulator: Emulator, redis_url: str) -> None:
    """The next process whose token is refused logs in at once: it does not wait out the lock of a login done."""
    conn = redis.Redis.from_url(redis_url)
    settings = settings_for(emulator)
    shared = SharedTokens(conn, settings)
    source = TokenSource(settings, shared=shared)
    issued = emulator.stats()["tokens_issued"]
    source.refresh(stale=source.get())  # a new login, under the lock
    assert emulator.stats()["tokens_issued"] > issued
    assert not conn.exists(shared.lock_key)
