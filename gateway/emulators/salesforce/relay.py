"""The relay: what the package's Apex does in a real org, done here for changes made through the API.

Guarantees: a change to an object with an active `Messaging_Sync_Object__mdt` record becomes one event in
the same transaction as the change (published only if it commits), with the rules and record shape of the
package's `MessagingSyncTriggerHandler.cls`: nothing for the integration user (or when the org-default
`Messaging_Sync_Settings__c` row pauses the sync with `Disable_Sync_To_Platform__c` or bypasses the triggers; the
emulator has no setup owners, so its first row is the org default and there are no user- or profile-level rows;
unchecked boxes and a missing row mean the sync runs, as in the package), nothing when the record fails the
sync-criteria field unless an update takes it out of them (then its changed fields, the opt-out and criteria
fields and the matching ones are sent: the opt-out that leaves the criteria must reach the platform), nothing on an
update that changes no watched field (fields mapped To Platform/Both,
their fallbacks, the opt-out field), deletes only with `Include_Deletions__c`. Events are delivered in
replay order in batches of at most 2,000, flushed every 150 ms, to `<url>/webhooks/salesforce` with a
bearer token from `<url>/oauth/token` (client credentials, scope `events:write`); a failed batch is
retried with backoff and never skipped, and published/delivered/failed counts are kept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from .store import Change, Store

log = logging.getLogger(__name__)

BATCH_MAX = 2000
FLUSH_SECONDS = 0.15
BACKOFF_MAX = 2.0  # seconds between retries of a failed batch, at most (0.2, 0.4, ... 2.0)
SYNC_OBJECT = "messaging_sync_object__mdt"
FIELD_MAPPING = "messaging_field_mapping__mdt"


@dataclass(frozen=True)
class RelayTarget:
    url: str
    client_id: str
    client_secret: str
    ca_bundle: str | None = None  # extra trust for an https gateway with a private CA

    @property
    def verify(self) -> str | bool:
        return self.ca_bundle or True


@dataclass
class ObjectRule:
    """One object's sync configuration, built the way `MessagingSyncConfig.cls` builds it."""

    sobject: str
    criteria_field: str | None
    include_deletions: bool
    send_all_fields: bool
    watched: list[str]  # mapped fields (not To Salesforce) with their fallbacks, plus the opt-out field
    matching: list[str]  # mapped fields marked Is_Matching__c: always sent
    platform_id_field: str | None
    opt_out_field: str | None = None


def _checked(value: Any) -> bool:
    return value is True or value == 1


def load_rules(store: Store) -> dict[str, ObjectRule]:
    """The sync rules from the package's custom metadata records (lower-case object -> rule)."""
    sync_type = store.schema.get(SYNC_OBJECT)
    mapping_type = store.schema.get(FIELD_MAPPING)
    if sync_type is None:
        return {}
    rules: dict[str, ObjectRule] = {}
    mappings = mapping_type.records if mapping_type else []
    for record in sync_type.records:
        name = str(record.get("Object_API_Name__c") or "")
        obj = store.schema.get(name.lower())
        if not name or obj is None or not _checked(record.get("Active__c")):
            continue

        def existing(field_name: Any, obj: Any = obj) -> str | None:
            f = obj.field(str(field_name)) if field_name else None
            return f.name if f is not None else None

        watched: list[str] = []
        matching: list[str] = []
        for m in mappings:
            if str(m.get("Object_API_Name__c") or "").lower() != name.lower():
                continue
            field_name = existing(m.get("Salesforce_Field__c"))
            if field_name is None or m.get("Direction__c") == "To Salesforce":
                continue
            for f in (field_name, existing(m.get("Fallback_Salesforce_Field__c"))):
                if f and f not in watched:
                    watched.append(f)
            if _checked(m.get("Is_Matching__c")) and field_name not in matching:
                matching.append(field_name)
        opt_out = existing(record.get("Opt_Out_Field__c"))
        if opt_out and opt_out not in watched:
            watched.append(opt_out)
        watched = [f for f in watched if f != "Id"]
        rules[name.lower()] = ObjectRule(
            sobject=name,
            criteria_field=existing(record.get("Sync_Criteria_Field__c")),
            include_deletions=_checked(record.get("Include_Deletions__c")),
            send_all_fields=_checked(record.get("Send_All_Fields__c")),
            watched=watched,
            matching=matching,
            platform_id_field=existing(record.get("Platform_Id_Field__c") or "Messaging_Contact_Id__c"),
            opt_out_field=opt_out,
        )
    return rules


