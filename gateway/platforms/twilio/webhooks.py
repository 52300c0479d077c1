"""Twilio's webhooks: proving a request is Twilio's, and reading it as the project's `InboundEvent`s.

Guarantees:
- Nothing is read before the signature is checked (`gateway.platforms.twilio.signature`) against the public URL
  (`TWILIO_WEBHOOK_BASE_URL` + the request's path + its raw query string); a bad or missing signature, a request
  for another account, or one signed by a Webhooks Rule key the gateway does not hold raises
  `WebhookRejectedError(status=403)` and yields no event. A signed request that is not a message raises it with 400;
  a body neither form-encoded nor JSON, with 415. A form is checked with its parameters exactly as sent (order and
  repeats from the raw body, not a parsed dictionary).
- An incoming message gives exactly one event keyed `twilio:<MessageSid>` (so Twilio's redeliveries are dropped):
  `opt_out` for STOP, `opt_in` for START, `message` for anything else — HELP included, which is logged, never an
  opt change. `OptOutType` (Advanced Opt-Out) decides when present; without it the default keywords are read from
  the body, whole-message only ("STOP" yes, "STOP PLEASE" no, any case).
- Asymmetry where Twilio's behaviour is UNCONFIRMED, always towards not texting a person who may have said STOP:
  an opt-out word with surrounding punctuation ("Stop.") still opts out, an opt-in word must be exact; with
  `TWILIO_ADVANCED_OPT_OUT=true` only `OptOutType=START` re-subscribes (a bare "YES" is a reply there); a STOP sent to
  a number that is not one of the configured senders is still recorded, a START or a plain message there is not.
- A status callback gives an `opt_out` event for the recipient when Twilio failed the message with 21610 (they had
  replied STOP), keyed `twilio:<MessageSid>:<status>`; other statuses give no event.
"""

from __future__ import annotations

import json
import logging
import re
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from gateway.domain.contact import Contact, SmsStatus
from gateway.platforms.base import InboundEvent, InboundKind, WebhookRejectedError
from gateway.platforms.twilio import signature
from gateway.platforms.twilio.errors import OPT_OUT_CODES
from gateway.platforms.twilio.settings import TwilioSettings

log = logging.getLogger(__name__)

