"""Action Network's wire format: what the adapter reads from people, pages, webhook arrays and error bodies, and
what it sends to the signup helper. Shapes follow docs/platforms/actionnetwork.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.domain.errors import SyncErrorCode
from gateway.platforms.actionnetwork import wire

CRM = "salesforce_id"


def person(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "identifiers": ["action_network:4f3a1b2c-0000-4000-8000-000000000001", "mobilize:1851"],
        "given_name": "Jane",
        "family_name": "Doe",
        "email_addresses": [{"primary": True, "address": "jane@example.org", "status": "subscribed"}],
        "phone_numbers": [{"primary": True, "number": "12025550123", "number_type": "Mobile", "status": "subscribed"}],
        "postal_addresses": [
            {
                "primary": True,
                "address_lines": ["1 Main St", "Apt 2"],
                "locality": "Oakland",
                "region": "CA",
                "postal_code": "94608",
                "country": "US",
            }
        ],
        "custom_fields": {CRM: "003000000000001AAA", "occupation": "Nurse", "volunteer": True, "shifts": 3},
        "created_date": "2024-03-30T02:07:04Z",
        "modified_date": "2024-04-06T14:20:49Z",
    }
    base.update(overrides)
    return base


def test_a_person_reads_as_our_contact_with_the_crm_id_out_of_the_custom_fields() -> None:
    read = wire.parse_person(person(), crm_id_field=CRM)
    assert read is not None
    c = read.contact
    assert c.platform_id == "4f3a1b2c-0000-4000-8000-000000000001"
    assert (c.first_name, c.last_name, c.email, c.phone) == ("Jane", "Doe", "jane@example.org", "+12025550123")
    assert c.address == PostalAddress("1 Main St", "Apt 2", "Oakland", "CA", "94608", "US")
    assert c.crm_id == "003000000000001AAA"
    assert dict(c.custom_fields) == {"occupation": "Nurse", "volunteer": "true", "shifts": "3"}
    assert c.sms_status is SmsStatus.SUBSCRIBED
    assert c.version == datetime(2024, 4, 6, 14, 20, 49, tzinfo=UTC)
    assert read.created_at == datetime(2024, 3, 30, 2, 7, 4, tzinfo=UTC)


def test_an_unsubscribed_number_reads_as_opted_out_and_no_number_as_unknown() -> None:
    out = wire.parse_person(
        person(phone_numbers=[{"number": "12025550123", "status": "unsubscribed"}]), crm_id_field=CRM
    )
    assert out is not None and out.contact.sms_status is SmsStatus.UNSUBSCRIBED
    assert out.contact.opted_out_at == out.contact.version
    none = wire.parse_person(person(phone_numbers=[]), crm_id_field=CRM)
    assert none is not None and none.contact.sms_status is SmsStatus.UNKNOWN and none.contact.phone is None
    odd = wire.parse_person(person(phone_numbers=[{"number": "12025550123", "status": "paused?"}]), crm_id_field=CRM)
    assert odd is not None and odd.contact.sms_status is SmsStatus.UNKNOWN


def test_the_primary_entry_wins_and_the_uuid_falls_back_to_the_self_link() -> None:
    data = person(
        identifiers=["mobilize:1"],
        email_addresses=[{"address": "old@example.org"}, {"primary": True, "address": "new@example.org"}],
        _links={"self": {"href": "https://actionnetwork.org/api/v2/people/abc-123"}},
    )
    read = wire.parse_person(data, crm_id_field=CRM)
    assert read is not None
    assert read.contact.email == "new@example.org"
    assert read.contact.platform_id == "abc-123"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-04-06T14:20:49Z", datetime(2022, 4, 6, 14, 20, 49, tzinfo=UTC)),
        ("2019-02-28T00:00:00.000+0000", datetime(2019, 2, 28, tzinfo=UTC)),
        ("2019-02-28T02:00:00+02:00", datetime(2019, 2, 28, tzinfo=UTC)),
        ("2019-02-29T00:00:00.000+0000", None),  # a date that does not exist (as in a published fixture)
        ("", None),
        (None, None),
    ],
)
def test_both_timestamp_forms_seen_on_the_wire_are_read(text: str | None, expected: datetime | None) -> None:
    assert wire.parse_time(text) == expected


def test_phones_are_digits_with_country_code_on_the_wire() -> None:
    assert wire.phone_to_wire("+12025550123") == "12025550123"
    assert wire.phone_from_wire("12025550123") == "+12025550123"
    assert wire.phone_from_wire("(202) 555-0123") == "+12025550123"
    assert wire.phone_from_wire(12025550123) == "+12025550123"
    assert wire.phone_from_wire("12") is None
    with pytest.raises(ValueError, match=r"E\.164"):
        wire.phone_to_wire("2025550123")


def test_the_signup_body_sends_a_phone_status_only_when_asked_and_no_empty_values() -> None:
    contact = Contact(
        phone="+12025550123",
        email="jane@example.org",
        first_name="Jane",
        crm_id="003000000000001AAA",
        custom_fields={"occupation": "Nurse", "empty": ""},  # type: ignore[arg-type]
    )
    body = wire.signup_body(contact, crm_id_field=CRM, tags=("salesforce",))
    assert body == {
        "person": {
            "given_name": "Jane",
            "email_addresses": [{"address": "jane@example.org"}],
            "phone_numbers": [{"number": "12025550123", "number_type": "Mobile"}],
            "custom_fields": {"occupation": "Nurse", CRM: "003000000000001AAA"},
        },
        "add_tags": ["salesforce"],
    }
    subscribed = wire.signup_body(contact, crm_id_field=CRM, phone_status="subscribed")
    assert subscribed["person"]["phone_numbers"][0]["status"] == "subscribed"
    assert "status" not in subscribed["person"]["email_addresses"][0]  # email status is never ours to set
    with pytest.raises(ValueError, match="subscribed or unsubscribed"):
        wire.signup_body(contact, crm_id_field=CRM, phone_status="bouncing")
    with pytest.raises(ValueError, match="email address or a phone"):
        wire.signup_body(Contact(first_name="Nobody"), crm_id_field=CRM)


def test_a_page_gives_its_people_and_next_link_and_never_needs_totals() -> None:
    page = wire.parse_page(
        {
            "page": 1,
            "per_page": 25,
            "_links": {"next": {"href": "https://actionnetwork.org/api/v2/people?page=2"}},
            "_embedded": {"osdi:people": [person(), "junk"]},
        }
    )
    assert len(page.items) == 1 and page.next_href == "https://actionnetwork.org/api/v2/people?page=2"
    last = wire.parse_page({"_embedded": {"osdi:people": []}, "_links": {}})
    assert last.items == () and last.next_href is None
    assert wire.parse_page({"error": "nope"}) == wire.Page((), None)


def test_filters_quote_values_as_odata_does() -> None:
    assert wire.email_filter(" o'hara@example.org ") == "email_address eq 'o''hara@example.org'"
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert wire.modified_since_filter(moment) == "modified_date gt '2024-01-02T03:04:05Z'"
    assert wire.modified_since_filter(moment, date_only=True) == "modified_date gt '2024-01-02'"


def element(key: str | None = "8222b5db14bb49a060b3f0f6cab321e6", **resource: object) -> dict[str, object]:
    body: dict[str, object] = {
        "osdi:submission": {
            "created_date": "2024-05-01T10:00:00Z",
            "modified_date": "2024-05-01T10:00:01Z",
            "person": {
                "given_name": "Jo",
                "email_addresses": [{"address": "jo@example.org"}],
                "phone_numbers": [{"number_type": "Mobile", "status": "subscribed"}],
            },
            "_links": {"osdi:person": {"href": "https://actionnetwork.org/api/v2/people/p-1"}},
            **resource,
        },
        "action_network:sponsor": {"title": "Group", "url": "https://actionnetwork.org/groups/g"},
    }
    if key is not None:
        body["idempotency_key"] = key
    return body


def test_a_webhook_array_yields_one_item_per_element_with_its_key_and_person() -> None:
    items = wire.parse_webhook_array(json.dumps([element(), element("k2")]).encode(), crm_id_field=CRM)
    assert [i.idempotency_key for i in items] == ["8222b5db14bb49a060b3f0f6cab321e6", "k2"]
    first = items[0]
    assert first.kind == "osdi:submission" and first.person_uuid == "p-1"
    assert first.person is not None and first.person.contact.email == "jo@example.org"
    assert first.person.contact.phone is None  # the captured payload had a status but no number
    assert first.occurred_at == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)


def test_an_element_without_a_key_gets_a_stable_one_and_one_without_a_person_is_skipped() -> None:
    body = json.dumps([element(None), {"action_network:upload": {"title": "x"}}, 7]).encode()
    once = wire.parse_webhook_array(body, crm_id_field=CRM)
    again = wire.parse_webhook_array(body, crm_id_field=CRM)
    assert len(once) == 1 and once[0].idempotency_key.startswith("sha256:")
    assert once[0].idempotency_key == again[0].idempotency_key


@pytest.mark.parametrize("body", [b"{}", b"not json", b'{"osdi:submission": {}}'])
def test_a_webhook_body_that_is_not_a_json_array_is_refused(body: bytes) -> None:
    with pytest.raises(wire.WebhookFormatError):
        wire.parse_webhook_array(body, crm_id_field=CRM)


@pytest.mark.parametrize(
    ("status", "body", "code", "transient"),
    [
        (404, {"error": "Couldn't find person with id = x"}, SyncErrorCode.NOT_FOUND, False),
        (400, {"error": "You must specify a valid person id"}, SyncErrorCode.PLATFORM_REJECTED, False),
        (401, {"error": "bad key"}, SyncErrorCode.CONFIGURATION, False),
        (403, None, SyncErrorCode.CONFIGURATION, False),
        (429, None, SyncErrorCode.RATE_LIMITED, True),
        (503, "<html>down</html>", SyncErrorCode.PLATFORM_UNAVAILABLE, True),
    ],
)
def test_http_answers_map_to_the_error_dictionary(
    status: int, body: object, code: SyncErrorCode, transient: bool
) -> None:
    error = wire.error_for_status(status, body, what="the linked person")
    assert error is not None and error.code is code and error.transient is transient
    assert wire.error_for_status(200, {}, what="x") is None


def test_the_platforms_message_is_kept_from_either_error_shape() -> None:
    error = wire.error_for_status(400, {"error": "You must specify a valid person id"}, what="the linked person")
    assert error is not None and "You must specify a valid person id" in error.detail
    osdi = {
        "request_type": "atomic",
        "response_code": 400,
        "resource_status": [{"errors": [{"code": "INVALID", "description": "email is not valid"}]}],
    }
    assert wire.error_message(osdi) == "email is not valid"
    assert wire.error_message(json.dumps({"error": "x" * 1000})).endswith("…")
    assert wire.error_message(b"<html/>") is None


def test_retry_after_is_read_as_seconds_or_a_date_and_ignored_when_absent() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert wire.retry_after_seconds("2") == 2.0
    assert wire.retry_after_seconds("Mon, 01 Jan 2024 12:00:05 GMT", now=now) == 5.0
    assert wire.retry_after_seconds(None) is None
    assert wire.retry_after_seconds("soon") is None


def test_person_uuids_come_from_identifiers_and_links() -> None:
    assert wire.person_uuid("action_network:abc") == "abc"
    assert wire.person_uuid("https://actionnetwork.org/api/v2/people/abc") == "abc"
    assert wire.person_uuid("https://actionnetwork.org/api/v2/forms/abc") is None
    assert wire.person_uuid("mobilize:1") is None
