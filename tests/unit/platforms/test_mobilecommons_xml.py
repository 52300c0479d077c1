"""Reading Mobile Commons' XML: profiles (incl. one-element lists), opt status, history and its paging."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from defusedxml import EntitiesForbidden

from gateway.domain.contact import SmsStatus
from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.platforms.base import Direction, Message, MessageReason
from gateway.platforms.mobilecommons.wire import (
    page_messages,
    parse_response,
    profile_messages,
    profile_to_contact,
    response_error,
)

# The shape of the gem's spec/fixtures/profiles/get.xml, with values in the custom columns.
PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<response success="true">
  <profile id="345304097">
    <first_name>Mary</first_name>
    <last_name>Smith</last_name>
    <phone_number>15105016227</phone_number>
    <email />
    <status>Active subscriber</status>
    <created_at>2019-06-21 14:49:40 UTC</created_at>
    <updated_at>2019-06-22 20:24:36 UTC</updated_at>
    <opted_out_at />
    <opted_out_source />
    <source type="API" name="User1" email="user1@domain.com" />
    <address><street1>1 Main St</street1><street2 /><city>Oakland</city><state>CA</state>
      <postal_code>94612</postal_code><country>US</country></address>
    <custom_columns>
      <custom_column name="sf_id">0035g00000AbCdEAAV</custom_column>
      <custom_column name="Age">33</custom_column>
      <custom_column name="Favorite animal" />
    </custom_columns>
    <subscriptions>
      <subscription campaign_id="189358" campaign_name="National" opt_in_path_id="279022" status="Active"
        opt_in_source="User1" created_at="2019-06-21T14:49:40Z" activated_at="2019-06-22T20:24:36Z"
        opted_out_at="" opt_out_source="" />
    </subscriptions>
    <integrations></integrations>
    <clicks></clicks>
  </profile>
</response>"""


def _profile(xml: str = PROFILE):
    profile = parse_response(xml.encode()).find("profile")
    assert profile is not None
    return profile


def test_a_profile_becomes_a_contact_with_e164_phone_crm_id_and_custom_fields() -> None:
    contact = profile_to_contact(_profile(), crm_id_column="sf_id", campaign_id="189358")

    assert contact.phone == "+15105016227"
    assert contact.platform_id == "345304097"
    assert contact.crm_id == "0035g00000AbCdEAAV"
    assert dict(contact.custom_fields) == {"Age": "33"}  # empty columns and the CRM-id column left out
    assert contact.first_name == "Mary" and contact.email is None
    assert contact.address.city == "Oakland" and contact.address.street2 is None
    assert contact.sms_status is SmsStatus.SUBSCRIBED
    assert contact.version == datetime(2019, 6, 22, 20, 24, 36, tzinfo=UTC)


def test_the_crm_id_column_name_is_configurable() -> None:
    contact = profile_to_contact(_profile(), crm_id_column="Age", campaign_id=None)
    assert contact.crm_id == "33"
    assert dict(contact.custom_fields) == {"sf_id": "0035g00000AbCdEAAV"}


def test_an_opted_out_subscription_of_the_configured_campaign_means_unsubscribed() -> None:
    xml = PROFILE.replace('status="Active"', 'status="Opted Out"').replace(
        'opted_out_at=""', 'opted_out_at="2020-01-02T03:04:05Z"'
    )
    contact = profile_to_contact(_profile(xml), crm_id_column="sf_id", campaign_id="189358")
    assert contact.sms_status is SmsStatus.UNSUBSCRIBED
    assert contact.opted_out_at == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert not contact.is_textable


def test_no_subscription_to_the_configured_campaign_is_unknown_not_subscribed() -> None:
    contact = profile_to_contact(_profile(), crm_id_column="sf_id", campaign_id="999")
    assert contact.sms_status is SmsStatus.UNKNOWN


def test_a_stop_by_someone_never_in_the_configured_campaign_still_unsubscribes_them() -> None:
    xml = PROFILE.replace("<status>Active subscriber</status>", "<status>Undeliverable</status>").replace(
        "<opted_out_at />", "<opted_out_at>2024-03-05 12:30:45 UTC</opted_out_at>"
    )
    contact = profile_to_contact(_profile(xml), crm_id_column="sf_id", campaign_id="999")
    assert contact.sms_status is SmsStatus.UNSUBSCRIBED
    assert contact.opted_out_at is not None


@pytest.mark.parametrize(
    ("status", "opted_out_at", "expected"),
    [
        ("Active Subscriber", "", SmsStatus.SUBSCRIBED),
        ("Opted Out", "2020-01-02 03:04:05 UTC", SmsStatus.UNSUBSCRIBED),
        ("Profiles with no Subscriptions", "", SmsStatus.UNKNOWN),
    ],
)
def test_without_a_campaign_the_profile_status_decides(status: str, opted_out_at: str, expected: SmsStatus) -> None:
    xml = PROFILE.replace("<status>Active subscriber</status>", f"<status>{status}</status>").replace(
        "<opted_out_at />", f"<opted_out_at>{opted_out_at}</opted_out_at>"
    )
    assert profile_to_contact(_profile(xml), crm_id_column="sf_id", campaign_id=None).sms_status is expected


