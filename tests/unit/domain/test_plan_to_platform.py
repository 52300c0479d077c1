"""Planning a Salesforce -> platform sync: what is sent, what is deleted, and the result logged."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.domain.mapping import map_record_to_contact
from gateway.domain.matching import Create, Matched, PlatformMatch, Refuse, Skip
from gateway.domain.plans import SyncPlan, SyncStatus, plan_to_platform
from gateway.domain.sync_config import Direction, SyncObjectConfig
from tests.unit.domain.factories import CONTACT_ID, OTHER_CONTACT_ID, contact_config, sf_record

PHONE = "+14155552671"
ON_PLATFORM = Contact(
    phone=PHONE,
    first_name="Ada",
    last_name="Lovelace",
    email="ada@example.org",
    address=PostalAddress(street1="1 Analytical Way", city="London"),
    sms_status=SmsStatus.SUBSCRIBED,
    platform_id="mc-1",
    crm_id=CONTACT_ID,
).with_changes(custom_fields={"sf_id": CONTACT_ID, "Shirt Size": "M"})


def plan(
    decision: PlatformMatch,
    config: SyncObjectConfig | None = None,
    changed: list[str] | None = None,
    **record: Any,
) -> SyncPlan:
    config = config or contact_config()
    if isinstance(decision, Matched):
        record.setdefault("Messaging_Contact_Id__c", "mc-1")  # a linked record, as after its first sync
    mapped = map_record_to_contact(sf_record(**record), config, changed_fields=changed)
    return plan_to_platform(mapped, config, decision)


def test_create_sends_every_non_blank_field_the_status_and_the_crm_id() -> None:
    result = plan(Create(), MailingCity=None)
    assert result.status is SyncStatus.SUCCESS and result.direction is Direction.TO_PLATFORM
    write = result.platform_write
    assert write is not None and write.is_create
    assert write.values() == {
        "crm_id": CONTACT_ID,
        "custom:Shirt Size": "M",
        "custom:sf_id": CONTACT_ID,
        "email": "ada@example.org",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": PHONE,
        "sms_status": "subscribed",
        "street1": "1 Analytical Way",
    }
    assert write.cleared == frozenset()
    assert result.salesforce_write is None  # the link is written once the platform answers with the new id


def test_create_links_the_new_platform_id_back_to_salesforce() -> None:
    linked = plan(Create()).with_created_platform_id("mc-42")
    assert linked.platform_id == "mc-42"
    assert linked.salesforce_write is not None
    assert (linked.salesforce_write.object_name, linked.salesforce_write.record_id) == ("Contact", CONTACT_ID)
    assert linked.salesforce_write.fields == {"Messaging_Contact_Id__c": "mc-42"}


def test_create_does_not_subscribe_a_person_salesforce_recorded_as_unsubscribed() -> None:
    result = plan(Create(), Messaging_Status__c="Unsubscribed")
    assert result.status is SyncStatus.PARTIAL_FAILURE
    assert result.error_code == "invalid-messaging-status"
    assert result.platform_write is not None and "sms_status" not in result.platform_write.fields


def test_delta_update_sends_only_changed_fields() -> None:
    result = plan(Matched(ON_PLATFORM), changed=["LastName", "MailingCity"], LastName="Byron", MailingCity="Paris")
    assert result.platform_write is not None and not result.platform_write.is_create
    assert result.platform_write.platform_id == "mc-1"
    # City is Fill Empty Only and the platform has London: kept. LastName overwrites.
    assert result.platform_write.values() == {"last_name": "Byron"}


def test_all_fields_mode_sends_every_field_that_differs() -> None:
    config = contact_config(Send_All_Fields__c=True)
    result = plan(Matched(ON_PLATFORM), config, changed=["LastName"], FirstName="Augusta", LastName="Byron")
    assert result.platform_write is not None
    assert result.platform_write.values() == {"first_name": "Augusta", "last_name": "Byron"}


def test_fill_empty_only_fills_an_empty_platform_field() -> None:
    empty_city = ON_PLATFORM.with_changes(address=PostalAddress(street1="1 Analytical Way"))
    result = plan(Matched(empty_city), changed=["MailingCity"], MailingCity="Paris")
    assert result.platform_write is not None and result.platform_write.values() == {"city": "Paris"}


def test_a_cleared_field_is_deleted_only_when_the_object_includes_deletions() -> None:
    without = plan(Matched(ON_PLATFORM), changed=["Email"], Email=None)
    assert without.platform_write is None and without.status is SyncStatus.SKIPPED
    config = contact_config(Include_Deletions__c=True)
    with_deletions = plan(Matched(ON_PLATFORM), config, changed=["Email"], Email=None)
    assert with_deletions.platform_write is not None
    assert with_deletions.platform_write.cleared == {"email"}
    assert with_deletions.platform_write.values() == {"email": None}


def test_deletions_respect_fill_empty_only_and_delta() -> None:
    config = contact_config(Include_Deletions__c=True)
    kept = plan(Matched(ON_PLATFORM), config, changed=["MailingCity"], MailingCity=None)
    assert kept.platform_write is None  # Fill Empty Only keeps the platform's city
    unchanged = plan(Matched(ON_PLATFORM), config, changed=["LastName"], Email=None, LastName="Byron")
    assert unchanged.platform_write is not None and unchanged.platform_write.cleared == frozenset()


def test_sticky_opt_out_refuses_the_resubscription_but_syncs_the_rest() -> None:
    stopped = ON_PLATFORM.with_changes(sms_status=SmsStatus.UNSUBSCRIBED)
    result = plan(Matched(stopped), changed=["Mobile_Subscriber__c", "LastName"], LastName="Byron")
    assert result.status is SyncStatus.PARTIAL_FAILURE
    assert result.error_code == "invalid-messaging-status"
    assert result.platform_write is not None
    assert result.platform_write.values() == {"last_name": "Byron"}
    assert result.platform_write.contact.sms_status is SmsStatus.UNSUBSCRIBED
    assert "texted STOP" in result.message


def test_salesforce_opt_out_is_sent() -> None:
    result = plan(Matched(ON_PLATFORM), changed=["Mobile_Subscriber__c"], Mobile_Subscriber__c=False)
    assert result.status is SyncStatus.SUCCESS
    assert result.platform_write is not None and result.platform_write.values() == {"sms_status": "unsubscribed"}


def test_status_is_not_judged_when_the_opt_out_field_did_not_change() -> None:
    stopped = ON_PLATFORM.with_changes(sms_status=SmsStatus.UNSUBSCRIBED)
    result = plan(Matched(stopped), changed=["LastName"], LastName="Byron")
    assert result.status is SyncStatus.SUCCESS


def test_nothing_to_change_is_skipped() -> None:
    result = plan(Matched(ON_PLATFORM), changed=["LastName", "MobilePhone"], MobilePhone="415 555 2671")
    assert result.status is SyncStatus.SKIPPED
    assert result.message == "The platform already holds these values."


def test_a_contact_matched_by_phone_gets_the_crm_id_and_the_record_gets_the_link() -> None:
    by_phone = ON_PLATFORM.with_changes(platform_id="mc-7", crm_id=None)
    result = plan(Matched(by_phone), changed=[], Messaging_Contact_Id__c=None)
    assert result.platform_write is not None and result.platform_write.values() == {"crm_id": CONTACT_ID}
    assert result.salesforce_write is not None
    assert result.salesforce_write.fields == {"Messaging_Contact_Id__c": "mc-7"}
    assert result.platform_id == "mc-7"


def test_partial_errors_travel_with_the_write() -> None:
    result = plan(Matched(ON_PLATFORM), changed=["Email", "LastName"], Email="not-an-email", LastName="Byron")
    assert result.status is SyncStatus.PARTIAL_FAILURE and result.error_code == "invalid-email"
    assert result.platform_write is not None and result.platform_write.values() == {"last_name": "Byron"}


def test_a_refused_record_writes_nothing() -> None:
    result = plan(Create(), MobilePhone="nope", Email="bad")
    assert result.status is SyncStatus.FAILURE
    assert result.error_code == "invalid-phone"  # the refusing error, before the partial one
    assert result.platform_write is None and result.salesforce_write is None


def test_a_refused_match_is_a_failure_and_keeps_partial_errors() -> None:
    error = SyncError(SyncErrorCode.PHONE_MATCH_CRM_ID_MISMATCH, f"linked to {OTHER_CONTACT_ID}.")
    result = plan(Refuse(error), Email="bad")
    assert result.status is SyncStatus.FAILURE
    assert [e.code for e in result.errors] == [SyncErrorCode.INVALID_EMAIL, SyncErrorCode.PHONE_MATCH_CRM_ID_MISMATCH]
    assert result.error_code == "phone-match-found-but-crmId-mismatch"


def test_a_skip_is_logged_with_its_reason() -> None:
    result = plan(Skip("No platform contact matches."))
    assert (result.status, result.message, result.error_code) == (
        SyncStatus.SKIPPED,
        "No platform contact matches.",
        None,
    )


def test_a_failed_write_turns_the_plan_into_a_failure() -> None:
    error = SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, "Mobile Commons answered 503.")
    failed = plan(Create()).failed(error)
    assert failed.status is SyncStatus.FAILURE and failed.error_code == "platform-unavailable"
    assert failed.errors[-1].transient


def test_the_plan_carries_the_fingerprint_of_the_mapped_values() -> None:
    first = plan(Create())
    assert first.fingerprint == plan(Create(), SystemModstamp="2026-12-01T00:00:00.000+0000").fingerprint
    assert first.fingerprint != plan(Create(), LastName="Byron").fingerprint


@given(
    checked=st.booleans(),
    inverted=st.booleans(),
    send_all=st.booleans(),
    include_deletions=st.booleans(),
    changed=st.lists(st.sampled_from(["Mobile_Subscriber__c", "LastName", "Email", "MobilePhone"]), unique=True),
    platform_status=st.sampled_from([SmsStatus.UNSUBSCRIBED, SmsStatus.PAUSED]),
)
def test_no_salesforce_record_ever_makes_an_opted_out_or_paused_person_textable(
    checked: bool,
    inverted: bool,
    send_all: bool,
    include_deletions: bool,
    changed: list[str],
    platform_status: SmsStatus,
) -> None:
    config = _CONFIGS[(inverted, send_all, include_deletions)]
    person = ON_PLATFORM.with_changes(sms_status=platform_status)
    result = plan(Matched(person), config, changed, Mobile_Subscriber__c=checked, LastName="Byron")
    write = result.platform_write
    if write is not None and "sms_status" in write.fields:
        assert write.contact.sms_status is SmsStatus.UNSUBSCRIBED
    assert write is None or write.contact.sms_status is not SmsStatus.SUBSCRIBED


_CONFIGS = {
    (inverted, send_all, deletions): contact_config(
        Opt_Out_Inverted__c=inverted, Send_All_Fields__c=send_all, Include_Deletions__c=deletions
    )
    for inverted in (False, True)
    for send_all in (False, True)
    for deletions in (False, True)
}


def test_changes_only_holds_just_the_values_to_set_for_the_adapter() -> None:
    result = plan(
        Matched(ON_PLATFORM), changed=["LastName", "Mobile_Subscriber__c"], LastName="Byron", Mobile_Subscriber__c=False
    )
    write = result.platform_write
    assert write is not None and write.opt_out and not write.subscribe
    changes = write.changes_only()
    assert (changes.last_name, changes.first_name, changes.phone, changes.email) == ("Byron", None, None, None)
    assert dict(changes.custom_fields) == {} and changes.address.is_empty()
    assert (changes.platform_id, changes.crm_id, changes.sms_status) == ("mc-1", CONTACT_ID, SmsStatus.UNSUBSCRIBED)


def test_a_create_subscribes_when_salesforce_opted_in() -> None:
    write = plan(Create()).platform_write
    assert write is not None and write.subscribe and not write.opt_out
    assert write.changes_only().phone == PHONE and write.changes_only().custom_fields["Shirt Size"] == "M"
