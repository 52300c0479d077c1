"""Liveness, readiness and metrics, against a Redis this test can stop."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import requests

from gateway import create_app
from gateway.config import load_settings
from gateway.ratelimit import RateLimiter, platform_limits
from tests.conftest import CLIENTS, free_port
from tests.support import batch, salesforce_event, serve_in_thread, token, wait_for


def test_readiness_turns_503_naming_redis_when_redis_stops(gateway_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _pings(port), what="redis-server")
        settings = load_settings({**gateway_env, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}, roles=("web",))
        with serve_in_thread(create_app(settings)) as url:
            ready = wait_for(lambda: _ready(url), what="the first background checks")
            assert ready.json()["checks"] == {"redis": "ok", "platform": "ok"}
            server.terminate()
            server.wait(10)
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200  # alive, does no I/O
            not_ready = requests.get(f"{url}/readyz", timeout=20)
            assert not_ready.status_code == 503
            assert not_ready.json()["failing"][0] == "redis"
            assert not_ready.json()["checks"]["redis"] == "failing"  # named, never the exception's text
    finally:
        server.kill()
        server.wait(10)


def _ready(url: str) -> requests.Response | None:
    response = requests.get(f"{url}/readyz", timeout=10)
    return response if response.status_code == 200 else None


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port).ping())
    except redis.ConnectionError:
        time.sleep(0.05)
        return False


def test_metrics_count_requests_events_and_queue_depth(gateway_url: str, org_token: str, org_id: str) -> None:
    headers = {"Authorization": f"Bearer {org_token}"}
    url = f"{gateway_url}/webhooks/salesforce"
    requests.post(url, json=batch([salesforce_event(n) for n in range(3)], org_id), headers=headers, timeout=10)
    requests.post(url, json=batch([salesforce_event(0)], org_id), headers=headers, timeout=10)
    requests.post(url, json={"orgId": "bad"}, headers=headers, timeout=10)
    scraper = token(gateway_url, "prometheus", CLIENTS["prometheus"][0])
    text = requests.get(f"{gateway_url}/metrics", headers={"Authorization": f"Bearer {scraper}"}, timeout=10).text
    values = _samples(text)
    assert values['gateway_webhook_events_total{outcome="accepted"}'] >= 3
    assert values['gateway_webhook_events_total{outcome="duplicate"}'] >= 1
    assert values['gateway_webhook_events_total{outcome="rejected"}'] >= 1
    assert values['gateway_queue_depth{queue="sync"}'] == 1
    assert values['gateway_queue_depth{queue="realtime"}'] == 0
    assert values["gateway_redis_up"] == 1
    assert any(k.startswith("gateway_http_requests_total{") and 'status="202"' in k for k in values)


def _samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics_need_a_metrics_or_admin_token_unless_made_public(
    gateway_url: str, gateway_env: dict[str, str]
) -> None:
    url = f"{gateway_url}/metrics"
    anonymous = requests.get(url, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert "gateway_" not in anonymous.text
    reader = token(gateway_url, "reader", CLIENTS["reader"][0])
    assert requests.get(url, headers={"Authorization": f"Bearer {reader}"}, timeout=10).status_code == 403
    for client in ("prometheus", "admin-console"):
        bearer = token(gateway_url, client, CLIENTS[client][0])
        scraped = requests.get(url, headers={"Authorization": f"bearer {bearer}"}, timeout=10)
        assert scraped.status_code == 200
        assert "gateway_queue_depth" in scraped.text
    public = load_settings({**gateway_env, "GATEWAY_METRICS_PUBLIC": "true"}, roles=("web",))
    with serve_in_thread(create_app(public)) as open_url:
        assert requests.get(f"{open_url}/metrics", timeout=10).status_code == 200


def test_metrics_show_how_much_of_the_platforms_shared_limits_the_workers_hold(gateway_env: dict[str, str]) -> None:
    """An operator tells from `/metrics` whether the platform's cap bounds the syncs (slots in use at the limit:
    more workers would only wait) — the slots any process holds, read from Redis at scrape time."""
    env = {
        **gateway_env,
        "GATEWAY_METRICS_PUBLIC": "true",
        "MESSAGING_PLATFORM": "mobilecommons",
        "MOBILECOMMONS_USERNAME": "ops",
        "MOBILECOMMONS_PASSWORD": "pw",
        "MOBILECOMMONS_BASE_URL": "http://127.0.0.1:9/api/",
        "MOBILECOMMONS_MAX_CONCURRENT": "5",
        "MOBILECOMMONS_REQUESTS_PER_SECOND": "4",
    }
    connection = redis.Redis.from_url(env["REDIS_URL"])
    worker = platform_limits(connection, "mobilecommons", requests_per_second=None, max_concurrent=5)
    assert worker.concurrency is not None
    held = [worker.concurrency.slot() for _ in range(3)]
    for slot in held:
        slot.__enter__()  # three requests in flight from a worker (kept referenced until the scrape)
    # three requests granted at once at the pace the gateway keeps (3.6/s): the next may start 3 / 3.6 s from now
    booked = RateLimiter(connection, "gateway:platform:mobilecommons:rate", per_second=3.6, sleep=lambda s: None)
    with serve_in_thread(create_app(load_settings(env, roles=("web",)))) as url:
        for _ in range(3):
            booked.acquire()
        values = _samples(requests.get(f"{url}/metrics", timeout=10).text)
    for slot in held:
        slot.__exit__(None, None, None)
    connection.close()
    assert values['gateway_platform_concurrency_limit{platform="mobilecommons"}'] == 5
    assert values['gateway_platform_slots_in_use{platform="mobilecommons"}'] == 3
    assert values['gateway_platform_rate_limit{platform="mobilecommons"}'] == 4
    assert 0.5 < values['gateway_platform_rate_booked_seconds{platform="mobilecommons"}'] <= 3 / 3.6
