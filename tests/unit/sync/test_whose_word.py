"""Whose word decides what a pushed platform event writes to Salesforce, and what the sync remembers: the platform's
own view where the adapter can read the person (a forged STOP through a webhook URL changes nothing), the pushed STOP
where the platform pushes opt-outs itself or cannot be asked; and no version mark from the future (real Redis, the
test platform)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import redis

from gateway.config import Settings
from gateway.domain.contact import Contact, SmsStatus
from gateway.platforms.base import Capabilities, InboundEvent, InboundKind
from gateway.platforms.recording import RecordingAdapter
from gateway.sync import state
from gateway.sync.context import SyncContext
from gateway.sync.from_platform import contacts_for_events
from tests.unit.sync.fakes import FakeSalesforce

PHONE = "+14155552671"


class PushOnly(RecordingAdapter):
    """A platform that pushes (signed) STOPs and START, and cannot be asked about a person."""

    capabilities = Capabilities(contact_store=False, inbound_webhooks=True, opt_out_webhooks=True)


class PushesAndAnswers(RecordingAdapter):
    """A platform that pushes opt-outs itself and can also be asked about a person."""

    capabilities = Capabilities(inbound_webhooks=True, opt_out_webhooks=True, lookup_by_phone=True)


def _stop(phone: str = PHONE, n: int = 1) -> InboundEvent:
    said = Contact(phone=phone, sms_status=SmsStatus.UNSUBSCRIBED)
    return InboundEvent(InboundKind.OPT_OUT, phone, f"stop-{n}", datetime.now(UTC), body="STOP", contact=said)


def _context(settings: Settings, connection: redis.Redis, platform: RecordingAdapter) -> SyncContext:
    return SyncContext.build(settings, connection, platform=platform, salesforce=FakeSalesforce())  # type: ignore[arg-type]


def test_a_stop_the_platform_does_not_hold_changes_nothing(context: SyncContext, recorder: RecordingAdapter) -> None:
    recorder.upsert_contact(Contact(phone=PHONE, first_name="Grace", crm_id="003000000000001AAA"), subscribe=True)

    [person] = contacts_for_events(context, [_stop()])

    assert person.sms_status is SmsStatus.SUBSCRIBED  # the platform's word, not the webhook's
    assert person.first_name == "Grace"


def test_a_stop_the_platform_holds_is_written(context: SyncContext, recorder: RecordingAdapter) -> None:
    recorder.opt_out(Contact(phone=PHONE, first_name="Grace", crm_id="003000000000001AAA"))

    [person] = contacts_for_events(context, [_stop()])

    assert person.sms_status is SmsStatus.UNSUBSCRIBED


def test_events_about_someone_the_platform_does_not_know_are_dropped_and_logged_once_a_day(
    context: SyncContext, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.sync.from_platform"):
        for n in range(5):
            assert contacts_for_events(context, [_stop(n=n)]) == []
    assert len([r for r in caplog.records if "does not know" in r.getMessage()]) == 1


def test_a_platform_that_cannot_be_asked_keeps_its_pushed_stop(settings: Settings, connection: redis.Redis) -> None:
    context = _context(settings, connection, PushOnly(connection))

    [person] = contacts_for_events(context, [_stop()])

    assert (person.phone, person.sms_status) == (PHONE, SmsStatus.UNSUBSCRIBED)
    assert person.opted_out_at is not None


def test_a_platform_that_cannot_be_asked_keeps_the_persons_own_pushed_start(
    settings: Settings, connection: redis.Redis
) -> None:
    context = _context(settings, connection, PushOnly(connection))
    said = Contact(phone=PHONE, sms_status=SmsStatus.SUBSCRIBED)
    start = InboundEvent(InboundKind.OPT_IN, PHONE, "start-1", datetime.now(UTC), body="START", contact=said)

    [person] = contacts_for_events(context, [start])

    assert (person.phone, person.sms_status) == (PHONE, SmsStatus.SUBSCRIBED)  # only their START lifts a STOP


def test_a_start_the_platform_does_not_hold_changes_nothing(context: SyncContext, recorder: RecordingAdapter) -> None:
    recorder.opt_out(Contact(phone=PHONE, first_name="Grace", crm_id="003000000000001AAA"))
    said = Contact(phone=PHONE, sms_status=SmsStatus.SUBSCRIBED)
    start = InboundEvent(InboundKind.OPT_IN, PHONE, "start-1", datetime.now(UTC), body="START", contact=said)

    [person] = contacts_for_events(context, [start])

    assert person.sms_status is SmsStatus.UNSUBSCRIBED  # the platform's view: a forged START lifts nothing


def test_a_pushed_stop_is_kept_over_a_view_that_does_not_show_it_yet(
    settings: Settings, connection: redis.Redis
) -> None:
    platform = PushesAndAnswers(connection)
    platform.upsert_contact(Contact(phone=PHONE, first_name="Grace", crm_id="003000000000001AAA"), subscribe=True)
    context = _context(settings, connection, platform)

    [person] = contacts_for_events(context, [_stop()])

    assert person.sms_status is SmsStatus.UNSUBSCRIBED  # a read lagging behind the push never loses a STOP
    assert person.first_name == "Grace"  # everything else is the platform's view


def test_a_version_from_the_future_is_never_remembered(connection: redis.Redis) -> None:
    future = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    pipe = connection.pipeline()
    state.mark(pipe, [state.record_synced("Contact", "003000000000001AAA", future)])
    pipe.execute()

    [remembered] = state.record_states(connection, "Contact", ["003000000000001AAA"])

    assert remembered.version is not None and remembered.version <= datetime.now(UTC)
    assert not remembered.is_stale(datetime.now(UTC) + timedelta(seconds=1))  # the next genuine edit goes through


def test_a_future_mark_stored_before_is_not_believed(connection: redis.Redis) -> None:
    connection.set("gateway:version:Contact:003000000000001", "9999-12-31T23:59:00+00:00")
    [remembered] = state.record_states(connection, "Contact", ["003000000000001AAA"])
    assert remembered.version is None
    platform_future = Contact(phone=PHONE, platform_id="p-1", version=datetime(9999, 1, 1, tzinfo=UTC))
    pipe = connection.pipeline()
    state.mark(pipe, [state.contact_synced(platform_future)])
    pipe.execute()
    assert state.already_synced(connection, [platform_future.with_changes(version=datetime.now(UTC))]) == [False]
