"""The Action Network adapter's sticky STOP when a subscribing signup is throttled and retried: the check that allows
`status: subscribed` is made again right before every attempt, in the same hold of the limiters, so a STOP that
lands while the signup waits or backs off is never overwritten. Action Network here is a small fake of the signup
helper and the read by uuid (one person per number, timestamps on a clock the test moves)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from gateway.domain.contact import Contact, SmsStatus
from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter
from gateway.platforms.actionnetwork.settings import ActionNetworkSettings

UUID = "c945d6fe-929e-11e3-a2e9-12313d316c29"
PHONE = "+14155552671"
NUMBER = "14155552671"


class Answer:
    def __init__(self, status: int, body: Any, date: datetime) -> None:
        self.status_code = status
        self._body = body
        self.headers = {"Date": format_datetime(date, usegmt=True)}

    def json(self) -> Any:
        return self._body


class Limits:
    """The shared limiters as the adapter uses them; records each hold's reserved slots and the requests sent in
    it, and refuses a request beyond what the hold reserved."""

    def __init__(self) -> None:
        self.holds: list[tuple[int, list[str]]] = []

    @contextmanager
    def request(self, slots: int = 1) -> Iterator[Callable[[], None]]:
        sent: list[str] = []
        self.holds.append((slots, sent))
        used = [1]

        def next_slot() -> None:
            assert used[0] < slots, "a request beyond the slots this hold reserved"
            used[0] += 1

        yield next_slot
        assert len(sent) <= slots

    def penalize(self, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass


class ActionNetwork:
    """People by number. `throttle` signups answer 429 (the probe, phone-only, is not throttled) and call
    `on_throttle` first (a person texting STOP meanwhile); every request moves the clock one second."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
        self.people: dict[str, dict[str, Any]] = {}
        self.throttle = 0
        self.on_throttle: Callable[[], None] = lambda: None
        self.signups: list[dict[str, Any]] = []

    def seed(self, status: str, *, created: datetime | None = None) -> None:
        at = created or self.now - timedelta(days=300)
        self.people[NUMBER] = {"id": UUID, "status": status, "created": at, "modified": at}

    def stop(self) -> None:
        self.people[NUMBER].update(status="unsubscribed", modified=self.now)

    def status(self) -> str:
        return str(self.people[NUMBER]["status"])

    def request(self, method: str, url: str, **kw: Any) -> Answer:
        self.now += timedelta(seconds=1)
        what = "read" if method == "GET" else ("probe" if set(kw["json"]["person"]) == {"phone_numbers"} else "signup")
        self.limits.holds[-1][1].append(what)
        if what == "read":
            [number] = [n for n, person in self.people.items() if url.endswith(person["id"])]
            return Answer(200, self._person(number), self.now)
        entry = kw["json"]["person"]["phone_numbers"][0]
        if what == "signup" and self.throttle:
            self.throttle -= 1
            self.on_throttle()
            return Answer(429, {"error": "You are over the rate limit"}, self.now)
        if what == "signup":
            self.signups.append(kw["json"])
        new = {"id": f"new-{len(self.people)}", "status": "unsubscribed", "created": self.now, "modified": self.now}
        person = self.people.setdefault(entry["number"], new)
        if what == "signup":  # a probe changes nothing, a signup at least the name
            person.update(status=entry.get("status", person["status"]), modified=self.now)
        return Answer(200, self._person(entry["number"]), self.now)

    def _person(self, number: str) -> dict[str, Any]:
        person = self.people[number]
        return {
            "identifiers": [f"action_network:{person['id']}"],
            "created_date": person["created"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "modified_date": person["modified"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "phone_numbers": [{"number": number, "status": person["status"], "primary": True}],
        }


def make() -> tuple[ActionNetworkAdapter, ActionNetwork, Limits]:
    limits = Limits()
    platform = ActionNetwork(limits)
    adapter = ActionNetworkAdapter(
        ActionNetworkSettings(api_token="t" * 32, backoff_seconds=0.01, max_backoff_seconds=0.01),
        limits=limits,  # type: ignore[arg-type]
        clock=lambda: platform.now,
    )
    adapter._session.request = platform.request  # type: ignore[method-assign,assignment]
    return adapter, platform, limits


LINKED = Contact(phone=PHONE, first_name="Grace", email="grace@example.org", platform_id=UUID)
NEW = Contact(phone=PHONE, first_name="Ada", email="ada@example.org")


def test_a_stop_while_a_linked_records_signup_backs_off_after_a_429_is_not_overwritten() -> None:
    adapter, platform, limits = make()
    platform.seed("subscribed")
    platform.throttle, platform.on_throttle = 1, platform.stop
    view = adapter.upsert_contact(LINKED, subscribe=True)
    assert platform.status() == "unsubscribed" and view.sms_status is SmsStatus.UNSUBSCRIBED
    assert "status" not in platform.signups[-1]["person"]["phone_numbers"][0]  # the retry cannot subscribe
    assert platform.signups[-1]["person"]["given_name"] == "Grace"  # the rest of the record is still synced
    assert [sent for _, sent in limits.holds] == [["read", "signup"], ["read", "signup"]]


def test_without_a_stop_the_retried_signup_still_subscribes() -> None:
    adapter, platform, limits = make()
    platform.seed("subscribed")
    platform.throttle = 2
    view = adapter.upsert_contact(LINKED, subscribe=True)
    assert platform.status() == "subscribed" and view.sms_status is SmsStatus.SUBSCRIBED
    assert [sent for _, sent in limits.holds] == [["read", "signup"]] * 3


def test_a_new_number_is_still_subscribed_by_a_signup_retried_long_after_the_probe_created_it() -> None:
    adapter, platform, limits = make()

    def back_off() -> None:
        platform.now += timedelta(seconds=30)  # far beyond the probe's 2 s window: the first probe's bound holds

    platform.throttle, platform.on_throttle = 1, back_off
    view = adapter.upsert_contact(NEW, subscribe=True)
    assert platform.status() == "subscribed" and view.sms_status is SmsStatus.SUBSCRIBED
    assert [sent for _, sent in limits.holds] == [["probe", "signup"], ["probe", "signup"]]


def test_a_new_number_that_texts_stop_while_its_signup_backs_off_stays_unsubscribed() -> None:
    adapter, platform, _ = make()

    def stop_later() -> None:
        platform.now += timedelta(seconds=30)
        platform.stop()

    platform.throttle, platform.on_throttle = 1, stop_later
    view = adapter.upsert_contact(NEW, subscribe=True)
    assert platform.status() == "unsubscribed" and view.sms_status is SmsStatus.UNSUBSCRIBED


def test_without_a_retry_the_check_and_the_signup_are_two_requests_in_one_hold_as_before() -> None:
    adapter, platform, limits = make()
    platform.seed("subscribed")
    adapter.upsert_contact(LINKED, subscribe=True)
    assert limits.holds == [(2, ["read", "signup"])]
    adapter.upsert_contact(LINKED, subscribe=False)
    assert limits.holds[1:] == [(1, ["signup"])]  # no check when the record does not ask to subscribe


def test_a_linked_person_that_no_longer_holds_the_number_is_checked_by_the_probe_next_to_the_signup() -> None:
    adapter, platform, limits = make()
    platform.seed("subscribed")
    moved = LINKED.with_changes(phone="+14155550100")
    adapter.upsert_contact(moved, subscribe=True)
    assert [sent for _, sent in limits.holds] == [["read"], ["probe", "signup"]]
    assert platform.signups[-1]["person"]["phone_numbers"][0]["status"] == "subscribed"  # new to Action Network
    assert platform.people["14155550100"]["status"] == "subscribed"
