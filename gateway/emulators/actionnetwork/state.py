"""The Action Network emulator's data: people, tags, and the person signup helper's matching rules.

What follows the documented contract (docs/platforms/actionnetwork.md): the helper finds people by email and by
phone; a new person's email is subscribed and their phone unsubscribed unless a status is passed; an existing
person's statuses change only when one is passed, and only to subscribed or unsubscribed; a phone that another
activist holds moves to the new activist when both have emails, and a phone-only activist is merged into the
other; unknown tags are ignored; a person holds one phone.

What is the emulator's own choice because the real behaviour is UNCONFIRMED, so tests must not rely on it as
Action Network's: the status travels with a number that moves or merges; `modified_date` changes only when
something changed; a STOP from a number nobody holds creates nobody; the error wording of 400s other than the
documented ones; people are returned in uuid order (stable, and unrelated to when they changed, as "no order"
allows).
"""

from __future__ import annotations

import re
import threading
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
WRITABLE_STATUSES = ("subscribed", "unsubscribed")
EMAIL_STATUSES = ("subscribed", "unsubscribed", "bouncing", "previous bounce", "spam complaint")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ApiError(Exception):
    """An API answer other than success: the HTTP status and the `{"error": …}` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def now() -> datetime:
    return datetime.now(UTC)


def wire_time(moment: datetime) -> str:
    """Action Network's form: UTC, one-second precision, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_filter_time(value: str) -> datetime:
    """A filter's date or timestamp (`2014-03-25`, `2014-03-25T10:00:00Z`, with an offset or not)."""
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def digits_of(number: object) -> str:
    """A wire phone number as the emulator keys it: digits with the country code (10 digits read as US)."""
    text = str(number) if isinstance(number, (str, int)) and not isinstance(number, bool) else ""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) == 10:
        digits = "1" + digits
    if not 8 <= len(digits) <= 15:
        raise ApiError(400, f"Phone number {text!r} is not valid")
    return digits


@dataclass
class Person:
    uuid: str
    created: datetime
    modified: datetime
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    email_status: str | None = None
    phone: str | None = None  # digits with country code
    phone_status: str | None = None
    postal: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)

    def snapshot(self) -> tuple[Any, ...]:
        return (
            self.given_name,
            self.family_name,
            self.email,
            self.email_status,
            self.phone,
            self.phone_status,
            repr(sorted(self.postal.items())),
            repr(sorted(self.custom.items())),
            tuple(sorted(self.tags)),
        )

    def to_json(self, api_url: str) -> dict[str, Any]:
        """The person as `GET people/{uuid}` shows it (HAL+JSON, OSDI field names)."""
        body: dict[str, Any] = {"identifiers": [f"action_network:{self.uuid}"]}
        if self.given_name:
            body["given_name"] = self.given_name
        if self.family_name:
            body["family_name"] = self.family_name
        body["email_addresses"] = (
            [{"primary": True, "address": self.email, "status": self.email_status}] if self.email else []
        )
        body["phone_numbers"] = (
            [{"primary": True, "number": self.phone, "number_type": "Mobile", "status": self.phone_status}]
            if self.phone
            else []
        )
        body["postal_addresses"] = [{"primary": True, **self.postal}] if self.postal else []
        body["custom_fields"] = dict(self.custom)
        body["created_date"] = wire_time(self.created)
        body["modified_date"] = wire_time(self.modified)
        body["languages_spoken"] = ["en"]
        href = f"{api_url}people/{self.uuid}"
        body["_links"] = {
            "self": {"href": href},
            "osdi:signatures": {"href": f"{href}/signatures"},
            "osdi:submissions": {"href": f"{href}/submissions"},
            "osdi:donations": {"href": f"{href}/donations"},
            "osdi:taggings": {"href": f"{href}/taggings"},
            "curies": [{"name": "osdi", "href": "https://actionnetwork.org/docs/v2/{rel}", "templated": True}],
        }
        return body


