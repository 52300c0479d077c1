"""`POST /webhooks/salesforce`: acceptance, deduplication, and every rejection enqueuing nothing."""

from __future__ import annotations

import json

import pytest
import redis
import requests
from rq import Queue

from gateway import create_app
from gateway.config import load_settings
from gateway.jobs import owned_events
from gateway.queues import SYNC
from gateway.salesforce.client import SalesforceClient
from tests.conftest import CLIENTS
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import ORG_ID, batch, salesforce_event, serve_in_thread, token


def _post(url: str, bearer: str, body: object, **kwargs: object) -> requests.Response:
    return requests.post(
        f"{url}/webhooks/salesforce", json=body, headers={"Authorization": f"Bearer {bearer}"}, timeout=10, **kwargs
    )


def _queued_events(redis_url: str, org: str) -> list[dict]:
    """The events the queued jobs will sync (each job skips the duplicates another job claimed first)."""
    conn = redis.Redis.from_url(redis_url)
    events: list[dict] = []
    for job in Queue(SYNC, connection=conn).jobs:
        org_id, batch_events = job.args
        assert org_id == org
        events.extend(owned_events(conn, job.id, batch_events))
    return events


def test_a_batch_is_accepted_as_one_job_holding_every_event(
    gateway_url: str, org_token: str, redis_url: str, org_id: str
) -> None:
    events = [salesforce_event(n) for n in range(200)]
    response = _post(gateway_url, org_token, batch(events, org_id))
    assert response.status_code == 202
    assert response.json() == {"accepted": 200, "duplicates": 0}
    queue = Queue(SYNC, connection=redis.Redis.from_url(redis_url))
    assert queue.count == 1
    assert _queued_events(redis_url, org_id) == events


def test_duplicates_are_dropped_across_requests_and_within_one(
    gateway_url: str, org_token: str, redis_url: str, org_id: str
) -> None:
    first = _post(gateway_url, org_token, batch([salesforce_event(1), salesforce_event(2)], org_id))
    assert first.json() == {"accepted": 2, "duplicates": 0}
    second = _post(
        gateway_url, org_token, batch([salesforce_event(2), salesforce_event(3), salesforce_event(3)], org_id)
    )
    assert second.status_code == 202
    assert second.json() == {"accepted": 1, "duplicates": 2}
    again = _post(gateway_url, org_token, batch([salesforce_event(1)], org_id))
    assert again.json() == {"accepted": 0, "duplicates": 1}
    ids = [e["eventUuid"] for e in _queued_events(redis_url, org_id)]
    assert ids == [salesforce_event(n)["eventUuid"] for n in (1, 2, 3)]
    assert Queue(SYNC, connection=redis.Redis.from_url(redis_url)).count == 2  # the all-duplicate batch made no job


def test_duplicate_marks_expire_after_72_hours(gateway_url: str, org_token: str, redis_url: str, org_id: str) -> None:
    _post(gateway_url, org_token, batch([salesforce_event(7)], org_id))
    ttl = redis.Redis.from_url(redis_url).ttl(f"gateway:events:seen:{salesforce_event(7)['eventUuid']}")
    assert 72 * 3600 - 60 < ttl <= 72 * 3600


