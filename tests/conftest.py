"""Shared fixtures: a real Redis, signing keys, gateway settings.

Redis: `TEST_REDIS_URL` (set by `.ci/run`, which starts `redis-server`) or, when unset, a `redis-server` this
session starts on a free port. Each test gets its own flushed database index, so tests never see each other's keys.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.config import Settings, load_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real redis-server (no database index)."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url.rstrip("/").rsplit("/", 1)[0] if url.count("/") > 2 else url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("no redis-server: install it (apt-get install redis-server) or set TEST_REDIS_URL")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--databases",
            "64",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


_next_db = itertools.cycle(range(1, 64))


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """URL of a flushed Redis database of this test's own."""
    db = next(_next_db)
    url = f"{redis_server_url}/{db}"
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    yield url
    conn.flushdb()
    conn.close()


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    return _rsa_pem()


CLIENTS = {
    "salesforce-org": ("org-secret-0123456789", ["events:write", "conversations:read"]),
    "admin-console": ("admin-secret-0123456789", ["events:write", "conversations:read", "admin"]),
    "reader": ("reader-secret-0123456789", ["conversations:read"]),
    "prometheus": ("prometheus-secret-0123456789", ["metrics:read"]),
}


def oauth_clients_json() -> str:
    return json.dumps(
        [
            {"client_id": cid, "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(), "scopes": scopes}
            for cid, (secret, scopes) in CLIENTS.items()
        ]
    )


@pytest.fixture
def gateway_env(redis_url: str, signing_key_pem: str, tmp_path: Path) -> dict[str, str]:
    """Environment variables for a gateway wired to the test Redis and the recording platform."""
    key_file = tmp_path / "signing-key.pem"
    key_file.write_text(signing_key_pem)
    return {
        "REDIS_URL": redis_url,
        "GATEWAY_OAUTH_CLIENTS": oauth_clients_json(),
        "GATEWAY_TOKEN_SIGNING_KEY": str(key_file),
        "GATEWAY_VAR_DIR": str(tmp_path / "var"),
        "MESSAGING_PLATFORM": "recording",
    }


@pytest.fixture
def settings(gateway_env: dict[str, str]) -> Settings:
    return load_settings(gateway_env, roles=("web", "worker"))
