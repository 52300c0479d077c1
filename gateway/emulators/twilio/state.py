"""The Twilio emulator's account: its numbers and Messaging Service, every message, who is blocked from which sender.

Guarantees: every public method is atomic under one lock; phones are E.164; a person who texted an opt-out keyword
to a sender is blocked from that sender's scope (the number, or the whole Messaging Service pool) until they text an
opt-in keyword there; a keyword is the whole message (any case, surrounding spaces ignored), as Twilio documents.

Facts (docs/platforms/twilio.md): default keywords; 21610 for a blocked recipient; statuses `queued` (no service) or
`accepted` (service) first; `OptOutType` on incoming webhooks only through a service with Advanced Opt-Out; lists
sorted by `date_sent`, newest first, with `PageToken=PA<sid of the page's last message>`.
Assumptions where Twilio's behaviour is UNCONFIRMED (said again where used): the error codes of a missing To (21604),
From (21603) or Body (21602), of a sender that is not the account's (21606) and of an unknown service (21705); a
service send to a blocked person is accepted and then fails with 21610 (without a service it is refused at once);
messages not yet sent (no `date_sent`) list first; the wording of keyword confirmations.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
CONFIRMATIONS = {  # UNCONFIRMED wording: Twilio's default replies are paraphrased, and say so
    "STOP": "[emulator] Opt-out confirmed: no more messages from this sender. Reply START to resubscribe.",
    "START": "[emulator] You are resubscribed to this sender. Reply STOP to unsubscribe.",
    "HELP": "[emulator] Help: reply STOP to unsubscribe.",
}
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class TwilioApiError(Exception):
    """A Twilio error answer: HTTP `status`, Twilio `code`, `message`."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000") if moment else None


def keyword_of(body: str) -> str | None:
    """STOP, START or HELP when the whole message is one of Twilio's default keywords, else None."""
    word = body.strip().upper()
    if word in STOP_WORDS:
        return "STOP"
    if word in START_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return None


@dataclass(slots=True)
class StoredMessage:
    sid: str
    account_sid: str
    from_: str
    to: str
    body: str
    direction: str  # inbound | outbound-api | outbound-reply
    status: str
    date_created: datetime
    date_sent: datetime | None = None
    date_updated: datetime | None = None
    messaging_service_sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    status_callback: str | None = None

    def resource(self) -> dict[str, Any]:
        """The Message resource as the REST API renders it."""
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated or self.date_created),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }

    def sort_key(self) -> tuple[int, datetime, str]:
        # Newest first by date_sent; not-yet-sent messages (no date_sent) first (UNCONFIRMED).
        moment = self.date_sent or self.date_created
        return (0 if self.date_sent is None else 1, moment, self.sid)


@dataclass(slots=True)
class OptRecord:
    blocked: bool
    keyword: str
    at: datetime


@dataclass(frozen=True, slots=True)
class InboundResult:
    message: StoredMessage
    keyword: str | None  # STOP | START | HELP | None
    opt_out_type: str | None  # what the webhook carries (Advanced Opt-Out only)
    reply: StoredMessage | None