def test_a_profiles_list_with_a_single_profile_is_still_a_list() -> None:
    xml = PROFILE.replace("<profile id", '<profiles page_count="1"><profile id').replace(
        "</profile>", "</profile></profiles>"
    )
    found = parse_response(xml.encode()).findall("profiles/profile")
    assert len(found) == 1
    assert profile_to_contact(found[0], crm_id_column="sf_id", campaign_id="189358").phone == "+15105016227"


def test_an_error_answer_gives_its_id_and_message() -> None:
    root = parse_response(b'<response success="false">\n  <error id="5" message="Invalid phone number" />\n</response>')
    assert response_error(root) == (5, "Invalid phone number")
    assert response_error(parse_response(b'<response success="true"/>')) is None


def test_xml_with_entity_expansion_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><response>&a;</response>'
    with pytest.raises(EntitiesForbidden):
        parse_response(bomb)


@pytest.mark.parametrize(
    "document",
    [
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><response>&x;</response>',
        '<!DOCTYPE r [<!ENTITY a "aaaa">]><response>&a;</response>',
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "utf-32"])
def test_an_entity_is_refused_in_every_encoding_a_parser_reads(document: str, encoding: str) -> None:
    # the fast path sees no DTD marker in a UTF-16/32 document's bytes: its zero bytes send it to defusedxml too
    body = document.replace('version="1.0"', f'version="1.0" encoding="{encoding}"').encode(encoding)
    with pytest.raises((EntitiesForbidden, ET.ParseError, ValueError)):  # each an error answer to the adapter
        parse_response(body)


def test_an_answer_without_a_dtd_keeps_its_cdata_comments_and_escapes() -> None:
    root = parse_response(
        b'<?xml version="1.0" encoding="UTF-8"?><!-- note --><response success="true">'
        b"<body><![CDATA[a < b & c]]></body><name>Zo&#235; &amp; Al</name></response>"
    )
    assert root.findtext("body") == "a < b & c"
    assert root.findtext("name") == "Zo\u00eb & Al"


HISTORY = """<response success="true"><profile id="1"><phone_number>15105016227</phone_number>
<messages>
  <message id="12" message_type="incoming" status="received"><body><![CDATA[YES & more]]></body>
    <when>2024-01-01 10:00:05 UTC</when><campaign id="189358" name="National"/></message>
  <message id="11" message_type="broadcast" status="delivered"><body>Rally Saturday?</body>
    <when>2024-01-01 10:00:00 UTC</when><campaign id="189358" name="National"/></message>
  <message id="13" message_type="reply" status="delivered"><body>See you there</body>
    <when>2024-01-01 10:00:05 UTC</when></message>
  <message id="14" message_type="opt_out" status="delivered"><body>Bye</body>
    <when>2024-01-02 10:00:00 UTC</when></message>
  <message id="15" message_type="something_new" status="delivered"><body>?</body>
    <when>2024-01-03 10:00:00 UTC</when></message>
</messages></profile></response>"""


def test_history_is_ordered_oldest_first_with_directions_and_reasons() -> None:
    messages = profile_messages(_profile(HISTORY))

    assert [m.id for m in messages] == ["11", "12", "13", "14", "15"]  # same second: by id
    assert [(m.direction, m.reason) for m in messages] == [
        (Direction.OUTGOING, MessageReason.CAMPAIGN),
        (Direction.INCOMING, None),
        (Direction.OUTGOING, MessageReason.LIVE_AGENT),
        (Direction.OUTGOING, MessageReason.AUTOMATION),
        (Direction.OUTGOING, MessageReason.OTHER),
    ]
    assert messages[1].body == "YES & more"
    assert messages[0].campaign_name == "National" and messages[2].campaign_name is None


def _history(count: int) -> list[Message]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        Message(id=str(i), direction=Direction.INCOMING, body=str(i), at=start + timedelta(seconds=i // 3))
        for i in range(1, count + 1)
    ]


@pytest.mark.parametrize(("count", "limit"), [(300, 50), (301, 50), (7, 10), (10, 10), (1, 1)])
def test_paging_by_cursor_returns_every_message_once_newest_page_first(count: int, limit: int) -> None:
    history = _history(count)
    seen: list[str] = []
    before = None
    pages = 0
    while True:
        page = page_messages(history, limit=limit, before=before)
        pages += 1
        assert [m.id for m in page.messages] == sorted((m.id for m in page.messages), key=int)
        seen = [m.id for m in page.messages] + seen
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == [m.id for m in history]
    assert pages == -(-count // limit)


def test_an_empty_history_is_one_empty_page() -> None:
    page = page_messages([], limit=50, before=None)
    assert page.messages == () and page.next_before is None


def test_a_forged_cursor_is_a_clear_error() -> None:
    with pytest.raises(SyncFailure) as caught:
        page_messages(_history(3), limit=2, before="not-a-cursor")
    assert caught.value.error.code is SyncErrorCode.PLATFORM_REJECTED
