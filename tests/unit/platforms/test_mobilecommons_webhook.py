"""mData calls: verified by the secret in the path, read into events; settings keep secrets out of reprs."""

from __future__ import annotations

import pytest

from gateway.config import Secret, load_settings
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncErrorCode
from gateway.platforms.base import InboundKind, NotSupportedError, PlatformAdapter, WebhookRejectedError
from gateway.platforms.mobilecommons import MobileCommonsAdapter, MobileCommonsSettings

SECRET = "s3cret-path-segment"


def _adapter(**overrides: object) -> MobileCommonsAdapter:
    values: dict[str, object] = {
        "username": "api@example.org",
        "password": "hunter2-password",
        "webhook_secret": SECRET,
        "base_url": "http://127.0.0.1:9/api/",
    }
    values.update(overrides)
    return MobileCommonsAdapter(MobileCommonsSettings(**values))  # type: ignore[arg-type]


def _form(**fields: str) -> dict[str, str]:
    return {"phone": "15105016227", "keyword": "STOP", "args": "", "message_id": "900000002", **fields}


def test_stop_is_an_opt_out_event_for_the_e164_phone() -> None:
    [event] = _adapter().parse_webhook(SECRET, {}, _form(profile_first_name="Mary"), b"")
    assert event.kind is InboundKind.OPT_OUT
    assert event.phone == "+15105016227"
    assert event.contact is not None
    assert event.contact.sms_status is SmsStatus.UNSUBSCRIBED
    assert event.contact.first_name == "Mary"
    assert event.idempotency_key == "mobilecommons:mdata:900000002"


@pytest.mark.parametrize(
    ("keyword", "args", "kind"),
    [
        ("stop", "", InboundKind.OPT_OUT),
        ("START", "", InboundKind.OPT_IN),
        ("UNSTOP", "", InboundKind.OPT_IN),
        ("VOLUNTEER", "count me in", InboundKind.MESSAGE),
        ("STOP", "texting me so much", InboundKind.MESSAGE),
    ],
)
def test_the_text_decides_the_kind(keyword: str, args: str, kind: InboundKind) -> None:
    [event] = _adapter().parse_webhook(SECRET, {}, _form(keyword=keyword, args=args), b"")
    assert event.kind is kind
    assert event.body == f"{keyword} {args}".strip()


def test_a_redelivery_has_the_same_key_and_another_text_a_different_one() -> None:
    adapter = _adapter()
    [first] = adapter.parse_webhook(SECRET, {}, _form(message_id=""), b"")
    [again] = adapter.parse_webhook(SECRET, {}, _form(message_id=""), b"")
    [other] = adapter.parse_webhook(SECRET, {}, _form(message_id="", keyword="HELLO"), b"")
    assert first.idempotency_key == again.idempotency_key != other.idempotency_key


@pytest.mark.parametrize("secret", ["wrong", "", SECRET + "x", SECRET[:-1]])
def test_a_wrong_secret_is_rejected(secret: str) -> None:
    with pytest.raises(WebhookRejectedError) as caught:
        _adapter().parse_webhook(secret, {}, _form(), b"")
    assert caught.value.status == 404
    assert SECRET not in str(caught.value)


def test_without_a_configured_secret_every_call_is_rejected() -> None:
    with pytest.raises(WebhookRejectedError):
        _adapter(webhook_secret=None).parse_webhook("", {}, _form(), b"")


def test_a_call_without_a_phone_is_a_bad_request() -> None:
    with pytest.raises(WebhookRejectedError) as caught:
        _adapter().parse_webhook(SECRET, {}, _form(phone=""), b"")
    assert caught.value.status == 400


def test_settings_and_adapter_reprs_hold_no_secret() -> None:
    settings = MobileCommonsSettings(
        username="api@example.org", password="hunter2-password", bearer_token="tok-abc", webhook_secret=SECRET
    )
    shown = repr(settings) + repr(MobileCommonsAdapter(settings))
    for secret in ("hunter2-password", "tok-abc", SECRET):
        assert secret not in shown


def test_settings_need_credentials_and_say_which() -> None:
    with pytest.raises(ValueError, match="MOBILECOMMONS_USERNAME"):
        MobileCommonsSettings(username="api@example.org")


def test_settings_from_env() -> None:
    settings = load_settings(
        {
            "MESSAGING_PLATFORM": "mobilecommons",
            "MOBILECOMMONS_BEARER_TOKEN": "tok",
            "MOBILECOMMONS_CAMPAIGN_ID": "189358",
            "MOBILECOMMONS_CRM_ID_COLUMN": "",
            "MOBILECOMMONS_BASE_URL": "http://127.0.0.1:1/api/",
        }
    ).platform
    assert isinstance(settings, MobileCommonsSettings)
    assert settings.bearer_token == Secret("tok")
    assert settings.campaign_id == "189358"
    assert settings.crm_id_column == "sf_id"
    assert settings.base_url == "http://127.0.0.1:1/api/"


def test_the_adapter_keeps_the_protocol_and_refuses_lookups_mc_cannot_do() -> None:
    adapter = _adapter()
    assert isinstance(adapter, PlatformAdapter)
    assert not adapter.capabilities.lookup_by_crm_id and not adapter.capabilities.opt_out_webhooks
    with pytest.raises(NotSupportedError) as caught:
        adapter.find_contact(crm_id="0035g00000AbCdEAAV")
    assert caught.value.error.code is SyncErrorCode.CONFIGURATION
    assert "CRM id" in caught.value.error.detail


def test_subscribing_without_an_opt_in_path_is_a_configuration_error_before_any_call() -> None:
    from gateway.domain.errors import SyncFailure

    with pytest.raises(SyncFailure) as caught:
        _adapter().upsert_contact(Contact(phone="+15105016227"), subscribe=True)
    assert caught.value.error.code is SyncErrorCode.CONFIGURATION
    assert "MOBILECOMMONS_OPT_IN_PATH_ID" in caught.value.error.detail
