"""The catch-up under real time (`gateway.sync.catch_up`, found by `scripts/chaos`: Contacts created while webhook
batches were lost in a restarted Redis's unsynced second never reached the platform): a record whose event never came
is synced by the next catch-up, once. Both emulators over HTTP, the gateway's web app, a real worker, Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from rq import Queue

from gateway import jobs
from gateway.config import load_settings
from gateway.salesforce.client import SalesforceClient
from gateway.sync import catch_up
from gateway.sync.context import SyncContext
from tests.integration.sync.conftest import Stack, eventually


def _catch_up(stack: Stack, now: datetime, accepted: list[str] | None = None) -> int:
    """What `gateway cron` runs every `CATCH_UP_SECONDS`, at `now` (the test does not wait out `SETTLE`); with
    `accepted`, the listed record ids are collected there instead of queued."""
    settings = load_settings(stack.env, roles=("worker",))
    connection = redis.Redis.from_url(stack.env["REDIS_URL"])
    assert settings.salesforce is not None
    client = SalesforceClient(settings.salesforce, redis=connection)
    context = SyncContext.build(settings, connection, salesforce=client)
    try:
        ttl = settings.dedup_ttl_seconds

        def accept(events: list[dict[str, Any]]) -> Any:
            if accepted is not None:
                return accepted.extend(event["recordId"] for event in events)
            return jobs.accept_salesforce_events(connection, catch_up.ORG, events, ttl)

        return catch_up.catch_up(context, accept, now=now)
    finally:
        context.close()


def _quiet(stack: Stack) -> None:
    queue = Queue("sync", connection=redis.Redis.from_url(stack.env["REDIS_URL"]))
    eventually(lambda: queue.count == 0 and queue.started_job_registry.count == 0, "the sync queue done")


def test_a_contact_whose_event_never_came_reaches_the_platform_with_the_next_catch_up_once(stack: Stack) -> None:
    stack.sf.control("DELETE", "relay")  # the record's event is lost on its way (no event reaches the gateway)
    phone = "+14155552691"
    record_id = stack.sf_create(
        "Contact", {"FirstName": "Lost", "LastName": "Event", "MobilePhone": phone, "Mobile_Subscriber__c": True}
    )
    later = datetime.now(UTC) + catch_up.SETTLE + timedelta(seconds=5)

    assert _catch_up(stack, later) == 1

    profile = eventually(lambda: stack.mc_contact(phone), "the profile on the platform")
    assert (profile["first_name"], profile["sms_status"]) == ("Lost", "subscribed")
    linked = eventually(
        lambda: (r := stack.sf_record("Contact", record_id)).get("Messaging_Contact_Id__c") and r, "the link"
    )
    assert linked["Messaging_Status__c"] == "Subscribed"
    _quiet(stack)

    control = f"{stack.mc.url}/__emulator__/stats"
    calls = stack.mc.control().get(control).json()["api_calls"]["total"]
    # The sync's own write-back moved SystemModstamp: listed once more, skipped as an echo without a platform call;
    # then nothing is behind, and a window listed again queues nothing twice.
    assert _catch_up(stack, later + timedelta(seconds=10)) <= 1
    _quiet(stack)
    assert _catch_up(stack, later + timedelta(seconds=20)) == 0
    assert stack.mc.control().get(control).json()["api_calls"]["total"] == calls
    assert [r["Direction__c"] for r in stack.sync_results(record_id)] == ["To Platform"]


def test_more_changes_than_one_listing_holds_are_worked_through_a_page_a_run(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mass update (a data load, a field backfill) changes more records in a minute than one catch-up lists: each
    run goes on after the last row the previous one listed, instead of listing the same first page for ever."""
    stack.sf.control("DELETE", "relay")
    monkeypatch.setattr(catch_up, "LIMIT", 2)
    ids = [stack.sf_create("Contact", {"LastName": f"Loaded{n}", "MobilePhone": f"+1415555270{n}"}) for n in range(5)]
    later = datetime.now(UTC) + catch_up.SETTLE + timedelta(seconds=5)
    listed: list[str] = []
    for run in range(3):
        _catch_up(stack, later + timedelta(seconds=run), listed)
    assert sorted(listed) == sorted(ids)
