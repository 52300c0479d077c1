"""The conversation and campaigns API over HTTP, against Mobile Commons holding real histories."""

from __future__ import annotations

import time

import requests

from tests.conftest import CLIENTS
from tests.integration.api.conftest import LONG_HISTORY, Histories
from tests.integration.sync.conftest import eventually
from tests.support import token


def test_a_long_conversation_pages_back_to_its_first_message_newest_last(histories: Histories, reader: str) -> None:
    person = histories.talkative
    first = histories.get(f"/api/v1/contacts/{person.platform_id}/messages", reader, limit=50)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["supported"] is True
    assert body["platform"] == "mobilecommons"
    assert body["contact"] == {"platformId": person.platform_id, "phone": person.phone}
    assert body["counts"]["incoming"] + body["counts"]["outgoing"] == LONG_HISTORY
    assert body["counts"]["incoming"] > 0 and body["counts"]["outgoing"] > 0
    assert len(body["messages"]) == 50
    assert body["messages"][-1]["body"].endswith(f"(#{LONG_HISTORY})")  # the newest message closes the page

    seen = list(body["messages"])
    cursor = body["nextBefore"]
    while cursor:
        older = histories.get(f"/api/v1/contacts/{person.platform_id}/messages", reader, limit=50, before=cursor)
        assert older.status_code == 200, older.text
        seen = older.json()["messages"] + seen
        cursor = older.json()["nextBefore"]
    assert len(seen) == LONG_HISTORY
    assert len({m["id"] for m in seen}) == LONG_HISTORY
    assert [m["at"] for m in seen] == sorted(m["at"] for m in seen)
    assert seen[0]["body"].endswith("(#1)")
    for message in seen:
        assert message["direction"] in ("incoming", "outgoing")
        if message["direction"] == "incoming":
            assert message["reason"] is None and message["status"] == "received"
        else:
            assert message["reason"] in ("campaign", "live-agent", "automation", "other")
    broadcasts = [m for m in seen if m["reason"] == "campaign"]
    assert broadcasts and all(m["campaignName"] for m in broadcasts)
    assert {m["reason"] for m in seen} >= {"campaign", "live-agent", "automation"}


def test_the_same_conversation_is_found_by_phone_and_by_salesforce_id(histories: Histories, reader: str) -> None:
    person = histories.talkative
    by_id = histories.get(f"/api/v1/contacts/{person.platform_id}/messages", reader, limit=5).json()
    by_phone = histories.get("/api/v1/contacts/messages", reader, phone="(415) 555-0101", limit=5).json()
    by_record = histories.get("/api/v1/contacts/messages", reader, crmId=person.record_id, limit=5).json()
    assert by_phone["contact"]["platformId"] == by_record["contact"]["platformId"] == person.platform_id
    assert by_phone["messages"] == by_record["messages"] == by_id["messages"]


def test_a_person_without_messages_gets_an_empty_conversation(histories: Histories, reader: str) -> None:
    answer = histories.get(f"/api/v1/contacts/{histories.silent.platform_id}/messages", reader)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "contact": {"platformId": histories.silent.platform_id, "phone": histories.silent.phone},
        "supported": True,
        "platform": "mobilecommons",
        "platformTitle": "Mobile Commons",
        "messages": [],
        "counts": {"incoming": 0, "outgoing": 0},
        "nextBefore": None,
    }


def test_campaigns_list_the_person_s_subscription(histories: Histories, reader: str) -> None:
    answer = histories.get(f"/api/v1/contacts/{histories.talkative.platform_id}/campaigns", reader)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["supported"] is True
    assert body["count"] == len(body["campaigns"]) == 1
    (campaign,) = body["campaigns"]
    assert campaign["id"] == str(histories.stack.mc.campaign_id)
    assert campaign["name"] and campaign["type"] == "campaign" and campaign["status"] == "active"
    assert campaign["at"].endswith("Z")


