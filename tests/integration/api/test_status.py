"""`GET /api/v1/status`: what an operator needs to know about sync health, from the running stack."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import requests

from gateway import __version__
from tests.conftest import CLIENTS
from tests.integration.sync.conftest import Stack, eventually
from tests.support import batch, salesforce_event, token


def _status(url: str, bearer: str) -> dict:
    answer = requests.get(f"{url}/api/v1/status", headers={"Authorization": f"Bearer {bearer}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_status_reports_successes_failures_by_code_and_api_usage(stack: Stack) -> None:
    admin = stack.admin_token()
    empty = _status(stack.gateway_url, admin)
    assert empty["failures24h"] == {}
    assert empty["directions"]["toPlatform"]["lastSuccessAt"] is None
    assert empty["syncsPerMinute"] == 0

    started = datetime.now(UTC).replace(microsecond=0)
    bad = [
        stack.sf_create("Contact", {"LastName": f"Bad{n}", "MobilePhone": f"12{n}", "Mobile_Subscriber__c": True})
        for n in range(2)
    ]
    good = stack.sf_create("Contact", {"LastName": "Good", "MobilePhone": "+14155552680", "Mobile_Subscriber__c": True})
    for record_id in [*bad, good]:
        eventually(lambda r=record_id: stack.sync_results(r), "the sync results")
    stack.text_in("+14155552680", "STOP")
    stack.poll()  # Mobile Commons pushes no STOP: the cron's poll finds it
    eventually(lambda: stack.sf_record("Contact", good).get("Messaging_Status__c") == "Unsubscribed", "the STOP")

    status = _status(stack.gateway_url, admin)
    assert status["failures24h"] == {"invalid-phone": 2}
    for direction in ("toPlatform", "toSalesforce"):
        last = datetime.fromisoformat(status["directions"][direction]["lastSuccessAt"].replace("Z", "+00:00"))
        assert started <= last <= datetime.now(UTC)
        assert status["directions"][direction]["lagSeconds"] == 0  # the worker keeps up: nothing waits
    assert status["queues"] == {"realtime": 0, "sync": 0, "bulk": 0}
    assert status["syncsPerMinute"] >= 4  # two failures, one success, one STOP
    assert {k: status["platform"][k] for k in ("name", "reachable", "detail")} == {
        "name": "mobilecommons",
        "reachable": True,
        "detail": None,
    }
    assert "STOP found by polling the platform's changes" in status["platform"]["syncs"]
    assert status["version"] == __version__
    api = status["salesforceApi"]
    assert isinstance(api["used"], int) and isinstance(api["budget"], int)
    assert 0 < api["used"] < api["budget"]

    # The Named Credential's client (conversations:read) may read it too: the admin console's Apex uses it.
    org = token(stack.gateway_url, "salesforce-org", CLIENTS["salesforce-org"][0])
    assert _status(stack.gateway_url, org)["failures24h"] == {"invalid-phone": 2}


def test_waiting_work_shows_as_queue_depth_and_lag(gateway_url: str, org_id: str) -> None:
    """A gateway whose workers are down: accepted events wait in the queue, and the lag grows."""
    org = token(gateway_url, "salesforce-org", CLIENTS["salesforce-org"][0])
    accepted = requests.post(
        f"{gateway_url}/webhooks/salesforce",
        json=batch([salesforce_event(1), salesforce_event(2)], org_id),
        headers={"Authorization": f"Bearer {org}"},
        timeout=10,
    )
    assert accepted.status_code == 202, accepted.text
    time.sleep(1.2)
    status = _status(gateway_url, org)
    assert status["queues"]["sync"] == 1  # one job per webhook batch
    assert status["directions"]["toPlatform"]["lagSeconds"] >= 1.0
    assert status["directions"]["toSalesforce"]["lagSeconds"] == 0
    assert status["salesforceApi"]["used"] is None  # this gateway has no Salesforce configured
    assert status["platform"]["name"] == "recording"
