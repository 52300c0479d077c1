"""Row 3 of the trust-boundaries issue, as it was found on the running stack: a `conversations:read` client looking up
random Salesforce ids spent the API budget, and a STOP texted in afterwards did not reach Salesforce. Now lookups stop
at the line the opt-outs' reserve starts, misses are remembered, each client has a quota, and the STOP still arrives.
Both emulators over HTTP, the gateway's web app, a real worker and Redis."""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from gateway import create_app
from gateway.config import load_settings
from gateway.queues import SYNC
from gateway.salesforce.ids import checksum_suffix
from tests.conftest import CLIENTS
from tests.integration.sync.conftest import Stack, eventually
from tests.support import serve_in_thread, token

PHONE = "+14155552681"


def random_contact_id(rng: random.Random) -> str:
    """A well-formed Contact id (key prefix 003, right checksum) that names no record."""
    id15 = "003" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(12))
    return id15 + checksum_suffix(id15)


def lookup(base_url: str, bearer: str, crm_id: str) -> requests.Response:
    return requests.get(
        f"{base_url}/api/v1/contacts/messages",
        params={"crmId": crm_id},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )


def salesforce_calls(stack: Stack) -> int:
    return int(stack.sf.stats()["api_calls"]["total"])


def linked_subscriber(stack: Stack) -> str:
    record_id = stack.sf_create(
        "Contact", {"FirstName": "Ida", "LastName": "Wells", "MobilePhone": PHONE, "Mobile_Subscriber__c": True}
    )
    eventually(lambda: stack.sf_record("Contact", record_id).get("Messaging_Contact_Id__c"), "the link")
    eventually(lambda: stack.sync_results(record_id), "its Sync_Result__c")  # the worker is idle again
    return record_id


def test_lookups_cannot_spend_the_share_kept_for_opt_outs_and_a_stop_still_arrives(stack: Stack) -> None:
    record_id = linked_subscriber(stack)
    # The org's daily allocation is 1,000 and 700 are used: the gateway stops at 800 (SALESFORCE_API_BUDGET_SHARE
    # 0.8), and everything but opt-outs at 720 (SALESFORCE_OPT_OUT_RESERVE 0.1).
    assert stack.sf.control("POST", "limits", json={"max": 1000, "used": 700}).status_code == 200
    reader = token(stack.gateway_url, "reader", CLIENTS["reader"][0])
    rng = random.Random(11)
    ids = [random_contact_id(rng) for _ in range(60)]

    answers = [lookup(stack.gateway_url, reader, crm_id) for crm_id in ids]

    codes = [a.status_code for a in answers]
    assert set(codes) == {404, 503}, codes  # nobody has these ids; then the read share is spent
    first_refusal = codes.index(503)
    assert 0 < first_refusal <= 21 and set(codes[first_refusal:]) == {503}
    assert "API budget" in answers[first_refusal].json()["error"]["message"]
    used = stack.sf.stats()["api_usage"]["used"]
    assert 720 <= used < 730  # each miss cost one query (a Contact id is looked for among Contacts only)

    before = salesforce_calls(stack)
    again = [lookup(stack.gateway_url, reader, crm_id).status_code for crm_id in ids[:first_refusal]]
    assert again == [404] * first_refusal
    assert salesforce_calls(stack) == before  # a remembered miss costs no call

    searches = stack.sf.stats()["api_calls"]["by_class"].get("search", 0)
    started = time.monotonic()
    stack.text_in(PHONE, "STOP")
    stack.poll()  # Mobile Commons pushes no STOP: the next poll finds it
    record = eventually(
        lambda: (r := stack.sf_record("Contact", record_id)).get("Messaging_Status__c") == "Unsubscribed" and r,
        "the STOP in Salesforce, with the read share spent",
        timeout=20,
    )
    assert time.monotonic() - started < 10
    assert record["Mobile_Subscriber__c"] is False
    # matched by phone however it was typed (`find_by_phone`'s search), in the opt-out lane past the read line
    assert stack.sf.stats()["api_calls"]["by_class"].get("search", 0) > searches
    assert lookup(stack.gateway_url, reader, ids[-1]).status_code == 503  # reads still wait


@pytest.fixture
def quota_url(stack: Stack) -> Iterator[str]:
    """A web process of the same stack allowing each client 5 lookups a minute."""
    env = {**stack.env, "GATEWAY_READ_RATE_LIMIT_PER_CLIENT": "5 per minute"}
    with serve_in_thread(create_app(load_settings(env, roles=("web",)))) as url:
        yield url