_CLAUSE = re.compile(r"^\s*([a-z_]+)\s+(eq|ne|gt|ge|lt|le)\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_FILTERABLE = {"email_address", "given_name", "family_name", "created_date", "modified_date"}


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """OData clauses joined by `and`, on the fields the emulator filters (`email_address`, names, dates).
    Anything else is a 400 — whether Action Network refuses or ignores other filters is UNCONFIRMED."""
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if not match:
            raise ApiError(400, f"Could not parse the filter {text!r}")
        name, op, value = match.group(1).lower(), match.group(2).lower(), match.group(3).replace("''", "'")
        if name not in _FILTERABLE:
            raise ApiError(400, f"You cannot filter on {name}")
        clauses.append((name, op, value))
    return clauses


def _compare(left: Any, op: str, right: Any) -> bool:
    if left is None:
        return op == "ne"
    return bool(
        {
            "eq": left == right,
            "ne": left != right,
            "gt": left > right,
            "ge": left >= right,
            "lt": left < right,
            "le": left <= right,
        }[op]
    )


def _matches(person: Person, clauses: list[tuple[str, str, str]]) -> bool:
    for name, op, value in clauses:
        if name == "email_address":
            ok = _compare(person.email.casefold() if person.email else None, op, value.casefold())
        elif name in ("given_name", "family_name"):
            ok = _compare(getattr(person, name), op, value)
        else:
            try:
                moment = parse_filter_time(value)
            except ValueError as exc:
                raise ApiError(400, f"Could not read the date {value!r}") from exc
            # Compared at the API's own precision: the second.
            stored = (person.created if name == "created_date" else person.modified).replace(microsecond=0)
            ok = _compare(stored, op, moment)
        if not ok:
            return False
    return True


class ActionNetworkState:
    """All data of one emulated Action Network group."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._people: dict[str, Person] = {}
            self._by_email: dict[str, str] = {}
            self._by_phone: dict[str, str] = {}
            self.tags: dict[str, str] = {}  # name → tag uuid

    # -- the API

    def get(self, person_id: str) -> Person:
        if not _UUID.match(person_id):
            raise ApiError(400, "You must specify a valid person id")
        with self._lock:
            found = self._people.get(person_id)
            if found is None:
                raise ApiError(404, f"Couldn't find person with id = {person_id}")
            return found

    def query(self, filter_text: str | None) -> list[Person]:
        """Every person matching the filter, in uuid order (unrelated to when they changed)."""
        clauses = parse_filter(filter_text) if filter_text else []
        with self._lock:
            return [p for _, p in sorted(self._people.items()) if _matches(p, clauses)]

    def signup(self, body: object) -> tuple[Person, bool]:
        """The person signup helper: (the person, whether it was created)."""
        if not isinstance(body, Mapping) or not isinstance(body.get("person"), Mapping):
            raise ApiError(400, "The request must hold a person")
        person = body["person"]
        email, email_status = self._email_of(person)
        phone, phone_status = self._phone_of(person)
        if email is None and phone is None:
            raise ApiError(400, "A person needs an email address or a phone number")
        tags = body.get("add_tags") or []
        if not isinstance(tags, list):
            raise ApiError(400, "add_tags must be a list")
        with self._lock:
            moment = now()
            target, created, moved_status = self._match(email, phone, moment)
            before = target.snapshot()
            for name in ("given_name", "family_name"):
                value = person.get(name)
                if isinstance(value, str) and value.strip():
                    setattr(target, name, value.strip())
            addresses = person.get("postal_addresses")
            if isinstance(addresses, list) and addresses and isinstance(addresses[0], Mapping):
                target.postal = {k: v for k, v in addresses[0].items() if k != "primary" and v not in (None, "")}
            custom = person.get("custom_fields")
            if isinstance(custom, Mapping):
                target.custom.update({str(k): v for k, v in custom.items() if v is not None})
            if email is not None:
                if target.email is None or target.email.casefold() != email.casefold():
                    self._set_email(target, email)
                    target.email_status = email_status or "subscribed"
                elif email_status is not None:
                    target.email_status = email_status
            if phone is not None:
                if target.phone != phone:
                    self._set_phone(target, phone)
                    target.phone_status = phone_status or moved_status or "unsubscribed"
                elif phone_status is not None:
                    target.phone_status = phone_status
            target.tags.update(str(t) for t in tags if isinstance(t, str) and t in self.tags)
            if created:
                target.modified = target.created
            elif target.snapshot() != before:
                target.modified = moment
            return target, created

    def create_tag(self, name: str) -> str:
        with self._lock:
            return self.tags.setdefault(name, str(uuidlib.uuid4()))

    # -- people texting (Action Network's own SMS)

    def inbound(self, phone_number: str, body: str) -> Person | None:
        """A person texting the group. STOP words unsubscribe the number, START words resubscribe it."""
        phone = digits_of(phone_number)
        word = body.strip().upper()
        with self._lock:
            person_id = self._by_phone.get(phone)
            if person_id is None:
                return None
            person = self._people[person_id]
            new_status = "unsubscribed" if word in STOP_WORDS else "subscribed" if word in START_WORDS else None
            if new_status is not None and person.phone_status != new_status:
                person.phone_status = new_status
                person.modified = now()
            return person

    # -- control

    def add(self, spec: Mapping[str, Any]) -> Person:
        """One person as the control API seeds it (see `app.py`); its email and phone must be new."""
        email = spec.get("email")
        phone = digits_of(spec["phone"]) if spec.get("phone") else None
        with self._lock:
            if email and email.casefold() in self._by_email:
                raise ValueError(f"a person with email {email} already exists")
            if phone and phone in self._by_phone:
                raise ValueError(f"a person with phone {phone} already exists")
            created = _spec_time(spec.get("created_at")) or now() - timedelta(days=30)
            modified = _spec_time(spec.get("modified_at")) or created
            person = Person(str(uuidlib.uuid4()), created, max(created, modified))
            person.given_name = spec.get("given_name")
            person.family_name = spec.get("family_name")
            if email:
                self._set_email(person, str(email))
                person.email_status = str(spec.get("email_status") or "subscribed")
            if phone:
                self._set_phone(person, phone)
                status = spec.get("sms_status", "subscribed")
                if status not in WRITABLE_STATUSES:
                    raise ValueError("sms_status must be subscribed or unsubscribed")
                person.phone_status = status
            person.postal = dict(spec.get("postal_address") or {})
            person.custom = dict(spec.get("custom_fields") or {})
            for tag in spec.get("tags") or []:
                self.create_tag(str(tag))
                person.tags.add(str(tag))
            self._people[person.uuid] = person
            return person

    def touch(self, person_id: str, moment: datetime) -> None:
        """Set a person's `modified_date` (tests of look-back windows)."""
        with self._lock:
            self.get(person_id).modified = moment

    def everyone(self, *, phone: str | None = None, email: str | None = None) -> list[Person]:
        with self._lock:
            if phone:
                found = self._by_phone.get(digits_of(phone))
                return [self._people[found]] if found else []
            if email:
                found = self._by_email.get(email.casefold())
                return [self._people[found]] if found else []
            return list(self._people.values())

    def count(self) -> int:
        with self._lock:
            return len(self._people)

    # -- internals (call with the lock held)

    @staticmethod
    def _email_of(person: Mapping[str, Any]) -> tuple[str | None, str | None]:
        entries = person.get("email_addresses")
        if entries is None:
            return None, None
        if not isinstance(entries, list):
            raise ApiError(400, "email_addresses must be a list")
        for entry in entries:
            if isinstance(entry, Mapping) and isinstance(entry.get("address"), str) and entry["address"].strip():
                address = entry["address"].strip()
                if "@" not in address:
                    raise ApiError(400, f"Email address {address!r} is not valid")
                status = entry.get("status")
                if status is not None and status not in WRITABLE_STATUSES:
                    raise ApiError(400, "Email status must be subscribed or unsubscribed")
                return address, status
        return None, None

    @staticmethod
    def _phone_of(person: Mapping[str, Any]) -> tuple[str | None, str | None]:
        entries = person.get("phone_numbers")
        if entries is None:
            return None, None
        if not isinstance(entries, list):
            raise ApiError(400, "phone_numbers must be a list")
        for entry in entries:
            if isinstance(entry, Mapping) and entry.get("number") not in (None, ""):
                status = entry.get("status")
                if status is not None and status not in WRITABLE_STATUSES:
                    raise ApiError(400, "Phone status must be subscribed or unsubscribed")
                return digits_of(entry["number"]), status
        return None, None

    def _match(self, email: str | None, phone: str | None, moment: datetime) -> tuple[Person, bool, str | None]:
        """(the person the request is about, created?, the status of a number that moved to them)."""
        by_email = self._people.get(self._by_email.get(email.casefold(), "")) if email else None
        holder = self._people.get(self._by_phone.get(phone, "")) if phone else None
        if by_email is not None and (holder is None or holder is by_email):
            return by_email, False, None
        if by_email is not None and holder is not None:
            status = holder.phone_status
            if holder.email is None:
                self._merge(holder, into=by_email)  # a phone-only activist merges into the other
            else:
                self._take_phone(holder, moment)  # both have emails: the phone moves
            return by_email, False, status
        if holder is not None:
            if email is not None and holder.email is not None:
                status = holder.phone_status
                self._take_phone(holder, moment)
                return self._create(moment), True, status
            return holder, False, None
        return self._create(moment), True, None

    def _create(self, moment: datetime) -> Person:
        person = Person(str(uuidlib.uuid4()), moment.replace(microsecond=0), moment.replace(microsecond=0))
        self._people[person.uuid] = person
        return person

    def _set_email(self, person: Person, email: str) -> None:
        if person.email:
            self._by_email.pop(person.email.casefold(), None)
        person.email = email
        self._by_email[email.casefold()] = person.uuid

    def _set_phone(self, person: Person, phone: str) -> None:
        if person.phone:
            self._by_phone.pop(person.phone, None)
        person.phone = phone
        self._by_phone[phone] = person.uuid

    def _take_phone(self, holder: Person, moment: datetime) -> None:
        if holder.phone:
            self._by_phone.pop(holder.phone, None)
        holder.phone = holder.phone_status = None
        holder.modified = moment

    def _merge(self, source: Person, *, into: Person) -> None:
        for name in ("given_name", "family_name"):
            if getattr(into, name) is None:
                setattr(into, name, getattr(source, name))
        into.custom = {**source.custom, **into.custom}
        into.tags |= source.tags
        if source.phone:
            self._by_phone.pop(source.phone, None)
        del self._people[source.uuid]


def _spec_time(value: object) -> datetime | None:
    if not value:
        return None
    return parse_filter_time(str(value))


def seed_people(state: ActionNetworkState, specs: Iterable[Mapping[str, Any]]) -> list[Person]:
    return [state.add(spec) for spec in specs]