# Twilio's default keywords (docs/platforms/twilio.md §Opt-out keywords).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
_OPT_OUT_TYPES = {"STOP": InboundKind.OPT_OUT, "START": InboundKind.OPT_IN, "HELP": InboundKind.MESSAGE}
_INBOUND_STATUSES = frozenset({"received", "receiving"})
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PUNCTUATION = string.punctuation + "¡¿"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name` (any case), or None."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """The POST parameters of a form-encoded `body` in the order sent, a repeated name as often as it came: what
    Twilio signed (raises `WebhookRejectedError` 400 for a body that is not UTF-8 form data)."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise _rejected("the form body is not UTF-8 form data", status=400) from None


def _rejected(reason: str, status: int = 403) -> WebhookRejectedError:
    return WebhookRejectedError(reason, status=status)


def verified_params(settings: TwilioSettings, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
    """The request's parameters, once its signature proved it is Twilio's; raises `WebhookRejectedError`.

    `url` is the path and the raw (still URL-encoded) query string the request came to; `body` its raw body. The
    URL Twilio signed is `TWILIO_WEBHOOK_BASE_URL` + `url`. A form POST is checked with its parameters as sent; a
    GET (body empty: Twilio signs the URL, parameters included) with none; a JSON body through `bodySHA256`."""
    if settings.webhook_base_url is None or settings.auth_token is None:
        raise _rejected("TWILIO_WEBHOOK_BASE_URL is not set, so no signature can be checked", status=404)
    if header(headers, signature.SIGNATURE_SETTINGS_HEADER):
        raise _rejected(
            "the request is signed with a Webhooks Rule shared key; the gateway checks Auth Token signatures only"
        )
    public = settings.webhook_base_url + "/" + url.lstrip("/")
    token = settings.auth_token.reveal()
    given = header(headers, signature.SIGNATURE_HEADER)
    content_type = (header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    params: dict[str, str]
    try:
        if content_type == "application/json":
            signature.verify(token, public, given, body=body)
            params = _json_params(body)
        elif body and content_type != "application/x-www-form-urlencoded":
            raise _rejected(f"a Twilio webhook is form-encoded or JSON, not {content_type or 'untyped'}", status=415)
        else:
            pairs = form_pairs(body)
            signature.verify(token, public, given, params=pairs)
            query = urlsplit(public).query
            params = dict(pairs) if pairs else dict(parse_qsl(query, keep_blank_values=True))
    except signature.SignatureError as exc:
        raise _rejected(str(exc)) from None
    account = params.get("AccountSid")
    if account is not None and account != settings.account_sid:
        raise _rejected("the request is for another Twilio account than TWILIO_ACCOUNT_SID")
    return params


def _json_params(body: bytes) -> dict[str, str]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise _rejected("the JSON body is not valid JSON", status=400) from None
    if not isinstance(parsed, dict):
        raise _rejected("the JSON body is not an object", status=400)
    return {k: str(v) for k, v in parsed.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}


def keyword_kind(body: str | None, *, advanced_opt_out: bool) -> InboundKind:
    """What a message without `OptOutType` means under Twilio's default keywords (whole message, any case)."""
    text = (body or "").strip().upper()
    if text in STOP_WORDS or text.strip(_PUNCTUATION).strip() in STOP_WORDS:
        return InboundKind.OPT_OUT
    if text in START_WORDS and not advanced_opt_out:
        return InboundKind.OPT_IN
    return InboundKind.MESSAGE


def inbound_kind(params: Mapping[str, str], *, advanced_opt_out: bool) -> InboundKind:
    """What an incoming message means: `OptOutType` when Twilio sent one, else the default keywords."""
    opt_out_type = (params.get("OptOutType") or "").strip().upper()
    if opt_out_type in _OPT_OUT_TYPES:
        return _OPT_OUT_TYPES[opt_out_type]
    if opt_out_type:
        log.warning("twilio: unknown OptOutType %r read as a plain message", opt_out_type)
        return keyword_kind(params.get("Body"), advanced_opt_out=True)  # opt-outs still count; never an opt-in
    return keyword_kind(params.get("Body"), advanced_opt_out=advanced_opt_out)


def is_status_callback(params: Mapping[str, str]) -> bool:
    """True for a status callback (an outbound message's status), False for an incoming message."""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    return bool(status) and status not in _INBOUND_STATUSES


def phone_or_none(value: str | None) -> str | None:
    """`value` when it is an E.164 phone number (not a channel address such as `whatsapp:+1…`), else None."""
    text = (value or "").strip()
    return text if _E164.match(text) else None


def events_for(
    params: Mapping[str, str], settings: TwilioSettings, *, received_at: datetime | None = None
) -> list[InboundEvent]:
    """The events in one verified request's parameters (see the module guarantees)."""
    now = received_at or datetime.now(UTC)
    sid = (params.get("MessageSid") or params.get("SmsSid") or params.get("SmsMessageSid") or "").strip()
    if not sid:
        raise _rejected("a Twilio messaging webhook without MessageSid", status=400)
    if is_status_callback(params):
        return _status_events(params, sid, now)
    person = phone_or_none(params.get("From"))
    if person is None:
        log.info("twilio: message %s is from a channel address, not a phone number; no event", sid)
        return []
    kind = inbound_kind(params, advanced_opt_out=settings.advanced_opt_out)
    ours = settings.is_ours(to=params.get("To"), messaging_service_sid=params.get("MessagingServiceSid"))
    if not ours and kind is not InboundKind.OPT_OUT:
        log.info("twilio: message %s went to a sender the gateway does not follow; no event", sid)
        return []
    status = {InboundKind.OPT_OUT: SmsStatus.UNSUBSCRIBED, InboundKind.OPT_IN: SmsStatus.SUBSCRIBED}.get(
        kind, SmsStatus.UNKNOWN
    )
    contact = Contact(
        phone=person,
        sms_status=status,
        version=now,
        opted_out_at=now if kind is InboundKind.OPT_OUT else None,
    )
    if (params.get("OptOutType") or "").strip().upper() == "HELP" or (params.get("Body") or "").strip().upper() in (
        HELP_WORDS
    ):
        log.info("twilio: message %s asks for HELP; logged, not an opt change", sid)
    return [
        InboundEvent(
            kind=kind,
            phone=person,
            idempotency_key=f"twilio:{sid}",
            occurred_at=now,
            body=params.get("Body"),
            contact=contact,
        )
    ]


def _status_events(params: Mapping[str, str], sid: str, now: datetime) -> list[InboundEvent]:
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    try:
        code = int(params.get("ErrorCode") or 0)
    except ValueError:
        code = 0
    recipient = phone_or_none(params.get("To"))
    if code not in OPT_OUT_CODES or recipient is None:
        return []
    contact = Contact(phone=recipient, sms_status=SmsStatus.UNSUBSCRIBED, version=now, opted_out_at=now)
    return [
        InboundEvent(
            kind=InboundKind.OPT_OUT,
            phone=recipient,
            idempotency_key=f"twilio:{sid}:{status}",
            occurred_at=now,
            body=None,
            contact=contact,
        )
    ]


def parse(
    settings: TwilioSettings,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    received_at: datetime | None = None,
) -> list[InboundEvent]:
    """Verify one webhook request (see `verified_params`) and read its events; raises `WebhookRejectedError` (403
    unsigned or signed by another token, 400 unreadable, 415 neither form nor JSON)."""
    return events_for(verified_params(settings, url, headers, body), settings, received_at=received_at)


EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


__all__ = [
    "EMPTY_TWIML",
    "HELP_WORDS",
    "START_WORDS",
    "STOP_WORDS",
    "events_for",
    "form_pairs",
    "header",
    "inbound_kind",
    "is_status_callback",
    "keyword_kind",
    "parse",
    "phone_or_none",
    "verified_params",
]
