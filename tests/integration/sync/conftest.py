"""The whole product on one machine: Salesforce emulator (with its relay), Mobile Commons emulator, the gateway's
web app over HTTP, a real `gateway worker` and a real Redis."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests
from rq import Queue

from gateway import create_app
from gateway.config import load_settings
from gateway.emulators.mobilecommons.server import MobileCommonsEmulator
from tests.conftest import CLIENTS
from tests.integration.gateway.conftest import sf, sf_server, sync_env  # noqa: F401 - fixtures reused here
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import Process, serve_in_thread, token, wait_for

MDATA_KEYWORD = "JOIN"  # the keyword whose mData calls the gateway (STOP never reaches mData)


@dataclass
class Stack:
    sf: Emulator
    mc: MobileCommonsEmulator
    gateway_url: str
    env: dict[str, str]

    def admin_token(self) -> str:
        return token(self.gateway_url, "admin-console", CLIENTS["admin-console"][0])

    def sf_create(self, sobject: str, values: dict[str, Any], user: str = "admin") -> str:
        """A change made in Salesforce by `user` (the relay publishes it unless `user` is the integration user)."""
        response = self.sf.control("POST", f"records/{sobject}?as={user}", json=values)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def sf_update(self, sobject: str, record_id: str, values: dict[str, Any], user: str = "admin") -> None:
        response = self.sf.control("PATCH", f"records/{sobject}/{record_id}?as={user}", json=values)
        assert response.status_code == 204, response.text

    def sf_record(self, sobject: str, record_id: str) -> dict[str, Any]:
        return self.sf.record(sobject, record_id)

    def sync_results(self, record_id: str | None = None) -> list[dict[str, Any]]:
        where = f" WHERE Record_Id__c = '{record_id}'" if record_id else ""
        soql = (
            "SELECT Id, Direction__c, Status__c, Error_Code__c, Message__c, Request_Endpoint__c, Request_Body__c, "
            f"Record_Id__c, Object__c, Platform__c, Platform_Contact_Id__c, Resent_At__c FROM Sync_Result__c{where} "
            "ORDER BY CreatedDate"
        )
        return list(self.sf.sf("admin").query_all(soql)["records"])

    def mc_contact(self, phone: str) -> dict[str, Any] | None:
        contacts = self.mc.control().get(f"{self.mc.url}/__emulator__/contacts", params={"phone": phone}).json()
        found = contacts["contacts"]
        return found[0] if found else None

    def text_in(self, phone: str, body: str) -> dict[str, Any]:
        """A person texts `body`; only an mData keyword's texts are pushed to the gateway (never STOP)."""
        response = self.mc.control().post(f"{self.mc.url}/__emulator__/inbound", json={"phone": phone, "body": body})
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def poll(self) -> None:
        """What `gateway cron` does every MOBILECOMMONS_POLL_SECONDS: queue a poll of the changed profiles."""
        Queue("realtime", connection=redis.Redis.from_url(self.env["REDIS_URL"])).enqueue(
            "gateway.jobs.poll_platform_changes"
        )


def mobilecommons_env(mc: MobileCommonsEmulator, webhook_secret: str) -> dict[str, str]:
    """The variables that point a gateway at the Mobile Commons emulator `mc`."""
    return {
        "MESSAGING_PLATFORM": "mobilecommons",
        "MOBILECOMMONS_BASE_URL": mc.api_url,
        "MOBILECOMMONS_USERNAME": mc.username,
        "MOBILECOMMONS_PASSWORD": mc.password,
        "MOBILECOMMONS_CAMPAIGN_ID": str(mc.campaign_id),
        "MOBILECOMMONS_OPT_IN_PATH_ID": str(mc.opt_in_path_id),
        "MOBILECOMMONS_WEBHOOK_SECRET": webhook_secret,
    }


@pytest.fixture
def stack(sync_env: dict[str, str], sf: Emulator) -> Iterator[Stack]:  # noqa: F811 - pytest fixture injection
    webhook_secret = secrets.token_urlsafe(24)
    with MobileCommonsEmulator() as mc:
        env = {**sync_env, **mobilecommons_env(mc, webhook_secret)}
        settings = load_settings(env, roles=("web", "worker"))
        with serve_in_thread(create_app(settings)) as url:
            mc.app.configure_mdata(MDATA_KEYWORD, f"{url}/webhooks/platforms/mobilecommons/{webhook_secret}")
            org_id, org_secret = "salesforce-org", CLIENTS["salesforce-org"][0]
            relay = sf.control("POST", "relay", json={"url": url, "client_id": org_id, "client_secret": org_secret})
            assert relay.status_code == 200, relay.text
            worker = Process(["worker"], env)
            try:
                yield Stack(sf=sf, mc=mc, gateway_url=url, env=env)
            finally:
                worker.stop()
                sf.control("DELETE", "relay")


def eventually(predicate: Any, what: str, timeout: float = 30) -> Any:
    return wait_for(predicate, timeout=timeout, interval=0.1, what=what)


def api(stack: Stack, method: str, path: str, bearer: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{stack.gateway_url}{path}", headers={"Authorization": f"Bearer {bearer}"}, timeout=30, **kwargs
    )