def test_each_client_has_a_quota_of_lookups_that_call_out(stack: Stack, quota_url: str) -> None:
    reader = token(quota_url, "reader", CLIENTS["reader"][0])
    org = token(quota_url, "salesforce-org", CLIENTS["salesforce-org"][0])
    rng = random.Random(12)
    ids = [random_contact_id(rng) for _ in range(6)]

    answers = [lookup(quota_url, reader, crm_id) for crm_id in ids]

    assert [a.status_code for a in answers] == [404] * 5 + [429]
    refused: Any = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert refused.json()["error"]["code"] == "rate-limited" and "reader" in refused.json()["error"]["message"]
    assert lookup(quota_url, reader, ids[0]).status_code == 404  # a remembered miss is not counted
    assert lookup(quota_url, org, ids[5]).status_code == 404  # another client has its own quota


def test_a_salesforce_batch_the_budget_holds_back_waits_for_it_and_is_then_synced(stack: Stack) -> None:
    """The read-back makes every Salesforce → platform batch spend a call: when the budget says no, the batch is
    postponed (a budget window lasts hours, RQ's retries minutes), never failed or lost."""
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    queue = Queue(SYNC, connection=conn)
    assert stack.sf.control("POST", "limits", json={"max": 1000, "used": 750}).status_code == 200
    reader = token(stack.gateway_url, "reader", CLIENTS["reader"][0])
    # any call lets the gateway read the org's usage (751 of 1,000: past the 720 line of everything but opt-outs)
    assert lookup(stack.gateway_url, reader, random_contact_id(random.Random(13))).status_code in (404, 503)

    record_id = stack.sf_create("Contact", {"LastName": "Patient", "MobilePhone": "+14155552685"})

    scheduled = ScheduledJobRegistry(queue=queue)
    eventually(lambda: scheduled.count == 1, "the batch postponed")
    assert stack.mc_contact("+14155552685") is None
    assert FailedJobRegistry(queue=queue).count == 0
    # The budget frees (the next UTC day, or the org's rolling window): the gateway's last reading of the org's
    # usage expires, and the postponed job comes due (here at once, rather than after its delay).
    assert stack.sf.control("POST", "limits", json={"max": 1000, "used": 0}).status_code == 200
    conn.delete("gateway:salesforce:usage")
    (job_id,) = scheduled.get_job_ids()
    scheduled.remove(job_id)
    queue.enqueue_job(Job.fetch(job_id, connection=conn))

    eventually(lambda: stack.mc_contact("+14155552685"), "the postponed record on the platform")
    eventually(lambda: stack.sf_record("Contact", record_id).get("Messaging_Contact_Id__c"), "its link")
    assert len(eventually(lambda: stack.sync_results(record_id), "its Sync_Result__c")) == 1


def test_a_polled_person_the_budget_holds_back_waits_for_it_and_is_then_synced(stack: Stack) -> None:
    """A polled person lives only in the job the poll queued (the poll's window moves on): when the budget says no,
    the job postpones the batch, it does not spend RQ's retries (minutes) on a stop that lasts hours and then fail
    (found by `scripts/chaos`: people texting in while `REQUEST_LIMIT_EXCEEDED` paused Salesforce calls were still
    waiting for a retry when the run ended)."""
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    queue = Queue("realtime", connection=conn)
    assert stack.sf.control("POST", "limits", json={"max": 1000, "used": 750}).status_code == 200
    reader = token(stack.gateway_url, "reader", CLIENTS["reader"][0])
    assert lookup(stack.gateway_url, reader, random_contact_id(random.Random(14))).status_code in (404, 503)
    seeded = stack.mc.control().post(
        f"{stack.mc.url}/__emulator__/seed",
        json={"profiles": [{"phone": "+14155552686", "first_name": "Mary", "last_name": "Jackson"}]},
    )
    assert seeded.status_code in (200, 201), seeded.text

    stack.poll()

    scheduled = ScheduledJobRegistry(queue=queue)
    eventually(lambda: scheduled.count == 1, "the polled person postponed")
    (job_id,) = scheduled.get_job_ids()
    postponed = Job.fetch(job_id, connection=conn)
    assert "postponed" in (postponed.description or "")
    assert FailedJobRegistry(queue=queue).count == 0
    assert stack.sf.sf("admin").query("SELECT Id FROM Contact WHERE LastName = 'Jackson'")["totalSize"] == 0
    # The budget frees; the postponed job comes due (here at once, rather than after its delay).
    assert stack.sf.control("POST", "limits", json={"max": 1000, "used": 0}).status_code == 200
    conn.delete("gateway:salesforce:usage")
    scheduled.remove(job_id)
    queue.enqueue_job(postponed)

    rows = eventually(
        lambda: stack.sf.sf("admin").query("SELECT Id, FirstName FROM Contact WHERE LastName = 'Jackson'")["records"],
        "the postponed person in Salesforce",
    )
    assert rows[0]["FirstName"] == "Mary"
