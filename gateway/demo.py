"""`gateway demo`: the whole product on this machine, on embedded defaults, with a scenario a newcomer can watch.

It starts, as separate processes exactly as production runs them: an embedded Redis (owned by this process), the
Salesforce emulator (seeded with Contacts, relaying changes like the package's Apex), the chosen platform's emulator
(found through the platform registry; it delivers inbound texts the way that platform does), `gateway serve`,
`gateway worker` and `gateway cron`.
When everything answers it writes `var/stack.json` (DESIGN §5a). Every process it started is stopped on Ctrl-C,
SIGTERM, or at the end of the scenario with `--exit-when-done`; until then a gateway process that exits is started
again (`gateway.stack.Supervisor`), so the stack never stops because one of its processes died.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.client_secrets import hash_secret
from gateway.platforms import entry
from gateway.platforms.base import PlatformEntry
from gateway.private_files import open_private, private_dir, write_private
from gateway.redis_client import connect
from gateway.redis_server import EmbeddedRedis, die_with_parent
from gateway.stack import Supervisor

GATEWAY = [sys.executable, "-m", "gateway"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(text: str) -> None:
    print(text, flush=True)


class DemoPlatform(Protocol):
    """What a platform's emulator package tells the demo (the module a registry entry's `demo` names)."""

    def emulator_args(self, gateway_url: str, webhook_secret: str) -> list[str]:
        """Arguments after `gateway emulate <name>`: where the emulator delivers what people text."""
        ...

    def gateway_env(self, ready: Mapping[str, Any], webhook_secret: str) -> dict[str, str]:
        """The platform's variables for the gateway, from the emulator's ready line."""
        ...


def demo_platform(platform: PlatformEntry) -> DemoPlatform:
    if platform.demo is None:
        raise ValueError(f"the platform {platform.name} has no emulator for the demo")
    return cast(DemoPlatform, importlib.import_module(platform.demo))


@dataclass
class Stack:
    """The running stack: its processes, the emulators' ready lines and the environment the gateway runs with."""

    var: Path
    platform_entry: PlatformEntry
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis: EmbeddedRedis | None = None
    salesforce: dict[str, Any] = field(default_factory=dict)
    platform: dict[str, Any] = field(default_factory=dict)  # the platform emulator's ready line
    gateway_url: str = ""
    clients: dict[str, dict[str, str]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)  # each gateway process's arguments (to restart it)

    def sf_http(self) -> requests.Session:
        session = requests.Session()
        session.verify = self.salesforce["ca_bundle"]
        session.trust_env = False
        return session

    def sf_control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        with self.sf_http() as http:
            headers = {"X-Emulator-Token": self.salesforce["control_token"]}
            return http.request(
                method, f"{self.salesforce['url']}/__emulator__/{path}", headers=headers, timeout=120, **kwargs
            )

    def platform_control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The platform emulator's control API (DESIGN §6: the same for every platform)."""
        headers = {"X-Emulator-Token": self.platform["control_token"]}
        return requests.request(
            method, f"{self.platform['url']}/__emulator__/{path}", headers=headers, timeout=60, **kwargs
        )

    def poll_seconds(self, *, default: bool = False) -> int:
        """How often this stack's cron polls the platform (`default`: what production gets without the variable)."""
        prefix = self.platform_entry.prefix
        variables = {k: v for k, v in self.env.items() if k.startswith(prefix)}
        if default:
            variables.pop(f"{prefix}POLL_SECONDS", None)
        return self.platform_entry.settings(self.platform_entry.variables().load(variables)).poll_seconds

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 20 s). A second Ctrl-C does not interrupt it."""
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self) -> None:
        for proc in reversed(list(self.processes.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.processes.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None


def _signing_key(path: Path) -> None:
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_private(path, pem.decode())


def _start(
    stack: Stack, name: str, args: list[str], env: dict[str, str], *, ready_line: bool = False
) -> dict[str, Any]:
    log = open_private(stack.var / f"{name}.log")  # the child keeps it open; logs can hold payloads: 0600
    proc = subprocess.Popen(
        [*GATEWAY, *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE if ready_line else log,
        stderr=log,
        start_new_session=True,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl in the child: a killed demo takes its stack with it
    )
    stack.processes[name] = proc
    if not ready_line:
        stack.commands[name] = args
        return {}
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{name} exited before it was ready; see {stack.var / (name + '.log')}")
    return dict(json.loads(line))


def _wait(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s")


def start_stack(
    var: Path, *, contacts: int, workers: int = 1, platform: str = "mobilecommons", poll_seconds: int | None = None
) -> Stack:
    """Start every process and return once the gateway says it is ready. `poll_seconds` sets how often `gateway
    cron` polls the platform (its `<NAME>_POLL_SECONDS`; None: what the platform's demo module chose)."""
    demo = var / "demo"
    private_dir(demo)
    chosen = entry(platform)
    wiring = demo_platform(chosen)
    stack = Stack(var=demo, platform_entry=chosen)
    try:
        stack.redis = EmbeddedRedis(demo / "redis").start()
        connect(stack.redis.url).flushdb()
        _signing_key(demo / "gateway-signing-key.pem")
        stack.clients = {
            "salesforce-org": {"client_id": "salesforce-org", "client_secret": secrets.token_urlsafe(24)},
            "admin": {"client_id": "admin", "client_secret": secrets.token_urlsafe(24)},
        }
        scopes = {
            "salesforce-org": ["events:write", "conversations:read"],
            "admin": ["events:write", "conversations:read", "admin"],
        }
        oauth_clients = [
            {
                "client_id": c["client_id"],
                "secret_scrypt": hash_secret(c["client_secret"]),
                "scopes": scopes[name],
            }
            for name, c in stack.clients.items()
        ]
        port = free_port()
        stack.gateway_url = f"http://127.0.0.1:{port}"
        webhook_secret = secrets.token_urlsafe(24)

        db = demo / "salesforce.sqlite"
        for stale in demo.glob("salesforce.sqlite*"):
            stale.unlink()
        stack.salesforce = _start(
            stack, "salesforce", ["emulate", "salesforce", "--db", str(db), "--var-dir", str(var)], {}, ready_line=True
        )
        stack.platform = _start(
            stack,
            chosen.name,
            ["emulate", chosen.name, *wiring.emulator_args(stack.gateway_url, webhook_secret)],
            {},
            ready_line=True,
        )
        if contacts:
            seeded = stack.sf_control("POST", "seed?as=integration", json={"object": "Contact", "count": contacts})
            seeded.raise_for_status()
        integration = stack.salesforce["clients"]["integration"]
        stack.env = {
            "REDIS_URL": stack.redis.url,
            "GATEWAY_VAR_DIR": str(var),
            "GATEWAY_OAUTH_CLIENTS": json.dumps(oauth_clients),
            "GATEWAY_TOKEN_SIGNING_KEY": str((demo / "gateway-signing-key.pem").resolve()),
            "GATEWAY_LOG_LEVEL": "WARNING",
            "SALESFORCE_LOGIN_URL": stack.salesforce["url"],
            "SALESFORCE_CLIENT_ID": integration["client_id"],
            "SALESFORCE_CLIENT_SECRET": integration["client_secret"],
            "SALESFORCE_CA_BUNDLE": str(Path(stack.salesforce["ca_bundle"]).resolve()),
            "MESSAGING_PLATFORM": chosen.name,
            **wiring.gateway_env(stack.platform, webhook_secret),
        }
        if poll_seconds is not None:
            stack.env[f"{chosen.prefix}POLL_SECONDS"] = str(poll_seconds)
        _start(stack, "web", ["serve", "--port", str(port), "--workers", "2"], stack.env)
        for n in range(workers):
            _start(stack, f"worker-{n + 1}" if workers > 1 else "worker", ["worker"], stack.env)
        _start(stack, "scheduler", ["cron"], stack.env)
        _wait("the gateway", lambda: requests.get(f"{stack.gateway_url}/readyz", timeout=5).status_code == 200)
        org = stack.clients["salesforce-org"]
        relay = stack.sf_control(
            "POST",
            "relay",
            json={"url": stack.gateway_url, "client_id": org["client_id"], "client_secret": org["client_secret"]},
        )
        relay.raise_for_status()
        _write_stack_json(var, stack)
        return stack
    except BaseException:
        stack.stop()
        raise


def _restart(stack: Stack, name: str) -> subprocess.Popen[bytes]:
    _start(stack, name, stack.commands[name], stack.env)
    return stack.processes[name]


def _write_stack_json(var: Path, stack: Stack) -> None:
    pid = {name: proc.pid for name, proc in stack.processes.items()}
    document = {
        "gateway": {"url": stack.gateway_url, "clients": stack.clients},
        "salesforce": {
            "url": stack.salesforce["url"],
            "ca_bundle": stack.salesforce["ca_bundle"],
            "control_token": stack.salesforce["control_token"],
            "integration_username": stack.salesforce["clients"]["integration"]["username"],
            "clients": stack.salesforce["clients"],
        },
        "platforms": {
            stack.platform_entry.name: {"url": stack.platform["url"], "control_token": stack.platform["control_token"]}
        },
        "redis": {"url": stack.env["REDIS_URL"]},
        "pids": {
            "web": pid.get("web", 0),
            "worker": pid.get("worker", pid.get("worker-1", 0)),
            "scheduler": pid.get("scheduler", 0),
            **pid,
        },
        "env": stack.env,
    }
    write_private(var / "stack.json", json.dumps(document, indent=2) + "\n")


# ------------------------------------------------------------------------------------------------- the scenario


class Scenario:
    """What a newcomer watches: each step says what it does, waits for the effect, and times it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = stack.sf_http()
        admin = stack.salesforce["clients"]["admin"]
        token = self.http.post(
            f"{stack.salesforce['url']}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(admin["client_id"], admin["client_secret"]),
            timeout=30,
        ).json()["access_token"]
        self.api = f"{stack.salesforce['url']}/services/data/v62.0"
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.timings: list[tuple[str, float]] = []

    def sf(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.api}/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def query(self, soql: str) -> list[dict[str, Any]]:
        return list(self.sf("GET", "query", params={"q": soql})["records"])

    def platform_contact(self, phone: str) -> dict[str, Any] | None:
        found = self.stack.platform_control("GET", "contacts", params={"phone": phone}).json()["contacts"]
        return found[0] if found else None

    def until(self, label: str, check: Callable[[], Any], started: float, timeout: float = 60) -> Any:
        while time.monotonic() - started < timeout:
            value = check()
            if value:
                elapsed = time.monotonic() - started
                self.timings.append((label, elapsed))
                say(f"    ✓ {label}: {elapsed * 1000:.0f} ms")
                return value
            time.sleep(0.05)
        raise RuntimeError(f"{label}: nothing after {timeout:.0f} s — see var/demo/*.log")

    def results(self, record_id: str) -> list[dict[str, Any]]:
        soql = (
            "SELECT Status__c, Error_Code__c, Message__c, Direction__c FROM Sync_Result__c "  # noqa: S608 - our own id
            f"WHERE Record_Id__c = '{record_id}' ORDER BY CreatedDate"
        )
        return self.query(soql)

    def run(self) -> None:
        """The scenario that fits the platform: people synced both ways where it keeps people (`contact_store`),
        else the opt-out ledger and the conversation of a platform that only texts."""
        if self.stack.platform_entry.capabilities.contact_store:
            self._people()
        else:
            self._ledger()
        say("\nHop times (a change made → its effect seen):")
        for label, seconds in self.timings:
            say(f"  {seconds * 1000:8.0f} ms  {label}")
        entry = self.stack.platform_entry
        if not entry.capabilities.opt_out_webhooks:
            production = self.stack.poll_seconds(default=True)
            say(
                f"\nOn {entry.title} a real STOP reaches Salesforce at the next poll: up to {production} s with the "
                f"default interval ({production / 2:.0f} s on average), plus the sync itself (scripts/bench/e2e "
                "measures both)."
            )

    def _people(self) -> None:
        title = self.stack.platform_entry.title
        say("\n1. Five existing Contacts are edited in Salesforce (mobile phone, opted in) ...")
        rows = self.query("SELECT Id, FirstName, LastName FROM Contact ORDER BY CreatedDate LIMIT 5")
        phones = [f"+1415555{3000 + i:04d}" for i in range(len(rows))]
        started = time.monotonic()
        for row, phone in zip(rows, phones, strict=True):
            self.sf("PATCH", f"sobjects/Contact/{row['Id']}", json={"MobilePhone": phone, "Mobile_Subscriber__c": True})
        self.until(f"all 5 are on {title}", lambda: all(self.platform_contact(p) for p in phones), started)
        self.until(
            f"Salesforce holds their {title} ids",
            lambda: all(self.sf("GET", f"sobjects/Contact/{r['Id']}").get("Messaging_Contact_Id__c") for r in rows),
            started,
        )

        say("\n2. A new Contact is created in Salesforce ...")
        started = time.monotonic()
        created = self.sf(
            "POST",
            "sobjects/Contact/",
            json={
                "FirstName": "Ada",
                "LastName": "Lovelace",
                "MobilePhone": "(415) 555-0199",
                "Email": "ada@example.org",
                "Mobile_Subscriber__c": True,
            },
        )
        ada = created["id"]
        profile = self.until(
            f"Ada is subscribed on {title}",
            lambda: (p := self.platform_contact("+14155550199")) and p.get("sms_status") == "subscribed" and p,
            started,
        )
        say(f"      profile {profile['id']}: {profile['first_name']} {profile['last_name']}, {profile['sms_status']}")

        say("\n3. Ada texts STOP to the short code ...")
        self.stop_reaches_salesforce(ada, "+14155550199")

        say("\n4. An admin ticks Mobile_Subscriber__c again on Ada's record ...")
        self.resubscribe_is_refused(ada)
        still = self.platform_contact("+14155550199") or {}
        say(f"      {title} still has her as: {still.get('sms_status')}")

        say("\n5. A Contact is saved with a phone number that cannot be real ...")
        started = time.monotonic()
        bad = self.sf(
            "POST",
            "sobjects/Contact/",
            json={"FirstName": "Bad", "LastName": "Number", "MobilePhone": "555-01", "Mobile_Subscriber__c": True},
        )["id"]
        (failure,) = self.until("a readable Sync_Result__c explains it", lambda: self.results(bad), started)
        say(f"      {failure['Status__c']} / {failure['Error_Code__c']}: {failure['Message__c']}")

    def stop_reaches_salesforce(self, record_id: str, phone: str) -> None:
        """The person texts STOP on the platform; wait for the record to say so."""
        title = self.stack.platform_entry.title
        pushed = self.stack.platform_entry.capabilities.opt_out_webhooks
        if pushed:
            say(f"      {title} pushes the STOP to the gateway at once.")
        else:
            poll, production = self.stack.poll_seconds(), self.stack.poll_seconds(default=True)
            say(
                f"      {title} pushes no STOP: the gateway finds it by polling, every {poll} s in this demo "
                f"({self.stack.platform_entry.prefix}POLL_SECONDS; {production} s unless set)."
            )
        started = time.monotonic()
        self.stack.platform_control("POST", "inbound", json={"phone": phone, "body": "STOP"})
        record = self.until(
            "Salesforce shows Ada unsubscribed" + ("" if pushed else " (found by the poll)"),
            lambda: self.status_is(record_id, "Unsubscribed"),
            started,
        )
        opted_out = record["Messaging_Opted_Out_At__c"]
        say(f"      Mobile_Subscriber__c={record['Mobile_Subscriber__c']}, opted out at {opted_out}")

    def resubscribe_is_refused(self, record_id: str) -> None:
        """An admin opts the person in again in Salesforce; wait for the refusal in the sync log."""
        started = time.monotonic()
        self.sf("PATCH", f"sobjects/Contact/{record_id}", json={"Mobile_Subscriber__c": True})
        partial = self.until(
            "the gateway refuses to re-subscribe her",
            lambda: [r for r in self.results(record_id) if r["Status__c"] == "Partial Failure"],
            started,
        )
        say(f"      Sync_Result__c: {partial[-1]['Error_Code__c']} — {partial[-1]['Message__c'][:110]}…")

    def status_is(self, record_id: str, status: str) -> dict[str, Any] | None:
        record: dict[str, Any] = self.sf("GET", f"sobjects/Contact/{record_id}")
        return record if record.get("Messaging_Status__c") == status else None

    def conversation(self, **person: str) -> list[dict[str, Any]]:
        """A conversation from the gateway's API, by `crmId` (as the record page asks) or `phone`. Each way of
        asking is cached for a few seconds, so a step that asks again soon asks the other way."""
        org = self.stack.clients["salesforce-org"]
        url = self.stack.gateway_url
        token = requests.post(
            f"{url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(org["client_id"], org["client_secret"]),
            timeout=30,
        ).json()["access_token"]
        answer = requests.get(
            f"{url}/api/v1/contacts/messages",
            params=person,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        answer.raise_for_status()
        return list(answer.json()["messages"])

    def _ledger(self) -> None:
        """A platform that keeps no people: Salesforce's fields are the opt-out ledger; what people text is pushed."""
        title = self.stack.platform_entry.title
        phone = "+14155550199"

        def text(body: str) -> None:
            self.stack.platform_control("POST", "inbound", json={"phone": phone, "body": body})

        say(f"\n1. A Contact is created in Salesforce, opted in ({title} keeps no people: nothing is sent there) ...")
        started = time.monotonic()
        ada = self.sf(
            "POST",
            "sobjects/Contact/",
            json={
                "FirstName": "Ada",
                "LastName": "Lovelace",
                "MobilePhone": "(415) 555-0199",
                "Mobile_Subscriber__c": True,
            },
        )["id"]
        self.until("the ledger records her as subscribed", lambda: self.status_is(ada, "Subscribed"), started)

        say(f"\n2. Ada texts your {title} number a question ...")
        started = time.monotonic()
        text("Is the rally still on tonight?")
        self.until("the gateway finds her text by her phone", lambda: self.conversation(phone=phone), started)

        say("\n3. Ada texts STOP ...")
        self.stop_reaches_salesforce(ada, phone)

        say("\n4. An admin ticks Mobile_Subscriber__c again on Ada's record ...")
        self.resubscribe_is_refused(ada)
        blocked = (self.platform_contact(phone) or {}).get("blocked")
        say(f"      {title} still blocks texts to her: {blocked}")

        say("\n5. Ada texts START herself ...")
        started = time.monotonic()
        text("START")
        self.until("her own START re-subscribes her", lambda: self.status_is(ada, "Subscribed"), started)

        say("\n6. The conversation on her record page (times are whole seconds: within one, texts have no order):")
        for message in self.conversation(crmId=ada):
            arrow = "→" if message["direction"] == "outgoing" else "←"
            say(f"      {message['at']} {arrow} {message['body']}")


@contextmanager
def _interrupts() -> Iterator[None]:
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(
    var: Path, *, contacts: int, stack_only: bool, exit_when_done: bool, workers: int, platform: str = "mobilecommons"
) -> int:
    title = entry(platform).title
    say(
        f"Starting the stack (embedded Redis, Salesforce emulator with {contacts} Contacts, {title} emulator, "
        "web, worker, scheduler) ..."
    )
    with _interrupts():
        stack = start_stack(var, contacts=contacts, workers=workers, platform=platform)
        try:
            say(f"  gateway     {stack.gateway_url}  (status: {stack.gateway_url}/readyz, metrics: /metrics)")
            say(f"  salesforce  {stack.salesforce['url']}")
            say(f"  {platform:<11} {stack.platform['url']}")
            say(f"  stack file  {var / 'stack.json'} (environment, clients and pids; logs in {stack.var})")
            if not stack_only:
                Scenario(stack).run()
            if exit_when_done:
                return 0
            say("\nThe stack keeps running (a process that exits is started again); press Ctrl-C to stop it.")
            Supervisor(
                stack.processes,
                restartable=stack.commands,
                start=lambda name: _restart(stack, name),
                changed=lambda: _write_stack_json(var, stack),
                say=say,
                logs=stack.var,
            ).run()
            return 0
        except KeyboardInterrupt:
            return 0
        finally:
            say("Stopping every process ...")
            stack.stop()
