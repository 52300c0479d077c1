"""Secrets, tokens and phone numbers never reach a log line, at any level, from any library.

`install()` sets a logging record factory, so every record of every logger of the process (ours, gunicorn's error
and access logs, authlib's "Issue token …" at DEBUG, urllib3's request lines, RQ's) is rendered once and redacted
before any handler sees it; a traceback is rendered and redacted the same way. Redacted (`redact`):

- the secret segment of platform webhook paths (`/webhooks/platforms/<name>/<secret>`);
- every query-string value (`?phone=…&q=SELECT…` → `?phone=***&q=***`): they carry phones, emails and SOQL;
- JWTs (`eyJ….….…`), Salesforce session ids (`00D…!…`), `Bearer`/`Basic` credentials;
- values of secret-named fields (`client_secret`, `password`, `access_token`, `refresh_token`, `assertion`, …)
  in `key=value`, `'key': 'value'` and `"key": "value"` forms;
- credentials inside URLs (`redis://:pw@host` → `redis://****@host`);
- E.164 phone numbers (`+14155550123`).

What it cannot know (a secret logged bare, in no recognisable form) it cannot mask: code logs no such thing.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(/webhooks/platforms/[^/\s?\"']+/)[^\s?\"']+"), r"\1********"),
    (re.compile(r"([?&][^=&\s\"'#?]+=)[^&\s\"'#]*"), r"\1***"),
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "<jwt>"),
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+"), "<salesforce-session>"),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 ********"),
    (
        re.compile(
            r"((?:client_secret|secret|password|passwd|access_token|refresh_token|assertion|token|signature|"
            r"authorization|api_key|apikey)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&}]+",
            re.IGNORECASE,
        ),
        r"\1********",
    ),
    (re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@\"']+@"), r"\1****@"),
    (re.compile(r"(?<![\w+])\+\d{8,15}\b"), "<phone>"),
]


def redact(text: str) -> str:
    """`text` with every secret, token and phone number this module recognises masked."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def install() -> None:
    """Redact every log record of this process (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "gateway_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string stays the handler's problem, unredacted args dropped
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    factory.gateway_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
