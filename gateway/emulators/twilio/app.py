"""The Twilio emulator's HTTP face: the REST API 2010 resources the gateway uses, signed webhooks out, and the
control API under `/__emulator__/`.

Guarantees: REST answers are Twilio-shaped JSON (error bodies `{"code", "message", "more_info", "status"}`); bad
credentials get 401/20003; injected faults and throttling apply to REST calls only; control calls need
`X-Emulator-Token` (401 without) and are not counted. Every webhook the emulator sends — an incoming message, or a
status callback for each status after the first — is signed as Twilio signs (HMAC-SHA1 with the Auth Token over the
URL and the sorted form parameters; for a JSON body, over the URL carrying `bodySHA256`), computed here on its own so
that tests can check the gateway's verifier against it.

UNCONFIRMED behaviour (docs/platforms/twilio.md): the pace of status changes (a fixed `status_delay_ms` per step,
queued → sent → delivered, with `queued` after `accepted` for service messages), the exact inbound parameter set
beyond the documented ones, and the keyword confirmation texts.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from defusedxml import ElementTree as SafeET
from werkzeug.wrappers import Request, Response

from gateway.emulators.twilio.faults import Faults, FaultSpecError, answer
from gateway.emulators.twilio.state import E164, StoredMessage, TwilioApiError, TwilioState

log = logging.getLogger(__name__)

API_PREFIX = "/2010-04-01/Accounts/"
LIST_FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """What Twilio puts in X-Twilio-Signature: base64 HMAC-SHA1 of the URL then each sorted name+value."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class EmulatorApp:
    """A WSGI application over one `TwilioState`."""

    def __init__(
        self,
        state: TwilioState,
        *,
        auth_token: str,
        api_key_sid: str,
        api_key_secret: str,
        control_token: str,
        webhook_url: str | None = None,
        status_callback_url: str | None = None,
        status_delay_ms: int = 50,
        public_base_url: str | None = None,
    ) -> None:
        self.state = state
        # The gateway behind a proxy: Twilio requests (and signs) the public URL; the proxy forwards it to the
        # delivery URL. When set, signatures cover this base + the delivery URL's path and query string.
        self.public_base_url = public_base_url
        self.auth_token = auth_token
        self._credentials = {state.account_sid: auth_token, api_key_sid: api_key_secret}
        self.control_token = control_token
        self.webhook_url = webhook_url
        self.status_callback_url = status_callback_url
        self.status_delay = status_delay_ms / 1000
        self.faults = Faults()
        self._stats_lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._unauthorized = 0
        self.deliveries: list[dict[str, Any]] = []
        self._http = requests.Session()
        self._pending: list[tuple[float, int, str, str, int | None]] = []
        self._sequence = itertools.count()
        self._wake = threading.Condition()
        self._closing = False
        self._worker = threading.Thread(target=self._progress, name="twilio-emulator-status", daemon=True)
        self._worker.start()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/__emulator__/"):
            response = self._control(request, request.path.removeprefix("/__emulator__/").strip("/"))
        elif request.path.startswith(API_PREFIX):
            response = self._api(request)
        else:
            response = self._error(TwilioApiError(404, 20404, f"The requested resource {request.path} was not found"))
        return response(environ, start_response)

    # -- the REST API

    def _api(self, request: Request) -> Response:
        if not self._authorized(request):
            with self._stats_lock:
                self._unauthorized += 1
            response = self._error(TwilioApiError(401, 20003, "Authenticate"))
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        rest = request.path.removeprefix(API_PREFIX)
        account, _, resource = rest.partition("/")
        if account.removesuffix(".json") != self.state.account_sid:
            return self._error(TwilioApiError(401, 20003, "Authenticate"))
        route = self._route(request.method, resource)
        if route is None:
            return self._error(TwilioApiError(404, 20404, f"The requested resource {request.path} was not found"))
        name, handler = route
        with self._stats_lock:
            self._calls[name] += 1
        with self.faults.call() as admission:
            if admission.delay:
                time.sleep(admission.delay)
            fault = answer(admission)
            if fault is not None:
                return self._error(fault)
            try:
                status, payload = handler(request, resource)
            except TwilioApiError as exc:
                return self._error(exc)
            return self._json(payload, status)

    def _route(self, method: str, resource: str) -> tuple[str, Callable[[Request, str], tuple[int, Any]]] | None:
        if resource == "" and method == "GET":
            return "accounts.fetch", self._account
        if resource == "Messages.json":
            return {"POST": ("messages.create", self._create), "GET": ("messages.list", self._list)}.get(method)
        if resource.startswith("Messages/") and resource.endswith(".json") and method == "GET":
            return "messages.fetch", self._fetch
        if resource == "IncomingPhoneNumbers.json" and method == "GET":
            return "incoming_phone_numbers.list", self._numbers
        return None

    def _authorized(self, request: Request) -> bool:
        auth = request.authorization
        if auth is None or auth.type != "basic" or not auth.username:
            return False
        expected = self._credentials.get(auth.username)
        return expected is not None and hmac.compare_digest((auth.password or "").encode(), expected.encode())

    def _account(self, request: Request, resource: str) -> tuple[int, Any]:
        sid = self.state.account_sid
        return 200, {"sid": sid, "friendly_name": "Emulated account", "status": "active", "type": "Full"}

    def _create(self, request: Request, resource: str) -> tuple[int, Any]:
        message = self.state.create_message(request.form.to_dict())
        self._schedule_progress(message)
        return 201, message.resource()

    def _fetch(self, request: Request, resource: str) -> tuple[int, Any]:
        sid = resource.removeprefix("Messages/").removesuffix(".json")
        found = self.state.messages.get(sid)
        if found is None:
            raise TwilioApiError(
                404, 20404, f"The requested resource /2010-04-01/Accounts/.../{sid}.json was not found"
            )
        return 200, found.resource()

    def _list(self, request: Request, resource: str) -> tuple[int, Any]:
        args = request.args
        filters = {name: args[name] for name in LIST_FILTERS if args.get(name)}
        try:
            page_size = int(args.get("PageSize", "50"))
            page = int(args.get("Page", "0"))
        except ValueError:
            raise TwilioApiError(400, 20001, "PageSize and Page must be integers") from None  # UNCONFIRMED code
        if not 1 <= page_size <= 1000:
            raise TwilioApiError(400, 20001, "PageSize must be between 1 and 1000")  # UNCONFIRMED code
        token = args.get("PageToken")
        after = token[2:] if token and token.startswith("PA") else None
        if token and after is None:
            raise TwilioApiError(400, 20001, "Invalid PageToken")
        items, more = self.state.list_messages(filters, page_size=page_size, after_sid=after)
        base = f"{API_PREFIX}{self.state.account_sid}/Messages.json"

        def uri(page_number: int, page_token: str | None = None) -> str:
            query = {**filters, "PageSize": str(page_size), "Page": str(page_number)}
            if page_token:
                query["PageToken"] = page_token
            return f"{base}?{urlencode(query)}"

        start = page * page_size
        return 200, {
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1, "PA" + items[-1].sid) if more and items else None,
            "previous_page_uri": None,  # going back is never needed by the gateway (UNCONFIRMED token form)
            "page": page,
            "page_size": page_size,
            "start": start,
            "end": start + max(len(items) - 1, 0),
            "uri": uri(page, token),
            "messages": [m.resource() for m in items],
        }

    def _numbers(self, request: Request, resource: str) -> tuple[int, Any]:
        wanted = request.args.get("PhoneNumber")
        numbers = [n for n in self.state.numbers if wanted in (None, n)]
        return 200, {
            "incoming_phone_numbers": [
                {"sid": "PN" + hashlib.md5(n.encode(), usedforsecurity=False).hexdigest(), "phone_number": n}
                for n in numbers
            ],
            "page": 0,
            "page_size": 50,
            "next_page_uri": None,
        }

    @staticmethod
    def _json(payload: Any, status: int = 200) -> Response:
        return Response(json.dumps(payload), status, content_type="application/json")

    def _error(self, error: TwilioApiError) -> Response:
        return self._json(error.body(), error.status)

    # -- status progression and callbacks

    def _schedule_progress(self, message: StoredMessage) -> None:
        steps: list[tuple[str, int | None]] = []
        if message.status == "accepted":
            steps.append(("queued", None))
            if self.state.blocked_at_send(message.sid):
                steps.append(("failed", 21610))
            else:
                steps.extend([("sent", None), ("delivered", None)])
        else:
            steps.extend([("sent", None), ("delivered", None)])
        now = time.monotonic()
        with self._wake:
            for i, (status, code) in enumerate(steps, start=1):
                heapq.heappush(
                    self._pending, (now + self.status_delay * i, next(self._sequence), message.sid, status, code)
                )
            self._wake.notify()

    def _progress(self) -> None:
        while True:
            with self._wake:
                while not self._closing and (not self._pending or self._pending[0][0] > time.monotonic()):
                    timeout = None if not self._pending else max(0.0, self._pending[0][0] - time.monotonic())
                    self._wake.wait(timeout)
                if self._closing:
                    return
                _, _, sid, status, code = heapq.heappop(self._pending)
            if sid not in self.state.messages:
                continue  # reset meanwhile
            self.state.advance(sid, status, error_code=code)
            self._status_callback(self.state.messages[sid])

    def _status_callback(self, message: StoredMessage) -> None:
        url = message.status_callback or self.status_callback_url
        if not url:
            return
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": message.status,
            "SmsSid": message.sid,
            "SmsStatus": message.status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        self._deliver("status", url, params, message.sid)

    def _deliver(
        self, kind: str, url: str, params: dict[str, str], sid: str, *, as_json: bool = False
    ) -> dict[str, Any]:
        """POST one signed webhook; returns (and records) what happened."""
        record: dict[str, Any] = {"kind": kind, "message_sid": sid, "url": url}
        try:
            if as_json:
                body = json.dumps(params).encode()
                url = f"{url}{'&' if '?' in url else '?'}bodySHA256={hashlib.sha256(body).hexdigest()}"
                headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, self._public(url), {})}
                headers["Content-Type"] = "application/json"
                reply = self._http.post(url, data=body, headers=headers, timeout=10)
            else:
                headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, self._public(url), params)}
                reply = self._http.post(url, data=params, headers=headers, timeout=10)
        except requests.RequestException as exc:
            record.update(delivered=False, error=type(exc).__name__)
        else:
            record.update(delivered=200 <= reply.status_code < 300, status=reply.status_code, body=reply.text[:2000])
        with self._stats_lock:
            self.deliveries.append(record)
        return record

    def _public(self, url: str) -> str:
        """The URL Twilio signs for a delivery to `url` (see `public_base_url`)."""
        if not self.public_base_url:
            return url
        parts = urlsplit(url)
        return self.public_base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")

    # -- people texting in

    def deliver_inbound(self, phone: str, body: str, to: str | None = None, *, as_json: bool = False) -> dict[str, Any]:
        """A person texts `body`: Twilio applies keywords, then calls the incoming-message webhook (form POST)."""
        result = self.state.inbound(phone, body, to)
        message = result.message
        answer: dict[str, Any] = {
            "message_sid": message.sid,
            "to": message.to,
            "keyword": result.keyword,
            "opt_out_type": result.opt_out_type,
            "webhook": None,
        }
        if not self.webhook_url:
            return answer
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": message.body,
            "From": message.from_,
            "FromCountry": "US",
            "MessageSid": message.sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": message.sid,
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "To": message.to,
            "ToCountry": "US",
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if result.opt_out_type:
            params["OptOutType"] = result.opt_out_type
        record = self._deliver("inbound", self.webhook_url, params, message.sid, as_json=as_json)
        text = _twiml_reply(record.get("body") or "") if record.get("delivered") else None
        if text:
            reply = self.state.record_reply(message.from_, message.to, text)
            record["reply_sid"] = reply.sid
        answer["webhook"] = {k: v for k, v in record.items() if k != "body"}
        return answer

    # -- the control API

    def _control(self, request: Request, name: str) -> Response:
        token = request.headers.get("X-Emulator-Token", "")
        if not hmac.compare_digest(token.encode(), self.control_token.encode()):
            return self._json({"error": "missing or wrong X-Emulator-Token"}, 401)
        body = request.get_json(silent=True) if request.method == "POST" else None
        body = body if isinstance(body, dict) else {}
        key = (request.method, name)
        try:
            if key == ("POST", "reset"):
                self.reset()
                return self._json({"reset": True})
            if key == ("GET", "stats"):
                return self._json(self.stats())
            if key == ("GET", "contacts"):
                return self._json({"contacts": self.state.contacts(request.args.get("phone"))})
            if key == ("POST", "inbound"):
                phone, text = str(body["phone"]), str(body["body"])
                if not E164.match(phone):
                    raise ValueError(f"phone {phone!r} is not E.164")
                as_json = body.get("format") == "json"
                return self._json(self.deliver_inbound(phone, text, body.get("to"), as_json=as_json))
            if key == ("POST", "seed"):
                start = datetime.fromisoformat(body["start"]) if body.get("start") else None
                count = int(body.get("count", 10))
                step = float(body.get("step_seconds", 60))
                start = start or datetime.now(UTC) - timedelta(seconds=step * count)
                created = self.state.seed(str(body["phone"]), count, start=start, step_seconds=step)
                return self._json({"created": len(created), "sids": [m.sid for m in created]}, 201)
            if key == ("POST", "webhooks"):
                self.webhook_url = body.get("inbound_url", self.webhook_url)
                self.status_callback_url = body.get("status_callback_url", self.status_callback_url)
                self.public_base_url = body.get("public_base_url", self.public_base_url)
                return self._json(
                    {
                        "inbound_url": self.webhook_url,
                        "status_callback_url": self.status_callback_url,
                        "public_base_url": self.public_base_url,
                    }
                )
            if key == ("POST", "faults"):
                return self._json({"faults": self.faults.set(request.get_json(silent=True))})
            if key == ("DELETE", "faults"):
                self.faults.clear()
                return self._json({"faults": None})
        except (FaultSpecError, KeyError, TypeError, ValueError) as exc:
            return self._json({"error": f"bad request: {exc}"}, 400)
        return self._json({"error": f"no control call {request.method} {name}"}, 404)

    def reset(self) -> None:
        with self._wake:
            self._pending.clear()
        self.state.reset()
        self.faults.reset()
        with self._stats_lock:
            self._calls.clear()
            self._unauthorized = 0
            self.deliveries.clear()

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            by_class = dict(self._calls)
            deliveries = list(self.deliveries)
        return {
            "api_calls": {"total": sum(by_class.values()), "by_class": by_class},
            "unauthorized": self._unauthorized,
            **self.faults.stats(),
            "faults": self.faults.describe(),
            "messages": len(self.state.messages),
            "webhooks": {
                "sent": len(deliveries),
                "failed": sum(1 for d in deliveries if not d.get("delivered")),
                "recent": [{k: v for k, v in d.items() if k != "body"} for d in deliveries[-20:]],
            },
        }

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._worker.join(timeout=5)
        self._http.close()


def _twiml_reply(body: str) -> str | None:
    """The text of `<Response><Message>…</Message></Response>`; an empty `<Response/>` sends nothing."""
    if not body.strip().startswith("<"):
        return None
    try:
        root = SafeET.fromstring(body.strip())
    except (SafeET.ParseError, SafeET.DefusedXmlException):
        return None
    node = root.find("Message")
    text = (node.text or "").strip() if node is not None else ""
    return text[:1600] or None
