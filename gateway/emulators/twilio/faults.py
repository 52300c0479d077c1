"""Injected faults and throttling for the Twilio emulator's REST API: the shared plan and counters
(`gateway.emulators.faults`, DESIGN §6 fault shape), answered the way Twilio answers.

Guarantees: a plan applies to REST calls only (never to control calls); beyond `max_concurrent` calls in flight, or
`max_per_second` started within one second, a call is answered with Twilio's own throttling error (HTTP 429, code
20429), which Twilio documents as never processed; an injected `status` or `error_code` becomes Twilio's JSON error
with the matching code or status. `error_code` must be a Twilio error code (a number).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.emulators import faults
from gateway.emulators.faults import Admission, FaultSpecError
from gateway.emulators.twilio.state import TwilioApiError

__all__ = ["FaultSpecError", "Faults", "answer"]

_STATUS_FOR_CODE = {20429: 429, 20003: 401, 20404: 404, 21610: 400, 21211: 400, 20500: 500}  # 20500: UNCONFIRMED
_CODE_FOR_STATUS = {429: 20429, 401: 20003, 404: 20404}
_MESSAGES = {
    20429: "Too Many Requests",
    20003: "Authenticate",
    20404: "The requested resource was not found",
    21610: "Attempt to send to unsubscribed recipient",
}


class Faults(faults.Faults):
    """The shared fault plan, refusing an `error_code` that is not a Twilio error code."""

    def set(self, spec: Any) -> dict[str, Any]:
        if isinstance(spec, Mapping) and "error_code" in spec:
            code = spec["error_code"]
            if code is not None and (isinstance(code, bool) or not isinstance(code, int) or code < 1):
                raise FaultSpecError("error_code must be an integer of at least 1")
        return super().set(spec)


def answer(admission: Admission) -> TwilioApiError | None:
    """The Twilio error an admitted call is answered with, or None to serve it."""
    if admission.throttled:
        return TwilioApiError(429, 20429, _MESSAGES[20429])
    if admission.status is None and admission.error_code is None:
        return None
    code = int(admission.error_code or _CODE_FOR_STATUS.get(admission.status or 0, 20500))
    status = admission.status or _STATUS_FOR_CODE.get(code, 400)
    return TwilioApiError(status, code, _MESSAGES.get(code, f"Injected error {code}"))
