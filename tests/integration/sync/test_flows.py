"""Both directions through the real stack: a Salesforce edit reaches Mobile Commons, a STOP reaches Salesforce,
every sync leaves a `Sync_Result__c`, opt-out is sticky, and a failed sync can be resent."""

from __future__ import annotations

import time

from tests.integration.sync.conftest import Stack, api, eventually


def _contact(phone: str, **extra: object) -> dict[str, object]:
    return {
        "FirstName": "Grace",
        "LastName": "Hopper",
        "MobilePhone": phone,
        "Email": "grace@example.org",
        "Mobile_Subscriber__c": True,
        **extra,
    }


def test_a_salesforce_contact_reaches_the_platform_and_is_linked_back(stack: Stack) -> None:
    record_id = stack.sf_create("Contact", _contact("(415) 555-2671"))
    profile = eventually(lambda: stack.mc_contact("+14155552671"), "the profile on Mobile Commons")
    assert profile["first_name"] == "Grace"
    assert profile["email"] == "grace@example.org"
    assert profile["sms_status"] == "subscribed"
    linked = eventually(
        lambda: (r := stack.sf_record("Contact", record_id)).get("Messaging_Contact_Id__c") and r,
        "the platform id written back to Salesforce",
    )
    assert linked["Messaging_Contact_Id__c"] == str(profile["id"])
    assert linked["Messaging_Status__c"] == "Subscribed"
    (result,) = eventually(lambda: stack.sync_results(record_id), "the Sync_Result__c")
    assert result["Direction__c"] == "To Platform"
    assert result["Status__c"] == "Success"
    assert result["Platform_Contact_Id__c"] == str(profile["id"])
    assert "secret" not in (result["Request_Body__c"] or "").lower()


def test_an_edit_updates_the_same_profile_and_an_echo_changes_nothing(stack: Stack) -> None:
    record_id = stack.sf_create("Contact", _contact("+1 415 555 2672"))
    eventually(lambda: stack.sf_record("Contact", record_id).get("Messaging_Contact_Id__c"), "the link")
    stack.sf_update("Contact", record_id, {"FirstName": "Amazing Grace"})
    eventually(lambda: (stack.mc_contact("+14155552672") or {}).get("first_name") == "Amazing Grace", "the edit")
    calls_before = stack.mc.control().get(f"{stack.mc.url}/__emulator__/stats").json()["api_calls"]["total"]
    # the gateway's own write-back (as the integration user) is not relayed, so nothing more reaches the platform
    time.sleep(1.5)
    calls_after = stack.mc.control().get(f"{stack.mc.url}/__emulator__/stats").json()["api_calls"]["total"]
    assert calls_after == calls_before
    assert [r["Status__c"] for r in stack.sync_results(record_id)] == ["Success", "Success"]


def test_stop_on_the_platform_unsubscribes_the_salesforce_record_and_stays_sticky(stack: Stack) -> None:
    record_id = stack.sf_create("Contact", _contact("+14155552673"))
    eventually(lambda: stack.sf_record("Contact", record_id).get("Messaging_Contact_Id__c"), "the link")
    started = time.monotonic()
    assert stack.text_in("+14155552673", "STOP")["mdata"] is None  # Mobile Commons pushes no STOP ...
    stack.poll()  # ... the next poll finds it
    record = eventually(
        lambda: (r := stack.sf_record("Contact", record_id)).get("Messaging_Status__c") == "Unsubscribed" and r,
        "the STOP in Salesforce",
    )
    assert time.monotonic() - started < 10
    assert record["Mobile_Subscriber__c"] is False
    assert record["Messaging_Opted_Out_At__c"]
    assert stack.mc_contact("+14155552673")["sms_status"] == "unsubscribed"

    # An admin ticks the box again: the person who said STOP is not re-subscribed, and the admin is told why.
    stack.sf_update("Contact", record_id, {"Mobile_Subscriber__c": True, "FirstName": "Still Grace"})
    eventually(lambda: (stack.mc_contact("+14155552673") or {}).get("first_name") == "Still Grace", "the edit")
    assert stack.mc_contact("+14155552673")["sms_status"] == "unsubscribed"
    partial = eventually(
        lambda: [r for r in stack.sync_results(record_id) if r["Status__c"] == "Partial Failure"],
        "the partial failure",
    )
    assert partial[-1]["Error_Code__c"] == "invalid-messaging-status"
    assert "STOP" in partial[-1]["Message__c"]


