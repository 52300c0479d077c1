"""Store semantics that need a schema the package does not have, and the relay's trigger-handler rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.emulators.salesforce.relay import ObjectRule, Relay
from gateway.emulators.salesforce.schema import FieldDef, build_schema
from gateway.emulators.salesforce.store import RecordError, Store

PACKAGE_DIR = Path(__file__).resolve().parents[3] / "sfdx-package"


def test_upsert_with_two_matches_on_a_non_unique_external_id_is_a_300() -> None:
    schema = build_schema(None)
    schema["contact"].add(FieldDef(name="Legacy_Id__c", type="string", length=20, external_id=True, custom=True))
    store = Store(schema)
    contact = schema["contact"]
    store.seed(
        contact, [{"LastName": "A", "Legacy_Id__c": "x"}, {"LastName": "B", "Legacy_Id__c": "X"}], store.users.admin_id
    )
    ext = contact.fields["legacy_id__c"]
    with store.tx() as conn, pytest.raises(RecordError) as info:
        store.upsert(conn, contact, ext, "x", {"LastName": "C"}, store.users.admin_id)
    assert info.value.status == 300 and info.value.message.count("/sobjects/Contact/") == 2


@pytest.fixture
def relay_org() -> tuple[Store, Relay]:
    store = Store(build_schema(PACKAGE_DIR))
    relay = Relay(store)
    return store, relay


def test_criteria_field_gates_events_and_a_newly_qualifying_record_is_sent_whole(
    relay_org: tuple[Store, Relay],
) -> None:
    store, relay = relay_org
    relay.rules["contact"] = ObjectRule(
        sobject="Contact",
        criteria_field="DoNotCall",
        include_deletions=True,
        send_all_fields=False,
        watched=["MobilePhone", "Email"],
        matching=["Email"],
        platform_id_field="Messaging_Contact_Id__c",
    )
    contact = store.schema["contact"]
    admin = store.users.admin_id
    with store.tx() as conn:
        record_id, insert = store.insert(
            conn, contact, {"LastName": "A", "MobilePhone": "1", "Email": "a@x.org"}, admin
        )
        assert relay.event_for(insert) is None  # DoNotCall is false: the record does not meet the criteria
        qualifying = store.update(conn, contact, record_id, {"DoNotCall": True}, admin)
        event = relay.event_for(qualifying)
        assert event is not None and event["operation"] == "update"
        assert event["changedFields"] == ["MobilePhone", "Email"]  # sent whole: it just started to qualify
        assert set(event["record"]) == {"Id", "SystemModstamp", "MobilePhone", "Email", "Messaging_Contact_Id__c"}
        delta = store.update(conn, contact, record_id, {"MobilePhone": "2"}, admin)
        event = relay.event_for(delta)
        assert event is not None and event["changedFields"] == ["MobilePhone"]
        assert set(event["record"]) == {"Id", "SystemModstamp", "MobilePhone", "Email", "Messaging_Contact_Id__c"}
        deleted = store.delete(conn, contact, record_id, admin)
        event = relay.event_for(deleted)
        assert event is not None and event["changedFields"] == [] and event["operation"] == "delete"
        assert set(event["record"]) == {"Id", "SystemModstamp", "Email", "Messaging_Contact_Id__c"}


def test_an_update_that_takes_a_record_out_of_the_criteria_is_still_sent(relay_org: tuple[Store, Relay]) -> None:
    """As the package's handler does: an opt-out that leaves the criteria must reach the gateway."""
    store, relay = relay_org
    relay.rules["contact"] = ObjectRule(
        sobject="Contact",
        criteria_field="Mobile_Subscriber__c",
        include_deletions=False,
        send_all_fields=False,
        watched=["MobilePhone", "Mobile_Subscriber__c"],
        matching=["MobilePhone"],
        platform_id_field="Messaging_Contact_Id__c",
        opt_out_field="Mobile_Subscriber__c",
    )
    contact = store.schema["contact"]
    admin = store.users.admin_id
    with store.tx() as conn:
        record_id, _ = store.insert(
            conn, contact, {"LastName": "A", "MobilePhone": "1", "Mobile_Subscriber__c": True}, admin
        )
        event = relay.event_for(store.update(conn, contact, record_id, {"Mobile_Subscriber__c": False}, admin))
        assert event is not None and event["changedFields"] == ["Mobile_Subscriber__c"]
        assert event["record"]["Mobile_Subscriber__c"] is False and event["record"]["MobilePhone"] == "1"
        # outside the criteria before and after: nothing
        assert relay.event_for(store.update(conn, contact, record_id, {"MobilePhone": "2"}, admin)) is None


def test_rules_come_from_the_packages_custom_metadata(relay_org: tuple[Store, Relay]) -> None:
    _, relay = relay_org
    rule = relay.rules["contact"]
    assert rule.sobject == "Contact"
    assert "MobilePhone" in rule.watched and "Mobile_Subscriber__c" in rule.watched and "Id" not in rule.watched
    assert "MobilePhone" in rule.matching
    assert rule.platform_id_field == "Messaging_Contact_Id__c"
    assert rule.opt_out_field == "Mobile_Subscriber__c"


def test_the_relay_follows_the_packages_org_default_switches(relay_org: tuple[Store, Relay]) -> None:
    """As the package's MessagingSyncSettings: no row or unchecked boxes sync; the pause or a bypass stops it."""
    store, relay = relay_org
    settings = store.schema["messaging_sync_settings__c"]
    admin = store.users.admin_id
    with store.tx() as conn:
        assert relay._settings_allow(conn, admin), "no row at all: the sync runs"
        row_id, _ = store.insert(conn, settings, {"Name": "org"}, admin)
        assert relay._settings_allow(conn, admin), "a row with unchecked boxes: the sync runs"
        store.update(conn, settings, row_id, {"Disable_Sync_To_Platform__c": True}, admin)
        assert not relay._settings_allow(conn, admin), "paused org-wide"
        store.update(conn, settings, row_id, {"Disable_Sync_To_Platform__c": False, "Bypass_Triggers__c": True}, admin)
        assert not relay._settings_allow(conn, admin), "bypassed on the org default"
        admin_username = store.username(admin)
        store.update(
            conn, settings, row_id, {"Bypass_Triggers__c": False, "Integration_Username__c": admin_username}, admin
        )
        assert not relay._settings_allow(conn, admin), "the integration user's own writes are not echoed"