def _published_at() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class Relay:
    """Publishes events for API changes and delivers them to the configured gateway in the background."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rules = load_rules(store)
        self.target: RelayTarget | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token: tuple[str, float] | None = None
        self._http = requests.Session()
        self.last_error: str | None = None
        self._backoff = 0.0
        store.change_listener = self.on_changes

    # --- configuration ----------------------------------------------------------------------------------

    def configure(self, target: RelayTarget | None) -> None:
        self.target = target
        self._token = None
        self._backoff = 0.0
        self.last_error = None
        if target is not None and (self._thread is None or not self._thread.is_alive()):
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="salesforce-emulator-relay", daemon=True)
            self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http.close()

    # --- publishing (inside the change's transaction) ----------------------------------------------------

    def _settings_allow(self, conn: sqlite3.Connection, user_id: str) -> bool:
        """The hierarchy custom setting's org default, when the package defines one and a row exists."""
        obj = self.store.schema.get("messaging_sync_settings__c")
        if obj is None or obj.field("Disable_Sync_To_Platform__c") is None:
            return True
        row = conn.execute(
            'SELECT "Disable_Sync_To_Platform__c", "Bypass_Triggers__c", "Integration_Username__c" '
            'FROM "Messaging_Sync_Settings__c" WHERE "IsDeleted" = 0 ORDER BY rowid LIMIT 1'
        ).fetchone()
        if row is None:
            return True
        disabled, bypass, integration_username = row
        if _checked(disabled) or _checked(bypass):
            return False
        username = self.store.username(user_id) or ""
        return not (integration_username and integration_username.strip().lower() == username.lower())

    def event_for(self, change: Change) -> dict[str, Any] | None:
        """The webhook event the package's trigger handler would publish for `change`, or None."""
        rule = self.rules.get(change.sobject.lower())
        if rule is None or change.user_id == self.store.users.integration_id:
            return None
        is_delete = change.operation == "delete"
        if is_delete and not rule.include_deletions:
            return None
        record = change.old if is_delete else change.new
        if record is None:
            return None

        def meets(values: dict[str, Any] | None) -> bool:
            return rule.criteria_field is None or (values is not None and values.get(rule.criteria_field) is True)

        meets_now = is_delete or meets(record)
        leaving = not meets_now and change.operation == "update" and change.old is not None and meets(change.old)
        if not meets_now and not leaving:
            return None
        full = change.operation in ("insert", "undelete") or (
            change.operation == "update" and not leaving and not meets(change.old)
        )
        changed: list[str] = []
        if not is_delete:
            old = change.old or {}
            for f in rule.watched:
                value = record.get(f)
                if (value not in (None, "")) if full else value != old.get(f):
                    changed.append(f)
            if not changed and not full and not leaving:
                return None
        sent = [] if is_delete else list(rule.watched if full or rule.send_all_fields else changed)
        sent += rule.matching
        if rule.platform_id_field:
            sent.append(rule.platform_id_field)
        if leaving:
            sent += [f for f in (rule.opt_out_field, rule.criteria_field) if f]
        body: dict[str, Any] = {"Id": record["Id"], "SystemModstamp": record.get("SystemModstamp")}
        for f in sent:
            value = record.get(f)
            body[f] = None if value == "" else value
        return {
            "eventUuid": str(uuid.uuid4()),
            "sobjectType": rule.sobject,
            "recordId": record["Id"],
            "operation": change.operation,
            "changedFields": changed,
            "record": body,
            "publishedAt": _published_at(),
        }

    def on_changes(self, conn: sqlite3.Connection, changes: list[Change]) -> None:
        if self.target is None:
            return
        now = time.time()
        count = 0
        allowed: dict[str, bool] = {}
        for change in changes:
            if change.user_id not in allowed:
                allowed[change.user_id] = self._settings_allow(conn, change.user_id)
            if not allowed[change.user_id]:
                continue
            event = self.event_for(change)
            if event is not None:
                conn.execute("INSERT INTO emu_events (payload, created) VALUES (?, ?)", (json.dumps(event), now))
                count += 1
        if count:
            self.store.bump(conn, "relay:published", count)
            pending = conn.execute("SELECT COUNT(*) FROM emu_events WHERE delivered = 0").fetchone()[0]
            if pending >= BATCH_MAX:
                self._wake.set()

    # --- delivery -----------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        counters = self.store.counters("relay:")
        with self.store.read() as conn:
            pending = conn.execute("SELECT COUNT(*) FROM emu_events WHERE delivered = 0").fetchone()[0]
        return {
            "configured": self.target is not None,
            "url": self.target.url if self.target else None,
            "published": counters.get("published", 0),
            "delivered": counters.get("delivered", 0),
            "failed": counters.get("failed", 0),
            "batches": counters.get("batches", 0),
            "pending": int(pending),
            "last_error": self.last_error,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._backoff or FLUSH_SECONDS)
            self._wake.clear()
            if self._stop.is_set() or self.target is None:
                continue
            try:
                delivered = self.deliver_once()
            except Exception as exc:  # noqa: BLE001 - the relay must survive any failure and retry
                delivered = -1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("relay delivery failed: %s", self.last_error)
            if delivered < 0:
                with self.store.tx() as conn:
                    self.store.bump(conn, "relay:failed")
                self._backoff = min(max(self._backoff * 2, 0.2), BACKOFF_MAX)
            else:
                self._backoff = 0.0
                if delivered == BATCH_MAX:
                    self._wake.set()

    def _bearer(self, target: RelayTarget) -> str:
        if self._token and self._token[1] > time.time():
            return self._token[0]
        response = self._http.post(
            f"{target.url.rstrip('/')}/oauth/token",
            data={"grant_type": "client_credentials", "scope": "events:write"},
            auth=(target.client_id, target.client_secret),
            timeout=10,
            verify=target.verify,
        )
        if response.status_code != 200:
            raise RuntimeError(f"token endpoint answered {response.status_code}")
        body = response.json()
        self._token = (body["access_token"], time.time() + float(body.get("expires_in", 300)) - 30)
        return self._token[0]

    def deliver_once(self) -> int:
        """POST the oldest undelivered events (at most 2,000); the number delivered, or -1 on failure."""
        target = self.target
        if target is None:
            return 0
        with self.store.read() as conn:
            rows = conn.execute(
                "SELECT replay_id, payload FROM emu_events WHERE delivered = 0 ORDER BY replay_id LIMIT ?", (BATCH_MAX,)
            ).fetchall()
        if not rows:
            return 0
        events = []
        for replay_id, payload in rows:
            event = json.loads(payload)
            event["replayId"] = str(replay_id)
            events.append(
                {
                    k: event[k]
                    for k in (
                        "eventUuid",
                        "replayId",
                        "sobjectType",
                        "recordId",
                        "operation",
                        "changedFields",
                        "record",
                        "publishedAt",
                    )
                }
            )
        body = {"orgId": self.store.org_id, "events": events}
        for attempt in range(2):
            token = self._bearer(target)
            response = self._http.post(
                f"{target.url.rstrip('/')}/webhooks/salesforce",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
                verify=target.verify,
            )
            if response.status_code == 401 and attempt == 0:
                self._token = None
                continue
            break
        if not 200 <= response.status_code < 300:
            self.last_error = f"webhook answered {response.status_code}: {response.text[:200]}"
            return -1
        last = rows[-1][0]
        with self.store.tx() as conn:
            conn.execute("UPDATE emu_events SET delivered = 1 WHERE delivered = 0 AND replay_id <= ?", (last,))
            self.store.bump(conn, "relay:delivered", len(rows))
            self.store.bump(conn, "relay:batches")
        self.last_error = None
        return len(rows)