@dataclass
class TwilioState:
    """One Twilio account. `numbers` are its phone numbers; `service_numbers` those in the Messaging Service pool."""

    account_sid: str
    numbers: tuple[str, ...]
    service_sid: str | None = None
    service_numbers: tuple[str, ...] = ()
    advanced_opt_out: bool = True
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    opt: dict[tuple[str, str], OptRecord] = field(default_factory=dict)
    seen: dict[str, datetime] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.opt.clear()
            self.seen.clear()

    def scope_of(self, sender: str, service_sid: str | None = None) -> str:
        """Where a block applies: the whole service pool for a service number, else the number itself."""
        if service_sid or sender in self.service_numbers:
            return self.service_sid or sender
        return sender

    def is_blocked(self, person: str, scope: str) -> bool:
        record = self.opt.get((scope, person))
        return record is not None and record.blocked

    def _store(
        self,
        sender: str,
        to: str,
        body: str,
        direction: str,
        status: str,
        at: datetime,
        *,
        sent: bool = True,
        **extra: Any,
    ) -> StoredMessage:
        """Store one message (lock held by the caller); its service is the one whose pool holds our number."""
        ours = to if direction == "inbound" else sender
        service = extra.pop("messaging_service_sid", None) or (
            self.service_sid if ours in self.service_numbers else None
        )
        message = StoredMessage(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            from_=sender,
            to=to,
            body=body,
            direction=direction,
            status=status,
            date_created=at,
            date_sent=at if sent else None,
            date_updated=at,
            messaging_service_sid=service,
            **extra,
        )
        self.messages[message.sid] = message
        return message

    def create_message(self, params: Mapping[str, str], *, now: datetime | None = None) -> StoredMessage:
        """POST Messages.json; raises `TwilioApiError` as Twilio would."""
        now = now or datetime.now(UTC)
        to = (params.get("To") or "").strip()
        sender = (params.get("From") or "").strip()
        service = (params.get("MessagingServiceSid") or "").strip() or None
        body = params.get("Body") or ""
        if not to:
            raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            raise TwilioApiError(400, 21603, "A 'From' phone number is required.")
        if not E164.match(to):
            raise TwilioApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body.strip() and not params.get("MediaUrl"):
            raise TwilioApiError(400, 21602, "Message body is required.")
        with self.lock:
            if service is not None and service != self.service_sid:
                raise TwilioApiError(400, 21705, "The Messaging Service Sid is invalid.")
            if sender and sender not in self.numbers:
                raise TwilioApiError(
                    400,
                    21606,
                    f"The From phone number {sender} is not a valid, SMS-capable inbound phone number or short "
                    "code for your account.",
                )
            if not sender:
                sender = self.service_numbers[0] if self.service_numbers else self.numbers[0]
            scope = self.scope_of(sender, service)
            blocked = self.is_blocked(to, scope)
            if blocked and service is None:
                raise TwilioApiError(400, 21610, "Attempt to send to unsubscribed recipient")
            message = self._store(
                sender,
                to,
                body,
                "outbound-api",
                "accepted" if service else "queued",
                now,
                sent=False,
                messaging_service_sid=service,
                status_callback=params.get("StatusCallback") or None,
            )
            self.seen.setdefault(to, now)
            return message

    def advance(self, sid: str, status: str, *, error_code: int | None = None, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        with self.lock:
            message = self.messages[sid]
            message.status = status
            message.date_updated = now
            if status in ("sent", "delivered", "failed", "undelivered") and message.date_sent is None:
                message.date_sent = now
            if error_code is not None:
                message.error_code = error_code
                message.error_message = "Attempt to send to unsubscribed recipient" if error_code == 21610 else None

    def blocked_at_send(self, sid: str) -> bool:
        """True when a service message's recipient is blocked in its scope (it then fails with 21610)."""
        with self.lock:
            message = self.messages[sid]
            return self.is_blocked(message.to, self.scope_of(message.from_, message.messaging_service_sid))

    def inbound(self, person: str, body: str, to: str | None = None, *, now: datetime | None = None) -> InboundResult:
        """A person texts one of the account's numbers: the message is stored and keywords applied."""
        now = now or datetime.now(UTC)
        if not E164.match(person):
            raise ValueError(f"{person!r} is not an E.164 phone number")
        with self.lock:
            receiver = to or (self.service_numbers[0] if self.service_numbers else self.numbers[0])
            if receiver not in self.numbers:
                raise ValueError(f"{receiver} is not a number of this account")
            in_service = receiver in self.service_numbers
            scope = self.scope_of(receiver)
            keyword = keyword_of(body)
            message = self._store(person, receiver, body, "inbound", "received", now)
            self.seen.setdefault(person, now)
            if keyword == "STOP":
                self.opt[(scope, person)] = OptRecord(True, body.strip().upper(), now)
            elif keyword == "START":
                self.opt[(scope, person)] = OptRecord(False, body.strip().upper(), now)
            reply = None
            if keyword is not None:
                reply = self._store(receiver, person, CONFIRMATIONS[keyword], "outbound-reply", "delivered", now)
            opt_out_type = keyword if (keyword and in_service and self.advanced_opt_out) else None
            return InboundResult(message=message, keyword=keyword, opt_out_type=opt_out_type, reply=reply)

    def record_reply(self, person: str, sender: str, body: str, *, now: datetime | None = None) -> StoredMessage:
        """A TwiML <Message> answer to an incoming message, sent to the person (unless they are blocked)."""
        now = now or datetime.now(UTC)
        with self.lock:
            blocked = self.is_blocked(person, self.scope_of(sender))
            return self._store(
                sender,
                person,
                body,
                "outbound-reply",
                "failed" if blocked else "delivered",
                now,
                sent=not blocked,
                error_code=21610 if blocked else None,
            )

    def seed(self, person: str, count: int, *, start: datetime, step_seconds: float = 60.0) -> list[StoredMessage]:
        """`count` alternating messages between `person` and the first number, oldest first, from `start`."""
        from datetime import timedelta

        created = []
        with self.lock:
            sender = self.service_numbers[0] if self.service_numbers else self.numbers[0]
            for i in range(count):
                at = start + timedelta(seconds=step_seconds * i)
                incoming = i % 2 == 1
                message = self._store(
                    person if incoming else sender,
                    sender if incoming else person,
                    f"seeded message {i + 1}",
                    "inbound" if incoming else "outbound-api",
                    "received" if incoming else "delivered",
                    at,
                )
                created.append(message)
            self.seen.setdefault(person, start)
        return created

    def list_messages(
        self, filters: Mapping[str, str], *, page_size: int, after_sid: str | None
    ) -> tuple[list[StoredMessage], bool]:
        """(one page newest first, whether more follow); `after_sid` is the previous page's last message."""
        for name in ("DateSent", "DateSent<", "DateSent>"):
            if name in filters:
                parse_date_filter(filters[name])  # a bad value is an error even when nothing would match
        with self.lock:
            chosen = [m for m in self.messages.values() if _matches(m, filters)]
            chosen.sort(key=StoredMessage.sort_key, reverse=True)
            if after_sid is not None:
                index = next((i for i, m in enumerate(chosen) if m.sid == after_sid), None)
                if index is None:
                    raise TwilioApiError(400, 20001, "Invalid PageToken")  # UNCONFIRMED code
                chosen = chosen[index + 1 :]
            return chosen[:page_size], len(chosen) > page_size

    def contacts(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Every number the account has texted or heard from, with its opt state per sender scope."""
        with self.lock:
            people = [phone] if phone else sorted(self.seen)
            out = []
            for person in people:
                if person not in self.seen:
                    continue
                scopes = {
                    scope: {"blocked": rec.blocked, "keyword": rec.keyword, "at": rec.at.isoformat()}
                    for (scope, who), rec in self.opt.items()
                    if who == person
                }
                blocked = any(s["blocked"] for s in scopes.values())
                out.append(
                    {
                        "phone": person,
                        "sms_status": "unsubscribed" if blocked else "textable",
                        "blocked": blocked,
                        "scopes": scopes,
                        "first_seen": self.seen[person].isoformat(),
                        "messages": sum(1 for m in self.messages.values() if person in (m.to, m.from_)),
                    }
                )
            return out


def parse_date_filter(value: str) -> date:
    """`YYYY-MM-DD` or an ISO date-time, as the date it names (UTC)."""
    text = value.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise TwilioApiError(400, 20001, f"Invalid DateSent value {value!r}") from None  # UNCONFIRMED code


def _matches(message: StoredMessage, filters: Mapping[str, str]) -> bool:
    if "To" in filters and message.to != filters["To"]:
        return False
    if "From" in filters and message.from_ != filters["From"]:
        return False
    if not any(name in filters for name in ("DateSent", "DateSent<", "DateSent>")):
        return True
    if message.date_sent is None:
        return False
    sent = message.date_sent.astimezone(UTC).date()
    if "DateSent" in filters and sent != parse_date_filter(filters["DateSent"]):
        return False
    if "DateSent<" in filters and sent > parse_date_filter(filters["DateSent<"]):
        return False
    return not ("DateSent>" in filters and sent < parse_date_filter(filters["DateSent>"]))
