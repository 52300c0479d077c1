"""Chaos on the local stack: nothing lost, nothing doubled, nobody re-texted, no failure out of sight.

The whole stack (`gateway.demo.start_stack`: embedded Redis with AOF `everysec`, the Salesforce and Mobile Commons
emulators, `gateway serve`, 4 `gateway worker`s, `gateway cron`), kept up as `gateway demo --stack-only` keeps it
(`gateway.stack.Supervisor` restarts a process that died). For `--minutes`, at a seeded rate and at most
`--max-changes` changes, people change on both sides:

- in Salesforce (as an admin, through the emulator's record API, which fires the package's triggers as an API call
  does — the faults injected into the REST API are the gateway's alone): names and emails edited (sometimes twice
  within a second, so two jobs hold one record), Contacts created, opted out, and ticked subscribed again;
- on the platform: linked people text the mData keyword, text STOP, text START; strangers text the keyword (each
  must end as a Contact, or with a `Sync_Result__c` saying why not: Mobile Commons gives a stranger no last name).

Meanwhile, at seeded random moments, faults of each kind are injected:

- `worker_kill`: a worker's process group SIGKILLed (mid-job when one is busy); `worker_stop`: a worker SIGSTOPped
  for longer than its jobs' heartbeat lets it hold them, then SIGCONT; `horse_kill`: the work horse of a running job
  SIGKILLed; `redis_restart`: the embedded Redis SIGKILLed (what the AOF had not fsynced is lost) and started again;
- Salesforce `sf_503`, `sf_lock` (`UNABLE_TO_LOCK_ROW` answering a whole call), `sf_row_lock` (every record of the
  next sObject Collections writes refused with `UNABLE_TO_LOCK_ROW`, HTTP 200, past the client's own retries),
  `sf_limit` (`REQUEST_LIMIT_EXCEEDED`), `sf_slow`
  (the emulator's `/__emulator__/faults`); Mobile Commons `mc_429`, `mc_5xx`, `mc_rate` (its error 27),
  `mc_timeout` (an answer later than the adapter's read timeout; the call is applied all the same);
- `webhook_dup`, `webhook_late`: the Salesforce relay's batches go through a proxy here that delivers some twice
  and holds some back behind later ones.

Then the faults stop, stopped workers resume, and the run waits for quiet, checking each person on both sides until
all agree or `--settle` s pass. It counts: **lost** (a change whose final value is not on the other side: names,
email, opt status, link), **duplicated** (two platform profiles for one record, two records for one phone),
**re-texted** (API calls that subscribe or text a number whose own STOP is in force, counted by the platform
emulator), **invisible** (a lost change with no `Sync_Result__c` failure and no failed job naming its record), and
the time to converge. A table, then one JSON line `{"bench": "chaos", …}`.

Expected opt status follows the platform's rules: a STOP or a Salesforce opt-out unsubscribes; only the person's
own START subscribes again (a Salesforce re-tick after an opt-out changes nothing). A Contact created and opted out
in Salesforce before its first sync is created on the platform without a subscription (Mobile Commons "unknown",
Salesforce "Not Synced"): not subscribed, which is what the opt-out asked. An opt change that is a no-op where it is
made, because the other side's earlier one had not arrived yet (a START texted while the platform still has the
person subscribed: the admin's opt-out was held by a `REQUEST_LIMIT_EXCEEDED` pause; an admin unticking a box the
person's STOP already unticked, whose START has not reached Salesforce yet), may end either way, as long as both
sides agree: neither side can see it (the run checks, when it makes the change, whether it is such a no-op).
Opt-status changes of one person are spaced `--opt-gap` s apart, so that their order is the order they were made
in; names and emails change at any moment. A process fault (`worker_kill`, `worker_stop`, `horse_kill`) that finds
nothing to hit at its moment is tried again a second later until it fires, so each requested kind is injected.
Loopback only; every process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from rq import Queue
from rq.registry import FailedJobRegistry
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.demo import Stack, _restart, start_stack
from gateway.queues import QUEUES
from gateway.redis_server import EmbeddedRedis
from gateway.stack import Supervisor

WORKERS = 4
HARD_FAULTS = ("worker_kill", "worker_stop", "horse_kill")
RETRY_HARD_FAULT_S = 1.0  # a process fault with nothing to hit is tried again this much later
HARD_FAULT_GRACE_S = 60.0  # how long after the changes stop a process fault still due may be injected
FAULT_KINDS = (
    "worker_kill",
    "worker_stop",
    "horse_kill",
    "redis_restart",
    "sf_503",
    "sf_lock",
    "sf_row_lock",
    "sf_limit",
    "sf_slow",
    "mc_429",
    "mc_5xx",
    "mc_rate",
    "mc_timeout",
)
CHANGE_WEIGHTS = {
    "sf_edit": 30,
    "sf_edit_twice": 8,
    "sf_create": 8,
    "sf_opt_out": 6,
    "sf_resubscribe": 4,
    "mc_text": 10,
    "mc_stop": 8,
    "mc_start": 6,
    "mc_stranger": 3,
}
MC_READ_TIMEOUT = 30  # the adapter's read timeout (MobileCommonsSettings.read_timeout_seconds)
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Margaret")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Hamilton")


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Person:
    """One person the run follows: their record, their phone, and the opt status both sides must end with."""

    phone: str
    record_id: str | None = None
    subscribed: bool = True
    opt_changed_at: float = -1e9
    stranger: bool = False
    either: bool = False  # an opt change whose order of arrival is not known: either ending, if both sides agree
    last_opt: str = ""
    created: bool = False  # created in Salesforce during the run (else linked before it)
    history: list[str] = field(default_factory=list)

    @property
    def never_subscribed(self) -> bool:
        """Created during the run and opted out by an admin, with no START since: their first sync may have come
        after the opt-out, creating them on the platform without a subscription."""
        return self.created and self.last_opt == "sf_opt_out"


@dataclass
class Counts:
    changes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    deferred: Counter[str] = field(default_factory=Counter)  # process faults tried again later (nothing to hit)


# ------------------------------------------------------------------------------------------- the replaying proxy


class RelayProxy:
    """Stands between the Salesforce emulator's relay and the gateway: forwards every call, and delivers some webhook
    batches a second time later (`dup`) or answers the relay at once and delivers the batch only after later ones
    (`late`). A batch it took over is delivered until the gateway accepts it."""

    def __init__(self, target: str, rng: random.Random, counts: Counts, dup: float, late: float) -> None:
        self.target = target.rstrip("/")
        self.rng = rng
        self.counts = counts
        self.dup, self.late = dup, late
        self.enabled = True
        self.lock = threading.Lock()
        self.pending = 0
        self.refused: list[str] = []
        self.http = requests.Session()
        self.http.trust_env = False
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        url = self.target + request.full_path.rstrip("?")
        webhook = request.path == "/webhooks/salesforce"
        with self.lock:
            roll = self.rng.random()
            delay = self.rng.uniform(1.0, 8.0)
        if webhook and self.enabled and roll < self.late:
            self.counts.faults["webhook_late"] += 1
            self._later(url, headers, body, delay)
            response = Response(json.dumps({"accepted": 0, "held": True}), 202, content_type="application/json")
            return response(environ, start_response)
        try:
            answer = self.http.request(request.method, url, data=body, headers=headers, timeout=60)
        except requests.RequestException as exc:
            return Response(str(exc), 502)(environ, start_response)
        if webhook and self.enabled and 200 <= answer.status_code < 300 and roll < self.late + self.dup:
            self.counts.faults["webhook_dup"] += 1
            self._later(url, headers, body, delay)
        response = Response(answer.content, answer.status_code, content_type=answer.headers.get("Content-Type"))
        return response(environ, start_response)

    def _later(self, url: str, headers: dict[str, str], body: bytes, delay: float) -> None:
        with self.lock:
            self.pending += 1

        def deliver() -> None:
            time.sleep(delay)
            try:
                for _ in range(600):
                    try:
                        answer = self.http.post(url, data=body, headers=headers, timeout=60)
                    except requests.RequestException:
                        time.sleep(1)
                        continue
                    if 200 <= answer.status_code < 300:
                        return
                    if answer.status_code < 500 and answer.status_code not in (401, 408, 429):
                        self.refused.append(f"{answer.status_code} {answer.text[:200]}")
                        return
                    time.sleep(1)
            finally:
                with self.lock:
                    self.pending -= 1

        threading.Thread(target=deliver, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


# ------------------------------------------------------------------------------------------------- the run


class Chaos:
    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack = stack
        self.args = args
        self.rng = random.Random(args.seed)
        self.counts = Counts()
        self.people: list[Person] = []
        self.sf = stack.sf_http()
        self.sf.headers["X-Emulator-Token"] = stack.salesforce["control_token"]
        self.mc = requests.Session()
        self.mc.trust_env = False
        self.mc.headers["X-Emulator-Token"] = stack.platform["control_token"]
        self.stopped: dict[str, float] = {}  # worker name -> when to resume it
        self.log: list[str] = []
        self.supervisor = Supervisor(
            stack.processes,
            restartable=stack.commands,
            start=lambda name: _restart(stack, name),
            changed=lambda: None,
            say=self.note,
            logs=stack.var,
        )
        self.proxy = RelayProxy(
            stack.gateway_url, random.Random(args.seed + 1), self.counts, dup=args.dup, late=args.late
        )
        org = stack.clients["salesforce-org"]
        self.sf_control(
            "POST",
            "relay",
            {"url": self.proxy.url, "client_id": org["client_id"], "client_secret": org["client_secret"]},
        )

    def note(self, text: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {text}")
        if self.args.verbose:
            say(f"  · {text}")

    # -- emulator access (control APIs: not API calls, never subject to the injected faults)

    def sf_control(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.stack.salesforce['url']}/__emulator__/{path}"
        for attempt in range(5):
            try:
                answer = self.sf.request(method, url, json=body, timeout=120)
            except requests.RequestException:
                if attempt == 4:
                    raise
                time.sleep(1)
                continue
            if answer.status_code >= 400:
                raise RuntimeError(f"Salesforce emulator {method} {path}: {answer.status_code} {answer.text[:300]}")
            return answer.json() if answer.content else None
        return None

    def mc_control(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        url = f"{self.stack.platform['url']}/__emulator__/{path}"
        answer = self.mc.request(method, url, json=body, params=params or None, timeout=120)
        if answer.status_code >= 400:
            raise RuntimeError(f"platform emulator {method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def query(self, soql: str) -> list[dict[str, Any]]:
        return list(self.sf_control("GET", f"query?q={requests.utils.quote(soql)}")["records"])

    # -- the population

    def populate(self) -> None:
        """`--people` Contacts created in Salesforce, subscribed with a phone each, and waited for on the platform."""
        for i in range(self.args.people):
            person = Person(phone=f"+1415300{i:04d}")
            person.record_id = self.sf_control("POST", "records/Contact", self._new_contact(person))["id"]
            self.people.append(person)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            linked = {c["phone"] for c in self.mc_control("GET", "contacts")["contacts"]}
            if all(p.phone in linked for p in self.people):
                break
            time.sleep(1)
        else:
            raise RuntimeError("the starting population did not reach the platform within 300 s")
        while time.monotonic() < deadline:  # and their write-backs: the chaos starts from a quiet stack
            rows = self.query("SELECT Id FROM Contact WHERE Messaging_Contact_Id__c != null")
            if len(rows) >= len(self.people):
                return
            time.sleep(1)
        raise RuntimeError("the starting population's write-backs did not reach Salesforce within 300 s")

    def _new_contact(self, person: Person) -> dict[str, Any]:
        return {
            "FirstName": self.rng.choice(FIRST),
            "LastName": self.rng.choice(LAST),
            "Email": f"p{self.rng.randrange(10**8)}@example.org",
            "MobilePhone": person.phone,
            "Mobile_Subscriber__c": True,
        }

    # -- changes

    def sf_ticked(self, person: Person) -> bool:
        rows = self.query(f"SELECT Mobile_Subscriber__c FROM Contact WHERE Id = '{person.record_id}'")
        return bool(rows and rows[0].get("Mobile_Subscriber__c"))

    def platform_status(self, person: Person) -> str | None:
        found = self.mc_control("GET", "contacts", phone=person.phone)["contacts"]
        return str(found[0].get("sms_status")) if found else None

    def change(self, now: float) -> None:
        kind = self.rng.choices(list(CHANGE_WEIGHTS), list(CHANGE_WEIGHTS.values()))[0]
        ambiguous = False  # an opt change whose order against the other side's is not the order it was made in
        members = [p for p in self.people if not p.stranger]
        person = self.rng.choice(members)
        opt_free = now - person.opt_changed_at >= self.args.opt_gap
        if kind in ("sf_edit", "sf_edit_twice"):
            for _ in range(2 if kind == "sf_edit_twice" else 1):
                field_name = self.rng.choice(("FirstName", "LastName", "Email"))
                value = (
                    f"e{self.rng.randrange(10**8)}@example.org"
                    if field_name == "Email"
                    else self.rng.choice(FIRST if field_name == "FirstName" else LAST) + str(self.rng.randrange(1000))
                )
                self.sf_control("PATCH", f"records/Contact/{person.record_id}", {field_name: value})
        elif kind == "sf_create":
            person = Person(phone=f"+1415310{len(self.people):04d}", created=True)
            person.record_id = self.sf_control("POST", "records/Contact", self._new_contact(person))["id"]
            person.opt_changed_at = now
            self.people.append(person)
        elif kind == "sf_opt_out" and person.subscribed and opt_free:
            # The person's START may not have reached Salesforce yet (its sync paused): unticking a box that is
            # still unticked changes nothing (Salesforce publishes no event), and the START lands after it.
            ambiguous = not self.sf_ticked(person)
            self.sf_control("PATCH", f"records/Contact/{person.record_id}", {"Mobile_Subscriber__c": False})
            person.subscribed, person.opt_changed_at, person.either = False, now, False
        elif kind == "sf_resubscribe" and not person.subscribed and opt_free:
            self.sf_control("PATCH", f"records/Contact/{person.record_id}", {"Mobile_Subscriber__c": True})
            person.opt_changed_at = now  # refused after a STOP; after an admin's opt-out, it depends on whether
            person.either = person.either or person.last_opt == "sf_opt_out"  # that reached the platform first
        elif kind == "mc_text":
            self.mc_control("POST", "inbound", {"phone": person.phone, "body": f"JOIN {self.rng.randrange(100)}"})
        elif kind == "mc_stop" and person.subscribed and opt_free:
            self.mc_control("POST", "inbound", {"phone": person.phone, "body": "STOP"})
            person.subscribed, person.opt_changed_at = False, now
        elif kind == "mc_start" and not person.subscribed and opt_free:
            # The admin's opt-out may not have reached the platform yet (its sync paused): START to a subscribed
            # number changes nothing there, and the opt-out, arriving later, is applied after it.
            ambiguous = self.platform_status(person) == "subscribed"
            self.mc_control("POST", "inbound", {"phone": person.phone, "body": "START"})
            person.subscribed, person.opt_changed_at = True, now
        elif kind == "mc_stranger":
            stranger = Person(phone=f"+1415320{len(self.people):04d}", stranger=True)
            self.mc_control("POST", "inbound", {"phone": stranger.phone, "body": "JOIN me"})
            self.people.append(stranger)
            person = stranger
        else:
            self.counts.skipped[kind] += 1
            return
        self.counts.changes[kind] += 1
        person.history.append(f"{now:.0f}s {kind}")
        if kind in ("sf_opt_out", "sf_resubscribe", "mc_stop", "mc_start"):
            person.last_opt = kind
            person.either = (person.either if kind == "sf_resubscribe" else False) or ambiguous

    # -- faults

    def workers(self, *, busy: bool = False) -> list[str]:
        names = [
            n
            for n, p in self.stack.processes.items()
            if n.startswith("worker") and p.poll() is None and n not in self.stopped
        ]
        return [n for n in names if _children(self.stack.processes[n].pid)] if busy else names

    def inject(self, kind: str, now: float, end: float) -> bool:
        """Inject one fault; False when a process fault finds no process to hit now (no job running for a
        `horse_kill`, a single worker left): the run tries it again a little later (`RETRY_HARD_FAULT_S`)."""
        rng = self.rng
        if kind in HARD_FAULTS:
            busy = self.workers(busy=True)
            for _ in range(40):  # mid-job when a job runs within 2 s
                if busy:
                    break
                time.sleep(0.05)
                busy = self.workers(busy=True)
            candidates = busy or ([] if kind == "horse_kill" else self.workers())
            if len(self.workers()) <= 1 or not candidates:
                self.counts.deferred[kind] += 1
                return False
            name = rng.choice(sorted(candidates))
            pid = self.stack.processes[name].pid
            if kind == "worker_kill":
                _signal_group(pid, signal.SIGKILL)
            elif kind == "horse_kill":
                for child in _children(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGKILL)
            else:
                seconds = rng.uniform(self.args.stop_min, self.args.stop_max)
                _signal_group(pid, signal.SIGSTOP)
                self.stopped[name] = now + seconds
                self.note(f"{name} stopped for {seconds:.0f} s")
        elif kind == "redis_restart":
            embedded = self.stack.redis
            assert embedded is not None and embedded.process is not None
            embedded.process.kill()
            embedded.process.wait(10)
            embedded.process = None
            time.sleep(rng.uniform(0.2, 2.0))
            self.stack.redis = EmbeddedRedis(embedded.directory).start()
        elif kind.startswith("sf_"):
            spec: dict[str, Any] = {
                "sf_503": {"status": 503, "count": rng.randint(2, 10)},
                "sf_lock": {"error_code": "UNABLE_TO_LOCK_ROW", "count": rng.randint(2, 10)},
                "sf_row_lock": {"error_code": "UNABLE_TO_LOCK_ROW", "per_record": True, "count": rng.randint(4, 10)},
                "sf_limit": {"error_code": "REQUEST_LIMIT_EXCEEDED", "count": rng.randint(1, 5)},
                "sf_slow": {"latency_ms": rng.randint(1500, 6000), "count": rng.randint(3, 12)},
            }[kind]
            self.sf_control("POST", "faults", {**spec, "seed": rng.randrange(10**6)})
        else:
            spec = {
                "mc_429": {"status": 429, "count": rng.randint(2, 10)},
                "mc_5xx": {"status": rng.choice((500, 502, 503)), "count": rng.randint(2, 10)},
                "mc_rate": {"error_code": 27, "count": rng.randint(2, 10)},
                "mc_timeout": {"latency_ms": (MC_READ_TIMEOUT + 2) * 1000, "count": rng.randint(1, 2)},
            }[kind]
            self.mc_control("POST", "faults", {**spec, "seed": rng.randrange(10**6)})
        self.counts.faults[kind] += 1
        self.note(f"fault {kind}")
        return True

    def resume_due(self, now: float, *, everyone: bool = False) -> None:
        for name, until in list(self.stopped.items()):
            if everyone or now >= until:
                _signal_group(self.stack.processes[name].pid, signal.SIGCONT)
                del self.stopped[name]
                self.note(f"{name} resumed")

    def redis_alive(self) -> bool:
        embedded = self.stack.redis
        return embedded is not None and embedded.is_running()

    # -- the run

    def run(self) -> dict[str, Any]:
        args = self.args
        seconds = args.minutes * 60
        rng = self.rng
        per_minute = args.faults_per_minute
        moments = sorted(rng.uniform(2, seconds - 2) for _ in range(max(1, round(per_minute * args.minutes))))
        kinds_used = [k for k in FAULT_KINDS if k not in args.without.split(",")]
        schedule = [(t, kinds_used[i % len(kinds_used)]) for i, t in enumerate(moments)]
        kinds = [k for _, k in schedule]
        rng.shuffle(kinds)
        schedule = [(t, k) for (t, _), k in zip(schedule, kinds, strict=True)]
        if any(k == "worker_stop" for k in kinds):
            args.stop_max = min(args.stop_max, max(args.stop_min, seconds))
        started = time.monotonic()
        end = started + seconds
        next_change = started
        made = 0
        while (now := time.monotonic()) < end:
            self.supervisor.check()
            self.resume_due(now - started)
            while schedule and now - started >= schedule[0][0]:
                _, kind = schedule.pop(0)
                if not self.inject(kind, now - started, end):  # each scheduled process fault fires, a little later
                    schedule.append((time.monotonic() - started + RETRY_HARD_FAULT_S, kind))
                    schedule.sort()
                    break
            if now >= next_change and made < args.max_changes and self.redis_alive():
                try:
                    self.change(now - started)
                    made += 1
                except (RuntimeError, requests.RequestException) as exc:
                    self.note(f"change failed: {exc}")
                next_change = now + rng.expovariate(args.rate)
            time.sleep(0.02)
        # Faults stop; the run waits for the stopped workers' own time to pass, as they were promised.
        self.sf_control("DELETE", "faults")
        self.mc_control("DELETE", "faults")
        self.proxy.enabled = False
        quiet_from = time.monotonic()
        # A process fault that found nothing to hit before the end fires now (within `HARD_FAULT_GRACE_S`): each
        # requested kind is injected, never silently skipped.
        late = [kind for _, kind in schedule if kind in HARD_FAULTS]
        give_up = time.monotonic() + HARD_FAULT_GRACE_S
        while late and time.monotonic() < give_up:
            self.supervisor.check()
            self.resume_due(time.monotonic() - started)
            if self.inject(late[0], time.monotonic() - started, end):
                late.pop(0)
            else:
                time.sleep(RETRY_HARD_FAULT_S)
        self.counts.skipped.update(late)
        while self.stopped:
            self.supervisor.check()
            self.resume_due(time.monotonic() - started)
            time.sleep(0.2)
        return self.converge(quiet_from)

    def converge(self, quiet_from: float) -> dict[str, Any]:
        deadline = quiet_from + self.args.settle
        report = self.check()
        while time.monotonic() < deadline and (report["lost"] or report["duplicated"] or self.proxy.pending):
            self.supervisor.check()
            time.sleep(3)
            report = self.check()
        converged = not (report["lost"] or report["duplicated"])
        report["converge_s"] = round(time.monotonic() - quiet_from, 1) if converged else None
        report["invisible"] = self.invisible(report["lost_records"])
        return report

    # -- the verdict

    def check(self) -> dict[str, Any]:
        contacts = self.query(
            "SELECT Id, FirstName, LastName, Email, MobilePhone, Mobile_Subscriber__c, Messaging_Status__c, "
            "Messaging_Contact_Id__c FROM Contact WHERE MobilePhone != null"
        )
        by_id = {c["Id"]: c for c in contacts}
        by_phone: dict[str, list[dict[str, Any]]] = {}
        for c in contacts:
            by_phone.setdefault(_digits(c["MobilePhone"]), []).append(c)
        profiles = self.mc_control("GET", "contacts")["contacts"]
        profile_of = {p["phone"]: p for p in profiles}
        by_crm: Counter[str] = Counter(
            p["custom_fields"].get("sf_id", "").strip() for p in profiles if p["custom_fields"].get("sf_id")
        )
        lost: list[str] = []
        lost_records: dict[str, str] = {}
        logged = {r["Platform_Contact_Id__c"] for r in self.query("SELECT Platform_Contact_Id__c FROM Sync_Result__c")}
        for person in self.people:
            if person.stranger:  # a Contact, or a log row saying why not (one with no last name cannot be created)
                profile_id = (profile_of.get(person.phone) or {}).get("id")
                if not by_phone.get(_digits(person.phone)) and profile_id not in logged:
                    lost.append(f"{person.phone}: texted in, no Salesforce record and no Sync_Result__c")
                    lost_records[profile_id or person.phone] = person.phone
                continue
            record = by_id.get(person.record_id or "")
            profile = profile_of.get(person.phone)
            problems = []
            if record is None or profile is None:
                problems.append("missing on " + ("Salesforce" if record is None else "the platform"))
            else:
                for sf_name, mc_name in (("FirstName", "first_name"), ("LastName", "last_name"), ("Email", "email")):
                    if (record.get(sf_name) or "") != (profile.get(mc_name) or ""):
                        problems.append(f"{sf_name} {record.get(sf_name)!r} vs {profile.get(mc_name)!r}")
                want = "subscribed" if person.subscribed else "unsubscribed"
                if person.either and profile.get("sms_status") in ("subscribed", "unsubscribed"):
                    want = str(profile["sms_status"])  # Mobile Commons opts a number in once per campaign
                labels = {"subscribed": "subscribed", "unsubscribed": "unsubscribed", "unknown": "not synced"}
                if want == "unsubscribed" and profile.get("sms_status") == "unknown" and person.never_subscribed:
                    # Opted out in Salesforce before its first sync: created on the platform without a subscription
                    # (nothing to opt out of: `to_platform.apply_platform_write`), and Salesforce says so.
                    want = "unknown"
                if profile.get("sms_status") != want:
                    problems.append(f"platform {profile.get('sms_status')} (want {want})")
                if (record.get("Messaging_Status__c") or "not synced").lower() != labels.get(want, want):
                    problems.append(f"Salesforce {record.get('Messaging_Status__c')} (want {want})")
                if want == "subscribed" and not record.get("Mobile_Subscriber__c"):
                    problems.append("Mobile_Subscriber__c unticked (want ticked)")
                if record.get("Messaging_Contact_Id__c") != profile.get("id"):
                    problems.append(f"link {record.get('Messaging_Contact_Id__c')} vs {profile.get('id')}")
            if problems:
                lost.append(f"{person.phone} {person.record_id}: {'; '.join(problems)} [{', '.join(person.history)}]")
                lost_records[person.record_id or person.phone] = person.phone
        duplicated = [f"{crm}: {n} platform profiles" for crm, n in by_crm.items() if n > 1]
        duplicated += [f"{phone}: {len(rows)} Salesforce records" for phone, rows in by_phone.items() if len(rows) > 1]
        after_stop = self.mc_control("GET", "stats").get("after_stop", {})
        return {
            "lost": len(lost),
            "lost_detail": lost[:20],
            "lost_records": lost_records,
            "duplicated": len(duplicated),
            "duplicated_detail": duplicated[:20],
            "re_texted": sum(after_stop.values()),
            "re_texted_by_kind": after_stop,
        }

    def invisible(self, lost_records: dict[str, str]) -> int:
        """Lost changes that no `Sync_Result__c` failure and no failed job names."""
        if not lost_records:
            return 0
        rows = self.query("SELECT Record_Id__c FROM Sync_Result__c WHERE Status__c = 'Failure'")
        logged = {r["Record_Id__c"] for r in rows}
        connection = redis.Redis.from_url(self.stack.env["REDIS_URL"])
        failed_args = []
        for name in QUEUES:
            registry = FailedJobRegistry(queue=Queue(name, connection=connection))
            for job in registry.get_job_ids():
                with contextlib.suppress(Exception):
                    failed_args.append(str(Queue(name, connection=connection).fetch_job(job).args))  # type: ignore[union-attr]
        unseen = 0
        for record_id, phone in lost_records.items():
            digits = _digits(phone)[-10:]
            if record_id in logged or any(record_id in a or digits in a for a in failed_args):
                continue
            unseen += 1
        return unseen


def _digits(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-10:]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the relay proxy's access log
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10, help="how long changes and faults go on")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--people", type=int, default=60, help="Contacts linked before the chaos starts")
    parser.add_argument("--rate", type=float, default=1.5, help="changes per second (on average)")
    parser.add_argument("--max-changes", type=int, default=5000, help="changes at most")
    parser.add_argument("--faults-per-minute", type=float, default=8)
    parser.add_argument("--stop-min", type=float, default=35, help="shortest SIGSTOP of a worker (s)")
    parser.add_argument("--stop-max", type=float, default=330, help="longest SIGSTOP of a worker (s)")
    parser.add_argument("--dup", type=float, default=0.15, help="share of webhook batches delivered twice")
    parser.add_argument("--late", type=float, default=0.15, help="share of webhook batches held behind later ones")
    parser.add_argument("--opt-gap", type=float, default=40, help="seconds between one person's opt changes")
    parser.add_argument("--settle", type=float, default=420, help="seconds to wait for convergence at most")
    parser.add_argument("--without", default="", help="fault kinds not to inject, comma-separated")
    parser.add_argument("--platform", default="mobilecommons", help="only mobilecommons is driven today")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs) afterwards")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if args.platform != "mobilecommons":
        parser.error("--platform: only mobilecommons is driven today (its emulator keeps people to compare)")
    var = Path(tempfile.mkdtemp(prefix="chaos-"))
    say(f"chaos: seed {args.seed}, {args.minutes} min, {WORKERS} workers, logs in {var}")
    stack = start_stack(var, contacts=0, workers=WORKERS, platform=args.platform)
    chaos: Chaos | None = None
    try:
        chaos = Chaos(stack, args)
        chaos.populate()
        say(f"  {len(chaos.people)} people linked; chaos for {args.minutes} min ...")
        report = chaos.run()
    finally:
        if chaos is not None:
            chaos.resume_due(0, everyone=True)
            chaos.proxy.stop()
        stack.stop()
    counts = chaos.counts
    say("\nchaos — what was done")
    say(f"  changes   {sum(counts.changes.values()):>6}  {dict(sorted(counts.changes.items()))}")
    say(f"  faults    {sum(counts.faults.values()):>6}  {dict(sorted(counts.faults.items()))}")
    if counts.skipped:
        say(f"  skipped          {dict(sorted(counts.skipped.items()))}  (no fitting person, or no worker to hit)")
    if counts.deferred:
        say(f"  deferred         {dict(sorted(counts.deferred.items()))}  (process faults tried again later)")
    say(f"\n{'count':<16}{'result':>8}{'target':>8}")
    for name in ("lost", "duplicated", "re_texted", "invisible"):
        say(f"{name:<16}{report[name]:>8}{0:>8}")
    say(f"{'converged in':<16}{str(report['converge_s']) + ' s' if report['converge_s'] is not None else 'never':>8}")
    for line in report["lost_detail"] + report["duplicated_detail"]:
        say(f"  {line}")
    if chaos.proxy.refused:
        say(f"  the gateway refused replayed batches: {chaos.proxy.refused[:3]}")
    if args.verbose:
        for line in chaos.log:
            say(f"  {line}")
    print(
        json.dumps(
            {
                "bench": "chaos",
                "seed": args.seed,
                "minutes": args.minutes,
                "workers": WORKERS,
                "platform": args.platform,
                "people": len(chaos.people),
                "changes": dict(counts.changes),
                "faults": dict(counts.faults),
                "lost": report["lost"],
                "duplicated": report["duplicated"],
                "re_texted": report["re_texted"],
                "invisible": report["invisible"],
                "converge_s": report["converge_s"],
                "replays_refused": len(chaos.proxy.refused),
            }
        ),
        flush=True,
    )
    if not args.keep:
        import shutil

        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