def test_unknown_people_and_bad_requests_get_readable_errors(histories: Histories, reader: str) -> None:
    unknown = histories.get("/api/v1/contacts/999999/messages", reader)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not-found"
    nobody = histories.get("/api/v1/contacts/messages", reader, phone="+14155550199")
    assert nobody.status_code == 404
    bad_phone = histories.get("/api/v1/contacts/messages", reader, phone="12")
    assert bad_phone.status_code == 400
    assert bad_phone.json()["error"]["code"] == "invalid-phone"
    bad_limit = histories.get(f"/api/v1/contacts/{histories.talkative.platform_id}/messages", reader, limit=0)
    assert bad_limit.status_code == 400
    assert "limit" in bad_limit.json()["error"]["fields"]
    bad_cursor = histories.get(f"/api/v1/contacts/{histories.talkative.platform_id}/messages", reader, before="x")
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["error"]["code"] == "invalid-cursor"
    nameless = histories.get("/api/v1/contacts/messages", reader)
    assert nameless.status_code == 400


def test_the_conversation_is_cached_briefly_then_shows_new_texts(
    histories: Histories, reader: str, short_cache_url: str
) -> None:
    person = histories.talkative
    path = f"/api/v1/contacts/{person.platform_id}/messages"
    before = histories.get(path, reader, base=short_cache_url, limit=5).json()
    histories.stack.text_in(person.phone, "Is the rally still on?")
    cached = histories.get(path, reader, base=short_cache_url, limit=5).json()
    assert cached == before  # served from the cache: the new text is not there yet

    time.sleep(2.1)
    fresh = eventually(
        lambda: (
            (b := histories.get(path, reader, base=short_cache_url, limit=5).json())["counts"] != before["counts"] and b
        ),
        "the new text after the cache expired",
    )
    assert fresh["counts"]["incoming"] == before["counts"]["incoming"] + 1
    assert "Is the rally still on?" in [m["body"] for m in fresh["messages"]]


def test_scopes_are_enforced(histories: Histories) -> None:
    url = histories.stack.gateway_url
    path = f"/api/v1/contacts/{histories.talkative.platform_id}/messages"
    missing = histories.get(path)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid-token"
    assert "Bearer" in missing.headers["WWW-Authenticate"]
    forged = histories.get(path, "not-a-token")
    assert forged.status_code == 401
    events_only = token(url, "salesforce-org", CLIENTS["salesforce-org"][0], scope="events:write")
    refused = histories.get(path, events_only)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient-scope"
    campaigns = f"/api/v1/contacts/{histories.talkative.platform_id}/campaigns"
    assert histories.get(campaigns, events_only).status_code == 403
    assert histories.get("/api/v1/status", events_only).status_code == 403
    reader_only = token(url, "reader", CLIENTS["reader"][0])
    assert histories.get("/api/v1/status", reader_only).status_code == 200
    refused_resend = requests.post(
        f"{url}/api/v1/sync-results/a00000000000000AAA/resend",
        headers={"Authorization": f"Bearer {reader_only}"},
        timeout=10,
    )
    assert refused_resend.status_code == 403


def test_a_platform_without_history_answers_with_its_capability(gateway_url: str) -> None:
    reader = token(gateway_url, "reader", CLIENTS["reader"][0])
    headers = {"Authorization": f"Bearer {reader}"}
    messages = requests.get(f"{gateway_url}/api/v1/contacts/p-1/messages", headers=headers, timeout=10)
    assert messages.status_code == 200, messages.text
    assert messages.json()["supported"] is False
    assert messages.json()["platform"] == "recording"
    assert messages.json()["messages"] == []
    campaigns = requests.get(f"{gateway_url}/api/v1/contacts/p-1/campaigns", headers=headers, timeout=10)
    assert campaigns.json() == {"supported": False, "campaigns": [], "count": 0}


def test_ids_in_the_path_and_query_are_matched_whole(gateway_url: str) -> None:
    reader = token(gateway_url, "reader", CLIENTS["reader"][0])
    headers = {"Authorization": f"Bearer {reader}"}
    for path, params in (
        ("/api/v1/contacts/messages", {"crmId": "003000000000001AAA\n"}),
        ("/api/v1/contacts/messages", {"crmId": "003000000000001AAB"}),  # the checksum of another id
        ("/api/v1/contacts/abc%0A/messages", {}),
    ):
        answer = requests.get(f"{gateway_url}{path}", params=params, headers=headers, timeout=10)
        assert answer.status_code == 400, (path, params, answer.text)