def _bad_event(**changes: object) -> dict:
    event = salesforce_event(9)
    for key, value in changes.items():
        if value is None:
            event.pop(key)
        else:
            event[key] = value
    return event


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": [salesforce_event(1)]}, "orgId"),
        ({"orgId": "001000000000001AAA", "events": [salesforce_event(1)]}, "orgId"),
        ({"orgId": ORG_ID, "events": []}, "events"),
        ({"orgId": ORG_ID}, "events"),
        (batch([_bad_event(recordId="not-an-id")]), "recordId"),
        (batch([_bad_event(operation="merge")]), "operation"),
        (batch([_bad_event(eventUuid=None)]), "eventUuid"),
        (batch([_bad_event(record={"MobilePhone": "+1"})]), "record"),
        (batch([_bad_event(publishedAt="yesterday")]), "publishedAt"),
        (batch([salesforce_event(1), _bad_event(sobjectType="Contact; DROP")]), "sobjectType"),
    ],
)
def test_invalid_batches_get_field_errors_and_enqueue_nothing(
    gateway_url: str, org_token: str, redis_url: str, org_id: str, body: dict, field: str
) -> None:
    body = {**body, "orgId": org_id} if body.get("orgId") == ORG_ID else body  # the emulated org's own id
    response = _post(gateway_url, org_token, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid-request"
    assert field in json.dumps(error["fields"])
    conn = redis.Redis.from_url(redis_url)
    assert Queue(SYNC, connection=conn).count == 0
    assert conn.keys("gateway:events:seen:*") == []


def test_non_json_invalid_json_and_oversized_bodies_enqueue_nothing(
    gateway_url: str, org_token: str, redis_url: str, org_id: str
) -> None:
    auth = {"Authorization": f"Bearer {org_token}"}
    url = f"{gateway_url}/webhooks/salesforce"
    as_form = requests.post(url, data={"orgId": ORG_ID}, headers=auth, timeout=10)
    assert as_form.status_code == 415
    assert as_form.json()["error"]["code"] == "unsupported-media-type"
    broken = requests.post(url, data=b'{"orgId": ', headers={**auth, "Content-Type": "application/json"}, timeout=10)
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid-json"
    huge = batch([salesforce_event(n) for n in range(2000)], org_id)
    huge["events"][0]["record"]["Description"] = "x" * (1024 * 1024)
    too_large = _post(gateway_url, org_token, huge)
    assert too_large.status_code == 413
    conn = redis.Redis.from_url(redis_url)
    assert Queue(SYNC, connection=conn).count == 0
    assert conn.keys("gateway:events:seen:*") == []


def test_unauthenticated_and_wrong_scope_requests_enqueue_nothing(gateway_url: str, redis_url: str) -> None:
    response = requests.post(f"{gateway_url}/webhooks/salesforce", json=batch([salesforce_event(1)]), timeout=10)
    assert response.status_code == 401
    assert Queue(SYNC, connection=redis.Redis.from_url(redis_url)).count == 0


def test_the_org_is_learned_from_any_process_s_login_not_per_request(
    sync_env: dict[str, str], sf: Emulator, redis_url: str, org_id: str
) -> None:
    settings = load_settings(sync_env, roles=("web",))
    assert settings.salesforce is not None
    with SalesforceClient(settings.salesforce, redis=redis.Redis.from_url(redis_url)) as worker_side:
        assert worker_side.org_id() == org_id  # a worker logs in: the org id lands in Redis
    with serve_in_thread(create_app(settings)) as url:
        bearer = token(url, "salesforce-org", CLIENTS["salesforce-org"][0])
        logins = sf.stats()["api_calls"]["by_class"]["token"]
        for n in range(5):
            assert _post(url, bearer, batch([salesforce_event(n)], org_id)).status_code == 202
        assert sf.stats()["api_calls"]["by_class"]["token"] == logins  # the web logged in for none of them


def test_while_the_org_cannot_be_learned_batches_wait_with_503_and_logins_are_not_repeated(
    sync_env: dict[str, str], gateway_env: dict[str, str], sf: Emulator, redis_url: str, org_id: str
) -> None:
    fault = {"status": 503, "count": 1000, "scope": "token"}
    assert sf.control("POST", "faults", json=fault).status_code in (200, 201)
    with serve_in_thread(create_app(load_settings(sync_env, roles=("web",)))) as url:
        bearer = token(url, "salesforce-org", CLIENTS["salesforce-org"][0])
        answers = [_post(url, bearer, batch([salesforce_event(n)], org_id)) for n in range(10)]
        assert {a.status_code for a in answers} == {503}
        assert answers[0].json()["error"]["code"] == "org-unverified"
        assert answers[0].headers["Retry-After"] == "5"
        assert sf.stats()["api_calls"]["by_class"]["token"] == 1  # one attempt, then a pause
    assert Queue(SYNC, connection=redis.Redis.from_url(redis_url)).count == 0
    with serve_in_thread(create_app(load_settings(gateway_env, roles=("web",)))) as url:  # no Salesforce at all
        bearer = token(url, "salesforce-org", CLIENTS["salesforce-org"][0])
        unconfigured = _post(url, bearer, batch([salesforce_event(1)], org_id))
        assert unconfigured.status_code == 503
        assert "SALESFORCE_LOGIN_URL" in unconfigured.json()["error"]["message"]
