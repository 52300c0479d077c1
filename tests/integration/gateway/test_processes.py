"""The `gateway` processes as an operator runs them: production server, embedded Redis, clean shutdown."""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path

import redis
import requests

from tests.conftest import CLIENTS, free_port
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import Process, batch, processes_mentioning, seeded_events, token, wait_for


def _embedded_env(gateway_env: dict[str, str], var: Path) -> dict[str, str]:
    env = {**gateway_env, "GATEWAY_VAR_DIR": str(var)}
    env["REDIS_URL"] = ""  # unset: the gateway embeds Redis
    return env


def test_serve_in_production_form_on_embedded_redis_then_worker_joins_and_nothing_is_left(
    sync_env: dict[str, str], sf: Emulator, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    env = _embedded_env(sync_env, var)
    port = free_port()
    web = Process(["serve", "--port", str(port), "--workers", "2"], env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(url), timeout=30, what="gateway serve")
        conn = redis.Redis(unix_socket_path=str(var / "redis" / "redis.sock"))
        assert conn.config_get("appendonly") == {"appendonly": "yes"}
        assert conn.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert conn.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        bearer = token(url, "salesforce-org", CLIENTS["salesforce-org"][0])
        response = requests.post(
            f"{url}/webhooks/salesforce",
            json=batch(seeded_events(sf, [1]), sf.org_id),
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=10,
        )
        assert response.status_code == 202
        worker = Process(["worker", "--burst"], env)  # attaches to the running embedded Redis
        assert worker.popen.wait(60) == 0, worker.output()
        assert conn.llen("gateway:recording:log") == 1
    finally:
        assert web.stop() == 0
    assert processes_mentioning(str(var / "redis")) == [], "the embedded redis-server outlived gateway serve"
    assert (var / "redis" / "appendonly.aof").exists() or list((var / "redis").glob("appendonlydir*"))


def test_a_sigkilled_owner_takes_its_embedded_redis_with_it(gateway_env: dict[str, str], tmp_path: Path) -> None:
    var = tmp_path / "var"
    worker = Process(["worker"], _embedded_env(gateway_env, var))
    wait_for(lambda: processes_mentioning(str(var / "redis")), timeout=30, what="the embedded redis-server")
    worker.popen.send_signal(signal.SIGKILL)
    worker.popen.wait(10)
    wait_for(lambda: not processes_mentioning(str(var / "redis")), timeout=15, what="the orphan to exit")
    worker.kill_group()


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_doctor_masks_secrets_and_reports_each_check(gateway_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **gateway_env,
        "MOBILECOMMONS_PASSWORD": "hunter2-very-secret",
        "MOBILECOMMONS_USERNAME": "ops",
        "MOBILECOMMONS_BASE_URL": "https://ops:url-password-42@secure.mcommons.com/api/",
    }
    doctor = Process(["doctor"], env)
    doctor.popen.wait(60)
    out = doctor.output()
    for secret in ("hunter2-very-secret", "url-password-42", "BEGIN PRIVATE KEY"):
        assert secret not in out, secret
    for _, (client_secret, _) in CLIENTS.items():
        assert hashlib.sha256(client_secret.encode()).hexdigest() not in out  # not even an unsalted hash
    config = json.loads(out[: out.index("\n}") + 2])
    assert config["mobilecommons"]["password"] == "********"
    assert config["mobilecommons"]["base_url"] == "https://****@secure.mcommons.com/api/"
    assert {c["secret"] for c in config["oauth_clients"]} == {"******** (sha256 (deprecated: use gateway hash-secret))"}
    assert "ok   redis:" in out
    assert "FAIL salesforce: not configured" in out
    assert doctor.popen.returncode == 1


def test_doctor_does_not_print_the_redis_password(gateway_env: dict[str, str], redis_server_url: str) -> None:
    with_password = redis_server_url.replace("redis://", "redis://:redis-password-77@") + "/5"
    doctor = Process(["doctor"], {**gateway_env, "REDIS_URL": with_password})
    doctor.popen.wait(60)
    out = doctor.output()
    assert "redis-password-77" not in out
    assert '"redis_url": "redis://****@' in out


def test_bad_configuration_fails_fast_with_one_line_per_variable(gateway_env: dict[str, str]) -> None:
    env = {**gateway_env, "GATEWAY_OAUTH_CLIENTS": "[{", "GATEWAY_TOKEN_TTL_SECONDS": "soon", "MESSAGING_PLATFORM": ""}
    serve = Process(["serve", "--port", str(free_port())], env)
    assert serve.popen.wait(30) == 2
    lines = serve.output().strip().splitlines()
    assert lines[0] == "gateway: invalid configuration:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["GATEWAY_OAUTH_CLIENTS", "GATEWAY_TOKEN_TTL_SECONDS"]