def test_a_bad_phone_leaves_a_readable_failure_that_an_admin_can_resend(stack: Stack) -> None:
    record_id = stack.sf_create("Contact", _contact("12345"))
    (failure,) = eventually(lambda: stack.sync_results(record_id), "the Sync_Result__c")
    assert failure["Status__c"] == "Failure"
    assert failure["Error_Code__c"] == "invalid-phone"
    assert "12345" in failure["Message__c"] and "Correct it" in failure["Message__c"]
    assert stack.mc.control().get(f"{stack.mc.url}/__emulator__/contacts").json()["contacts"] == []

    admin = stack.admin_token()
    refused = api(stack, "POST", f"/api/v1/sync-results/{failure['Id']}/resend", bearer=token_without_admin(stack))
    assert refused.status_code == 403
    resent = api(stack, "POST", f"/api/v1/sync-results/{failure['Id']}/resend", bearer=admin)
    assert resent.status_code == 202, resent.text
    assert resent.json()["direction"] == "To Platform"
    results = eventually(lambda: len(r := stack.sync_results(record_id)) == 2 and r, "the replayed result")
    assert results[0]["Resent_At__c"]
    assert results[1]["Error_Code__c"] == "invalid-phone"  # replayed as stored: still the bad phone
    missing = api(stack, "POST", "/api/v1/sync-results/a00000000000000AAA/resend", bearer=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not-found"


def token_without_admin(stack: Stack) -> str:
    from tests.conftest import CLIENTS
    from tests.support import token

    return token(stack.gateway_url, "salesforce-org", CLIENTS["salesforce-org"][0])


def test_a_profile_created_on_the_platform_becomes_a_salesforce_contact_through_polling(stack: Stack) -> None:
    seeded = stack.mc.control().post(
        f"{stack.mc.url}/__emulator__/seed",
        json={
            "profiles": [
                {"phone": "+14155552674", "first_name": "Katherine", "last_name": "Johnson", "email": "kj@example.org"}
            ]
        },
    )
    assert seeded.status_code in (200, 201), seeded.text
    stack.poll()
    rows = eventually(
        lambda: stack.sf.sf("admin").query(
            "SELECT Id, FirstName, LastName, Email, MobilePhone, Messaging_Contact_Id__c FROM Contact "
            "WHERE LastName = 'Johnson'"
        )["records"],
        "the new Salesforce contact",
    )
    assert rows[0]["FirstName"] == "Katherine"
    assert rows[0]["Messaging_Contact_Id__c"]
    (result,) = eventually(lambda: [r for r in stack.sync_results() if r["Direction__c"] == "To Salesforce"], "log")
    assert result["Status__c"] == "Success"


def test_a_new_contact_not_opted_in_is_created_unsubscribed_and_an_opt_out_edit_keeps_its_other_changes(
    stack: Stack,
) -> None:
    quiet = stack.sf_create("Contact", _contact("+14155552675", Mobile_Subscriber__c=False))
    profile = eventually(lambda: stack.mc_contact("+14155552675"), "the profile, created without a subscription")
    assert profile["sms_status"] != "subscribed"
    (result,) = eventually(lambda: stack.sync_results(quiet), "its Sync_Result__c")
    assert result["Status__c"] == "Success", result["Message__c"]

    loud = stack.sf_create("Contact", _contact("+14155552676"))
    eventually(lambda: (stack.mc_contact("+14155552676") or {}).get("sms_status") == "subscribed", "the subscriber")
    stack.sf_update("Contact", loud, {"FirstName": "Renamed", "Mobile_Subscriber__c": False})
    eventually(
        lambda: (
            (c := stack.mc_contact("+14155552676") or {}).get("sms_status") == "unsubscribed"
            and c.get("first_name") == "Renamed"
        ),
        "the opt-out together with the rename",
    )


def test_a_poll_that_reads_back_only_the_gateways_own_writes_queues_nothing_and_a_stop_still_goes_through(
    stack: Stack,
) -> None:
    import redis
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    connection = redis.Redis.from_url(stack.env["REDIS_URL"])
    realtime = Queue("realtime", connection=connection)
    record_id = stack.sf_create("Contact", _contact("+14155552676"))
    eventually(lambda: stack.mc_contact("+14155552676"), "the profile the sync created")

    def polled() -> list[str]:
        """Poll once, as `gateway cron` does; the functions of the jobs the poll queued."""
        before = set(FinishedJobRegistry("realtime", connection=connection).get_job_ids())
        job = realtime.enqueue("gateway.jobs.poll_platform_changes")
        eventually(lambda: job.get_status(refresh=True) == "finished", "the poll")
        time.sleep(1.0)  # anything the poll queued has run by now (one worker, realtime first)
        after = set(FinishedJobRegistry("realtime", connection=connection).get_job_ids()) - before - {job.id}
        queued = [j.func_name for j in realtime.job_class.fetch_many(list(after), connection=connection) if j]
        return queued + [j.func_name for j in realtime.get_jobs()]

    # the profile the gateway wrote, read back: an echo, skipped before any job is queued for it
    assert "gateway.jobs.sync_platform_contacts" not in polled()

    stack.text_in("+14155552676", "STOP")
    assert "gateway.jobs.sync_platform_contacts" in polled()
    eventually(
        lambda: stack.sf_record("Contact", record_id).get("Messaging_Status__c") == "Unsubscribed",
        "the STOP in Salesforce",
    )
