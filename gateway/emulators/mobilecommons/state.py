"""The Mobile Commons emulator's account: profiles keyed by phone, campaigns, subscriptions, message history.

Guarantees: every public method is atomic under one lock (thread-safe); phones are stored as MC's
11-digit `1XXXXXXXXXX`; a number is opted into a campaign through the API once and once only (a later
opt-in through any path of that campaign changes nothing, as Upland documents), and a profile that
opted out (STOP, or an API opt-out of every campaign) is never re-subscribed through the API — only by
the person texting START; an API call that tries to subscribe or text a person whose own STOP is in force is
refused and counted (`after_stop_counts`: what `scripts/chaos` reports as re-texted); timestamps have
one-second precision like MC's.

What recorded responses show (docs/platforms/mobilecommons.md, "Recorded responses"): subscription `status` is
"Active" or "Opted-Out"; after an opt-out the profile `<status>` is "Undeliverable" (else "Active Subscriber",
or "Profiles with no Subscriptions"); opt-out sources read "Texted a STOP word" and "Opt-out from API"; a
profile's `opted_out_at` stays set after the person texts START again; custom columns carry their own
`created_at`/`updated_at`.

Assumptions (UNCONFIRMED, research §1): "Undeliverable" is also the status of a profile whose every subscription
was opted out one campaign at a time; `profile_update` overwrites a field only with a non-empty value and treats
any parameter it does not know as a custom column; message types are `incoming`, `broadcast`, `reply`,
`opt_in`, `opt_out`, `mdata`, `api`.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ACTIVE = "Active"
OPTED_OUT = "Opted-Out"
ACTIVE_PROFILE = "Active Subscriber"
UNDELIVERABLE = "Undeliverable"
NO_SUBSCRIPTIONS = "Profiles with no Subscriptions"
STOP_SOURCE = "Texted a STOP word"
API_SOURCE = "Opt-out from API"
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})
STANDARD_FIELDS = ("first_name", "last_name", "email", "street1", "street2", "city", "state", "postal_code", "country")
RESERVED_PARAMS = frozenset(
    {"phone_number", "opt_in_path_id", "company", "campaign_id", "include_messages", "include_subscriptions",
     "include_custom_columns", "limit", "page", "from", "to"}
)  # fmt: skip

ERROR_MESSAGES = {
    0: "Unknown error",
    1: "Invalid campaign id",
    4: "Invalid company id",
    5: "Invalid phone number",
    11: "Phone number is not opted into this campaign",
    14: "Phone number is not textable",
    16: "Invalid query parameters",
    19: "Invalid opt-in path",
    27: "API rate limit exceeded",
    28: "Missing phone_number parameter",
}


class EmulatorError(Exception):
    """An MC error answer: `<response success="false"><error id= message=/>`."""

    def __init__(self, error_id: int, message: str | None = None) -> None:
        super().__init__(message or ERROR_MESSAGES.get(error_id, "Error"))
        self.error_id = error_id
        self.message = message or ERROR_MESSAGES.get(error_id, "Error")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def wire_phone(value: str | None) -> str:
    """Any readable US number (`+1 (510) 501-6227`, `5105016227`) → `15105016227`; error 28/5 otherwise."""
    if value is None or not value.strip():
        raise EmulatorError(28)
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) == 10:
        digits = "1" + digits
    if len(digits) != 11 or digits[0] != "1" or digits[1] in "01":
        raise EmulatorError(5)
    return digits


@dataclass(slots=True)
class Subscription:
    campaign_id: int
    opt_in_path_id: int | None
    status: str
    created_at: datetime
    activated_at: datetime | None
    opt_in_source: str = "API"
    opted_out_at: datetime | None = None
    opt_out_source: str = ""


@dataclass(slots=True)
class StoredMessage:
    id: int
    message_type: str
    body: str
    at: datetime
    status: str
    campaign_id: int | None

    @property
    def incoming(self) -> bool:
        return self.message_type == "incoming"


@dataclass(slots=True)
class Profile:
    id: int
    phone: str
    created_at: datetime
    updated_at: datetime
    source_type: str = "API"
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    street1: str = ""
    street2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = "US"
    custom: dict[str, str] = field(default_factory=dict)
    custom_times: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)  # name -> (created, updated)
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    opted_out_at: datetime | None = None  # the last opt-out; kept when the person texts START again
    opted_out_source: str = ""
    stopped: bool = False  # opted out of everything now (STOP, or an API opt-out without a campaign)
    texted_stop: bool = False  # the person's own STOP is in force (no START since): nothing may text or subscribe them
    messages: list[StoredMessage] = field(default_factory=list)
    change: int = 0  # the emulator's bookkeeping, not MC's: the account's change count at this profile's last change,
    changed_at: float = 0.0  # and when it happened (Unix seconds, in full: `updated_at` has MC's one-second precision)

    @property
    def status(self) -> str:
        if not self.stopped and any(s.status == ACTIVE for s in self.subscriptions.values()):
            return ACTIVE_PROFILE
        if self.stopped or self.subscriptions:
            return UNDELIVERABLE
        return NO_SUBSCRIPTIONS

    @property
    def sms_status(self) -> str:
        """The emulator's summary in the gateway's words: subscribed | unsubscribed | unknown."""
        return {ACTIVE_PROFILE: "subscribed", UNDELIVERABLE: "unsubscribed"}.get(self.status, "unknown")

    def set_custom(self, name: str, value: str, moment: datetime) -> None:
        if self.custom.get(name) == value:
            return
        created = self.custom_times.get(name, (moment, moment))[0]
        self.custom[name] = value
        self.custom_times[name] = (created, moment)

    def to_json(self, campaigns: Mapping[int, Campaign]) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "phone": "+" + self.phone,
            "phone_number": self.phone,
            **{name: getattr(self, name) or None for name in STANDARD_FIELDS},
            "custom_fields": dict(self.custom),
            "status": self.status,
            "sms_status": self.sms_status,
            "opted_out_at": _iso(self.opted_out_at),
            "opted_out_source": self.opted_out_source or None,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "change": self.change,
            "changed_at": self.changed_at,
            "subscriptions": [
                {
                    "campaign_id": str(s.campaign_id),
                    "campaign_name": campaigns[s.campaign_id].name if s.campaign_id in campaigns else "",
                    "opt_in_path_id": str(s.opt_in_path_id) if s.opt_in_path_id else None,
                    "status": s.status,
                    "activated_at": _iso(s.activated_at),
                    "opted_out_at": _iso(s.opted_out_at),
                }
                for s in self.subscriptions.values()
            ],
            "message_count": len(self.messages),
        }


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    opt_in_paths: Mapping[int, str]
    active: bool = True
    welcome: str = "Thanks for joining! Msg&data rates may apply. Reply STOP to cancel, HELP for help."


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass(frozen=True, slots=True)
class InboundResult:
    """What a person texting in did, with what mData needs (copied under the lock)."""

    phone: str
    profile: dict[str, str]
    keyword: str  # the first word as texted
    args: str
    message_id: int
    handled: bool = False  # a STOP or START word: Mobile Commons itself answers it, no mData is called


class MobileCommonsState:
    """All data of one emulated Mobile Commons company."""

    def __init__(self, *, campaign_id: int, opt_in_path_id: int) -> None:
        self.campaign_id = campaign_id
        self.opt_in_path_id = opt_in_path_id
        self._lock = threading.RLock()
        self._changes = 0  # every change to a profile, counted; never reset, so a reader's count stays valid
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.after_stop = {"subscribe": 0, "message": 0}  # API calls that would text someone who said STOP
            self.campaigns: dict[int, Campaign] = {
                self.campaign_id: Campaign(self.campaign_id, "National", {self.opt_in_path_id: "Main opt-in"}),
                self.campaign_id + 1: Campaign(
                    self.campaign_id + 1, "Volunteers", {self.opt_in_path_id + 1: "Volunteer opt-in"}
                ),
            }
            self._path_to_campaign = {p: c.id for c in self.campaigns.values() for p in c.opt_in_paths}
            self._by_phone: dict[str, Profile] = {}
            self._by_id: dict[int, Profile] = {}
            self._columns: set[str] = set()
            self._next_profile_id = 345_300_001
            self._next_message_id = 900_000_001

    # -- the API

    def profile_update(self, params: Mapping[str, str]) -> Profile:
        phone = wire_phone(params.get("phone_number"))
        path_text = params.get("opt_in_path_id") or ""
        with self._lock:
            campaign_id = None
            if path_text:
                if not path_text.isdigit() or int(path_text) not in self._path_to_campaign:
                    raise EmulatorError(19)
                campaign_id = self._path_to_campaign[int(path_text)]
            moment = now()
            profile = self._by_phone.get(phone) or self._create(phone, moment)
            for name in STANDARD_FIELDS:
                value = (params.get(name) or "").strip()
                if value:
                    setattr(profile, name, value)
            for name, value in params.items():
                if name not in RESERVED_PARAMS and name not in STANDARD_FIELDS and value.strip():
                    profile.set_custom(name, value.strip(), moment)
                    self._columns.add(name)
            if campaign_id is not None:
                if profile.texted_stop:
                    self.after_stop["subscribe"] += 1  # refused below, as MC does; counted: the caller should know
                self._api_opt_in(profile, campaign_id, int(path_text), moment)
            self._touch(profile, moment)
            return profile

    def get_profile(self, phone_number: str | None) -> Profile:
        phone = wire_phone(phone_number)
        with self._lock:
            profile = self._by_phone.get(phone)
            if profile is None:
                raise EmulatorError(5)
            return profile

    def list_profiles(
        self,
        *,
        phones: Iterable[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
        page: int = 1,
    ) -> tuple[list[Profile], int]:
        """(the page's profiles in id order, page_count). `start`/`end` bound `updated_at` inclusively."""
        if not 1 <= limit <= 1000 or page < 1:
            raise EmulatorError(16)
        with self._lock:
            wanted = [wire_phone(p) for p in phones]
            if wanted:
                candidates = [self._by_phone[p] for p in wanted if p in self._by_phone]
            else:
                candidates = list(self._by_id.values())
            if start is not None or end is not None:
                low = start or datetime.min.replace(tzinfo=UTC)
                high = end or datetime.max.replace(tzinfo=UTC)
                candidates = [p for p in candidates if low <= p.updated_at <= high]
            page_count = math.ceil(len(candidates) / limit)
            return candidates[(page - 1) * limit : page * limit], page_count

    def opt_out(self, phone_number: str | None, campaign_text: str | None) -> Profile:
        phone = wire_phone(phone_number)
        with self._lock:
            profile = self._by_phone.get(phone)
            if profile is None:
                raise EmulatorError(5)
            moment = now()
            if campaign_text:
                if not campaign_text.isdigit() or int(campaign_text) not in self.campaigns:
                    raise EmulatorError(1)
                sub = profile.subscriptions.get(int(campaign_text))
                if sub is None:
                    raise EmulatorError(11)
                self._opt_out_sub(sub, moment, API_SOURCE)
                if not any(s.status == ACTIVE for s in profile.subscriptions.values()):
                    profile.opted_out_at, profile.opted_out_source = moment, API_SOURCE
            else:
                if not profile.subscriptions:
                    raise EmulatorError(11)
                for sub in profile.subscriptions.values():
                    self._opt_out_sub(sub, moment, API_SOURCE)
                profile.stopped = True
                profile.opted_out_at, profile.opted_out_source = moment, API_SOURCE
            self._touch(profile, moment)
            return profile

    def send_message(self, campaign_text: str | None, phone_number: str | None, body: str | None) -> StoredMessage:
        if not campaign_text or not campaign_text.isdigit() or int(campaign_text) not in self.campaigns:
            raise EmulatorError(1)
        if not body:
            raise EmulatorError(3, "Invalid message body")
        phone = wire_phone(phone_number)
        with self._lock:
            profile = self._by_phone.get(phone)
            if profile is None:
                raise EmulatorError(5)
            if profile.texted_stop:
                self.after_stop["message"] += 1
            if profile.stopped:
                raise EmulatorError(14)
            sub = profile.subscriptions.get(int(campaign_text))
            if sub is None or sub.status != ACTIVE:
                raise EmulatorError(11)
            return self._add_message(profile, "api", body, now(), int(campaign_text))

    # -- a person texting

    def inbound(self, phone_number: str, body: str) -> InboundResult:
        phone = wire_phone(phone_number)
        text = body.strip()
        word = text.upper()
        with self._lock:
            moment = now()
            profile = self._by_phone.get(phone) or self._create(phone, moment, source_type="Keyword")
            active = [s for s in profile.subscriptions.values() if s.status == ACTIVE]
            campaign_id = active[0].campaign_id if active else self.campaign_id
            incoming = self._add_message(profile, "incoming", text, moment, campaign_id)
            if word in STOP_WORDS:
                for sub in profile.subscriptions.values():
                    self._opt_out_sub(sub, moment, STOP_SOURCE)
                profile.stopped = profile.texted_stop = True
                profile.opted_out_at, profile.opted_out_source = moment, STOP_SOURCE
                self._add_message(
                    profile, "opt_out", "You are unsubscribed and will receive no more messages. "
                    "Reply START to resubscribe.", moment, campaign_id,
                )  # fmt: skip
            elif word in START_WORDS:
                # `opted_out_at` stays: recorded profiles keep it once active again
                profile.stopped = profile.texted_stop = False
                if profile.subscriptions:
                    for sub in profile.subscriptions.values():
                        if sub.status != ACTIVE:
                            # the old opt-out stays on the subscription (UNCONFIRMED: the stricter reading for a
                            # client, which must then compare it with activated_at), as it does on the profile
                            sub.status, sub.activated_at = ACTIVE, moment
                else:
                    profile.subscriptions[self.campaign_id] = Subscription(
                        self.campaign_id, self.opt_in_path_id, ACTIVE, moment, moment, "Texted START"
                    )
                self._add_message(profile, "opt_in", "You are resubscribed. Reply STOP to cancel.", moment, campaign_id)
            self._touch(profile, moment)
            keyword, _, args = text.partition(" ")
            fields = {
                "profile_id": str(profile.id),
                **{f"profile_{name}": getattr(profile, name) for name in STANDARD_FIELDS},
                **{f"profile_{name}": value for name, value in profile.custom.items()},
            }
            handled = word in STOP_WORDS or word in START_WORDS  # MC's own words: answered by MC, never by mData
            return InboundResult(phone, fields, keyword, args.strip(), incoming.id, handled)

    def record_reply(self, phone_number: str, body: str) -> None:
        """An mData answer texted back to the person."""
        with self._lock:
            profile = self._by_phone.get(wire_phone(phone_number))
            if profile is not None:
                self._add_message(profile, "mdata", body, now(), self.campaign_id)

    # -- control

    def snapshot(
        self, phone: str | None = None, *, updated_since: datetime | None = None, changed_after: int | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """(every profile, or the one holding `phone`; the account's change count now). With `updated_since`, only
        the profiles updated at or after it (MC's one-second precision); with `changed_after` (a count this returned
        before), only those changed since: a reader that passes back each answer's count sees each change once,
        however often it looks (a benchmark watching a burst among thousands, ten times a second)."""
        with self._lock:
            if phone:
                found = self._by_phone.get(wire_phone(phone))
                profiles = [found] if found else []
            else:
                profiles = list(self._by_id.values())
            if updated_since is not None:
                profiles = [p for p in profiles if p.updated_at >= updated_since]
            if changed_after is not None:
                profiles = [p for p in profiles if p.change > changed_after]
            return [p.to_json(self.campaigns) for p in profiles], self._changes

    def phones(self) -> set[str]:
        """Every profile's phone, E.164."""
        with self._lock:
            return {"+" + phone for phone in self._by_phone}

    def custom_column_names(self) -> list[str]:
        """Every custom column the account has (MC lists them on each profile, empty where unset)."""
        with self._lock:
            return sorted(self._columns)

    def count(self) -> int:
        with self._lock:
            return len(self._by_id)

    def after_stop_counts(self) -> dict[str, int]:
        """API calls that tried to subscribe (`profile_update` with an opt-in path) or text (`send_message`) a
        number whose own STOP is in force: each is refused, as Mobile Commons refuses it, and counted, since a
        caller that makes one would text that person on a platform that does not refuse."""
        with self._lock:
            return dict(self.after_stop)

    def seed_profile(self, spec: Mapping[str, Any], rng: random.Random) -> Profile:
        """One profile from a control-API spec (see `seed.py`); its phone must be new."""
        phone = wire_phone(str(spec["phone"]))
        with self._lock:
            if phone in self._by_phone:
                raise ValueError(f"a profile with phone {phone} already exists")
            created = _parse_iso(spec.get("created_at")) or now() - timedelta(days=rng.randint(30, 900))
            profile = self._create(phone, created)
            address = spec.get("address") or {}
            for name in STANDARD_FIELDS:
                value = spec.get(name, address.get(name))
                if value:
                    setattr(profile, name, str(value))
            custom = spec.get("custom_fields") or {}
            for name, value in custom.items():
                if value not in (None, ""):
                    profile.set_custom(str(name), str(value), created)
                    self._columns.add(str(name))
            status = spec.get("sms_status", "subscribed")
            campaign_id = int(spec.get("campaign_id") or self.campaign_id)
            if campaign_id not in self.campaigns:
                raise ValueError(f"unknown campaign_id {campaign_id}")
            if status in ("subscribed", "unsubscribed"):
                path = next(iter(self.campaigns[campaign_id].opt_in_paths))
                sub = Subscription(campaign_id, path, ACTIVE, created, created)
                profile.subscriptions[campaign_id] = sub
                if status == "unsubscribed":
                    out_at = created + (now() - created) / 2
                    self._opt_out_sub(sub, out_at, STOP_SOURCE)
                    profile.opted_out_at, profile.opted_out_source, profile.stopped = out_at, STOP_SOURCE, True
                    profile.texted_stop = True
            elif status != "unknown":
                raise ValueError("sms_status must be subscribed, unsubscribed or unknown")
            messages = spec.get("messages") or 0
            if isinstance(messages, int):
                self._seed_history(profile, messages, campaign_id, rng)
            else:
                for item in messages:
                    self._add_message(
                        profile,
                        str(item.get("type") or ("incoming" if item.get("direction") == "incoming" else "broadcast")),
                        str(item.get("body") or ""),
                        _parse_iso(item.get("at")) or now(),
                        campaign_id,
                    )
                profile.messages.sort(key=lambda m: (m.at, m.id))
            self._touch(profile, _parse_iso(spec.get("updated_at")) or now())
            return profile

    # -- internals (call with the lock held)

    def _touch(self, profile: Profile, moment: datetime) -> None:
        """`profile` changed, at `moment` in MC's `updated_at`: counted and stamped (`snapshot(changed_after=)`). Called
        where `updated_at` moves (fields, subscriptions, opt-outs, STOP/START, a seed), not for messages."""
        self._changes += 1
        profile.updated_at, profile.change, profile.changed_at = moment, self._changes, time.time()

    def _create(self, phone: str, moment: datetime, *, source_type: str = "API") -> Profile:
        profile = Profile(self._next_profile_id, phone, moment, moment, source_type)
        self._next_profile_id += 1
        self._by_phone[phone] = profile
        self._by_id[profile.id] = profile
        return profile

    def _api_opt_in(self, profile: Profile, campaign_id: int, path_id: int, moment: datetime) -> None:
        if campaign_id in profile.subscriptions or profile.stopped:
            return  # once per campaign, and a person who opted out stays out (Upland's rule)
        profile.subscriptions[campaign_id] = Subscription(campaign_id, path_id, ACTIVE, moment, moment)
        self._add_message(profile, "opt_in", self.campaigns[campaign_id].welcome, moment, campaign_id)

    @staticmethod
    def _opt_out_sub(sub: Subscription, moment: datetime, source: str) -> None:
        if sub.status == ACTIVE:
            sub.status, sub.opted_out_at, sub.opt_out_source = OPTED_OUT, moment, source

    def _add_message(
        self, profile: Profile, message_type: str, body: str, at: datetime, campaign_id: int | None
    ) -> StoredMessage:
        status = "received" if message_type == "incoming" else "delivered"
        message = StoredMessage(self._next_message_id, message_type, body, at, status, campaign_id)
        self._next_message_id += 1
        profile.messages.append(message)
        return message

    def _seed_history(self, profile: Profile, count: int, campaign_id: int, rng: random.Random) -> None:
        """`count` messages of a plausible conversation spread over the profile's lifetime."""
        if count <= 0:
            return
        start = profile.created_at
        span = max((now() - start).total_seconds(), float(count))
        for index in range(count):
            at = (start + timedelta(seconds=span * (index + 1) / (count + 1))).replace(microsecond=0)
            kind = rng.choices(["broadcast", "incoming", "reply", "auto_response"], [5, 3, 2, 1])[0]
            body = {
                "broadcast": "Rally this Saturday at 10am, City Hall. Can you make it? Reply YES or NO.",
                "incoming": rng.choice(["YES", "Count me in!", "What time?", "no sorry", "Where exactly?"]),
                "reply": "Thanks! An organizer will follow up with details.",
                "auto_response": "Got it, thanks for your reply.",
            }[kind]
            self._add_message(profile, kind, f"{body} (#{index + 1})", at, campaign_id)


def _parse_iso(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00").replace(" UTC", "+00:00")
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def parse_wire_time(value: str | None) -> datetime | None:
    """`from`/`to` as MC takes them (ISO-8601, or a date); error 16 when unreadable."""
    if not value:
        return None
    try:
        return _parse_iso(value)
    except ValueError as exc:
        raise EmulatorError(16) from exc
