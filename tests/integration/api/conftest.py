"""The API suite runs against the whole stack (`stack`: both emulators, the gateway over HTTP, a real worker) with
Mobile Commons holding real histories: a person with 320 messages, one with none, each linked to a Salesforce
Contact the way the sync links them (the platform id in `Messaging_Contact_Id__c`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from gateway import create_app
from gateway.config import load_settings
from tests.conftest import CLIENTS
from tests.integration.gateway.conftest import gateway_url, org_id, sf, sf_server, sync_env  # noqa: F401 - fixtures
from tests.integration.sync.conftest import Stack, stack  # noqa: F401 - fixtures reused here
from tests.support import serve_in_thread, token

LONG_HISTORY = 320


@dataclass
class Person:
    platform_id: str
    phone: str
    record_id: str


@dataclass
class Histories:
    stack: Stack
    talkative: Person  # 320 messages
    silent: Person  # no message at all

    def get(self, path: str, bearer: str | None = None, base: str | None = None, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return requests.get(f"{base or self.stack.gateway_url}{path}", headers=headers, params=params, timeout=30)


def _seed_profile(on: Stack, phone: str, first_name: str, messages: int) -> str:
    answer = on.mc.control().post(
        f"{on.mc.url}/__emulator__/seed",
        json={"profiles": [{"phone": phone, "first_name": first_name, "last_name": "Example", "messages": messages}]},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["profiles"][0]["id"])


def _linked_contact(on: Stack, phone: str, platform_id: str, last_name: str) -> str:
    """A Contact already linked to the platform (seeded: a data load, so nothing is relayed to the gateway)."""
    national = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"  # as a person types it into Salesforce
    answer = on.sf.control(
        "POST",
        "seed",
        json={
            "object": "Contact",
            "records": [{"LastName": last_name, "MobilePhone": national, "Messaging_Contact_Id__c": platform_id}],
        },
    )
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["ids"][0])


@pytest.fixture
def histories(stack: Stack) -> Histories:  # noqa: F811 - pytest fixture injection
    talkative_phone, silent_phone = "+14155550101", "+14155550102"
    talkative_id = _seed_profile(stack, talkative_phone, "Ada", LONG_HISTORY)
    silent_id = _seed_profile(stack, silent_phone, "Quiet", 0)
    return Histories(
        stack=stack,
        talkative=Person(
            talkative_id, talkative_phone, _linked_contact(stack, talkative_phone, talkative_id, "Talker")
        ),
        silent=Person(silent_id, silent_phone, _linked_contact(stack, silent_phone, silent_id, "Silent")),
    )


@pytest.fixture
def reader(stack: Stack) -> str:  # noqa: F811
    """A token of the org's Named Credential client (events:write + conversations:read)."""
    return token(stack.gateway_url, "salesforce-org", CLIENTS["salesforce-org"][0])


@pytest.fixture
def short_cache_url(stack: Stack) -> Iterator[str]:  # noqa: F811
    """A second web process of the same stack whose conversation cache lives 2 seconds."""
    app = create_app(load_settings(stack.env, roles=("web",)))
    app.config["GATEWAY_HISTORY_CACHE_SECONDS"] = 2
    with serve_in_thread(app) as url:
        yield url
