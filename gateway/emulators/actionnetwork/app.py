"""The Action Network emulator's HTTP face: API v2 under `/api/v2/` and the control API under `/__emulator__/`.

The API: the person signup helper (`POST people/`), `GET people/{uuid}`, `GET people` (OData `filter`, `page`,
`per_page` capped at 25, `_links.next`, no totals), `GET/POST tags`; `OSDI-API-Token` header (or OSDI's
`osdi-api-token` query parameter); errors as `{"error": "…"}`; HTTP 429 once more than `requests_per_second`
requests arrived within the last second (Action Network's published limit is 4/s; whether its 429 carries a
`Retry-After` is UNCONFIRMED, so the emulator sends one only when told to: `retry_after_seconds`).

The control API (DESIGN §6): `reset`, `seed`, `stats`, `contacts`, `inbound` (a person texting; STOP flips their
number to unsubscribed, as Action Network's own SMS does, and nothing is pushed: no unsubscribe webhook exists),
`faults`, plus `action` (an activist submits a form: the person is upserted the way a form does and a webhook
array is POSTed to `webhook_url`) and `webhooks/replay` (the last array again, same idempotency keys).

Guarantees: control calls need `X-Emulator-Token` (401 without) and are neither counted nor throttled; injected
faults apply to API calls only; statistics record every API call's arrival time, so a test can measure the rate
the emulator really saw.
"""

from __future__ import annotations

import hmac
import json
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from werkzeug.wrappers import Request, Response

from gateway.emulators.actionnetwork.state import (
    ActionNetworkState,
    ApiError,
    Person,
    digits_of,
    now,
    wire_time,
)

MAX_PER_PAGE = 25
HAL = "application/hal+json"
_NAMES = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Femi", "Grace", "Hiro", "Ines", "Jamal", "Kim", "Luis"]
_SURNAMES = ["Okafor", "Lee", "Garcia", "Smith", "Nguyen", "Cohen", "Patel", "Moreau", "Silva", "Kowalski"]


@dataclass
class FaultPlan:
    """Injected behaviour for API calls (DESIGN §6)."""

    status: int | None = None
    error: str | None = None
    count: int | None = None
    ratio: float | None = None
    latency_ms: int = 0
    jitter_ms: int = 0
    max_concurrent: int | None = None
    max_per_second: float | None = None
    retry_after_seconds: float | None = None
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class _Stats:
    calls: Counter[str] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)  # monotonic time of every served API call
    throttled: int = 0
    unauthorized: int = 0
    faults: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


class EmulatorApp:
    """A WSGI application over one `ActionNetworkState`."""

    def __init__(
        self,
        state: ActionNetworkState,
        *,
        api_token: str,
        control_token: str,
        requests_per_second: float | None = 4.0,
        webhook_url: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        self.state = state
        self.api_token = api_token
        self.control_token = control_token
        self.requests_per_second = requests_per_second
        self.retry_after_seconds = retry_after_seconds
        self.webhook_url = webhook_url
        self.public_url = ""  # set by the server once it listens
        self._lock = threading.Lock()
        self._stats = _Stats()
        self._window: deque[float] = deque()
        self._fault: FaultPlan | None = None
        self._rng = random.Random()
        self._sender = requests.Session()
        self._last_batch: list[dict[str, Any]] | None = None

    def close(self) -> None:
        self._sender.close()

    @property
    def api_url(self) -> str:
        return f"{self.public_url}/api/v2/"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/__emulator__/"):
            response = self._control(request, request.path.removeprefix("/__emulator__/").strip("/"))
        elif request.path.startswith("/api/v2"):
            response = self._api(request, request.path.removeprefix("/api/v2").strip("/"))
        else:
            response = _json({"error": "Not found"}, 404)
        return response(environ, start_response)

    # -- the API

    def _api(self, request: Request, path: str) -> Response:
        token = request.headers.get("OSDI-API-Token") or request.args.get("osdi-api-token") or ""
        if not hmac.compare_digest(token.encode(), self.api_token.encode()):
            with self._lock:
                self._stats.unauthorized += 1
            return _json({"error": "API key missing or invalid"}, 401)  # wording: the emulator's own
        arrived = time.monotonic()
        with self._lock:
            fault = self._take_fault()
            limit = fault.max_per_second if fault and fault.max_per_second else self.requests_per_second
            while self._window and arrived - self._window[0] >= 1.0:
                self._window.popleft()
            if limit is not None and len(self._window) >= limit:
                self._stats.throttled += 1
                return self._too_many(fault)
            concurrent = fault.max_concurrent if fault else None
            if concurrent is not None and self._stats.in_flight >= concurrent:
                self._stats.throttled += 1
                return self._too_many(fault)
            self._window.append(arrived)
            self._stats.arrivals.append(arrived)
            self._stats.calls[f"{request.method} {_route(path)}"] += 1
            self._stats.in_flight += 1
            self._stats.max_in_flight = max(self._stats.max_in_flight, self._stats.in_flight)
        try:
            if fault is not None and (fault.latency_ms or fault.jitter_ms):
                time.sleep((fault.latency_ms + self._rng.uniform(0, fault.jitter_ms)) / 1000)
            if fault is not None and fault.status is not None:
                with self._lock:
                    self._stats.faults += 1
                if fault.status == 429:
                    return self._too_many(fault)
                return _json({"error": fault.error or "Injected failure"}, fault.status)
            return self._route(request, path)
        except ApiError as exc:
            return _json({"error": exc.message}, exc.status)
        finally:
            with self._lock:
                self._stats.in_flight -= 1

    def _too_many(self, fault: FaultPlan | None) -> Response:
        response = _json({"error": "Too many requests"}, 429)  # wording: the emulator's own
        retry_after = fault.retry_after_seconds if fault and fault.retry_after_seconds else self.retry_after_seconds
        if retry_after is not None:
            response.headers["Retry-After"] = f"{retry_after:g}"
        return response

    def _take_fault(self) -> FaultPlan | None:
        fault = self._fault
        if fault is None:
            return None
        if fault.count is not None:
            if fault.count <= 0:
                return None
            fault.count -= 1
        elif fault.ratio is not None and self._rng.random() >= fault.ratio:
            return None
        fault.fired += 1
        return fault

    def _route(self, request: Request, path: str) -> Response:
        parts = path.split("/") if path else []
        if parts == [] and request.method == "GET":
            return self._entry_point()
        if parts[:1] == ["people"]:
            if len(parts) == 1 and request.method == "POST":
                return self._signup(request)
            if len(parts) == 1 and request.method == "GET":
                return self._people(request)
            if len(parts) == 2 and request.method == "GET":
                return _json(self.state.get(parts[1]).to_json(self.api_url), 200)
        if parts == ["tags"] and request.method == "GET":
            return self._tags(request)
        if parts == ["tags"] and request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, Mapping) or not isinstance(body.get("name"), str) or not body["name"].strip():
                raise ApiError(400, "A tag needs a name")
            tag_id = self.state.create_tag(body["name"].strip())
            return _json({"identifiers": [f"action_network:{tag_id}"], "name": body["name"].strip()}, 200)
        raise ApiError(404, f"No route {request.method} /api/v2/{path}")

    def _entry_point(self) -> Response:
        links = {
            name: {"href": f"{self.api_url}{rel}"}
            for name, rel in (("osdi:people", "people"), ("osdi:tags", "tags"), ("osdi:person_signup_helper", "people"))
        }
        return _json({"motd": "Action Network emulator", "max_pagesize": MAX_PER_PAGE, "_links": links}, 200)

    def _signup(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data() or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, "The request body is not JSON") from exc
        person, created = self.state.signup(body)
        if request.args.get("background_processing") == "true":
            return _json({}, 200)
        # OSDI answers 201 for a created resource and 200 for an update; Action Network's choice is UNCONFIRMED.
        return _json(person.to_json(self.api_url), 201 if created else 200)

    def _page_args(self, request: Request) -> tuple[int, int]:
        try:
            page = int(request.args.get("page", "1"))
            per_page = int(request.args.get("per_page", str(MAX_PER_PAGE)))
        except ValueError as exc:
            raise ApiError(400, "page and per_page must be numbers") from exc
        if page < 1 or per_page < 1:
            raise ApiError(400, "page and per_page must be positive")
        return page, min(per_page, MAX_PER_PAGE)

    def _people(self, request: Request) -> Response:
        page, per_page = self._page_args(request)
        filter_text = request.args.get("filter")
        found = self.state.query(filter_text)
        start = (page - 1) * per_page
        items = found[start : start + per_page]
        extra = {"filter": filter_text} if filter_text else {}
        people = [p.to_json(self.api_url) for p in items]
        more = len(found) > start + per_page
        return _json(self._collection("people", "osdi:people", people, page, per_page, more=more, extra=extra), 200)

    def _tags(self, request: Request) -> Response:
        page, per_page = self._page_args(request)
        names = sorted(self.state.tags.items())
        start = (page - 1) * per_page
        items = [
            {"identifiers": [f"action_network:{tag_id}"], "name": name}
            for name, tag_id in names[start : start + per_page]
        ]
        return _json(
            self._collection("tags", "osdi:tags", items, page, per_page, more=len(names) > start + per_page), 200
        )

    def _collection(
        self,
        name: str,
        key: str,
        items: list[dict[str, Any]],
        page: int,
        per_page: int,
        *,
        more: bool,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A HAL page as Action Network's people collection has it: no `total_records`, no `total_pages`."""
        base = f"{self.api_url}{name}"
        links: dict[str, Any] = {
            "self": {"href": f"{base}?{urlencode({'page': page, 'per_page': per_page, **(extra or {})})}"}
        }
        if more:
            links["next"] = {"href": f"{base}?{urlencode({'page': page + 1, 'per_page': per_page, **(extra or {})})}"}
        if page > 1:
            links["previous"] = {
                "href": f"{base}?{urlencode({'page': page - 1, 'per_page': per_page, **(extra or {})})}"
            }
        links[key] = [{"href": i["_links"]["self"]["href"]} for i in items if "_links" in i]
        links["curies"] = [{"name": "osdi", "href": "https://actionnetwork.org/docs/v2/{rel}", "templated": True}]
        return {"per_page": per_page, "page": page, "_links": links, "_embedded": {key: items}}

    # -- the control API

    def _control(self, request: Request, name: str) -> Response:
        token = request.headers.get("X-Emulator-Token", "")
        if not hmac.compare_digest(token.encode(), self.control_token.encode()):
            return _json({"error": "missing or wrong X-Emulator-Token"}, 401)
        body = request.get_json(silent=True) if request.method == "POST" else None
        body = body if isinstance(body, dict) else {}
        key = (request.method, name)
        try:
            if key == ("POST", "reset"):
                self.state.reset()
                with self._lock:
                    self._stats = _Stats()
                    self._window.clear()
                    self._fault = None
                    self._last_batch = None
                return _json({"reset": True}, 200)
            if key == ("POST", "seed"):
                return _json(self._seed(body), 201)
            if key == ("GET", "stats"):
                return _json(self.stats(), 200)
            if key == ("GET", "contacts"):
                found = self.state.everyone(phone=request.args.get("phone"), email=request.args.get("email"))
                return _json({"contacts": [self.describe(p) for p in found]}, 200)
            if key == ("POST", "inbound"):
                person = self.state.inbound(str(body["phone"]), str(body["body"]))
                return _json({"person": self.describe(person) if person else None, "pushed": False}, 200)
            if key == ("POST", "faults"):
                return _json({"faults": self._set_fault(body)}, 200)
            if key == ("DELETE", "faults"):
                with self._lock:
                    self._fault = None
                return _json({"faults": None}, 200)
            if key == ("POST", "action"):
                return _json(self._action(body), 200)
            if key == ("POST", "webhooks/replay"):
                if self._last_batch is None:
                    return _json({"error": "no webhook was sent yet"}, 409)
                return _json({"delivered": self._deliver(self._last_batch)}, 200)
            if key == ("POST", "touch"):
                self.state.touch(str(body["id"]), _moment(body["modified_at"]))
                return _json({"touched": body["id"]}, 200)
        except ApiError as exc:
            return _json({"error": exc.message}, exc.status)
        except (KeyError, TypeError, ValueError) as exc:
            return _json({"error": f"bad request: {exc}"}, 400)
        return _json({"error": f"no control call {request.method} {name}"}, 404)

    def describe(self, person: Person) -> dict[str, Any]:
        """A person for `/__emulator__/contacts`: the API's view plus the fields every platform emulator's control
        API shows (`id`, `phone` in E.164, `first_name`, `last_name`, `email`, `sms_status`) and `tags`."""
        return {
            **person.to_json(self.api_url),
            "id": person.uuid,
            "phone": f"+{person.phone}" if person.phone else None,
            "first_name": person.given_name,
            "last_name": person.family_name,
            "email": person.email,
            "sms_status": person.phone_status or "none",
            "tags": sorted(person.tags),
        }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            arrivals = list(self._stats.arrivals)
            peak, low = 0, 0
            for high in range(len(arrivals)):
                while arrivals[high] - arrivals[low] >= 1.0:
                    low += 1
                peak = max(peak, high - low + 1)
            span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
            return {
                "api_calls": {"total": len(arrivals), "by_class": dict(self._stats.calls)},
                "throttled": self._stats.throttled,
                "unauthorized": self._stats.unauthorized,
                "faults_injected": self._stats.faults,
                "max_in_flight": self._stats.max_in_flight,
                "peak_in_flight": self._stats.max_in_flight,  # the name every platform emulator's stats use
                "rate": {
                    "peak_in_any_second": peak,
                    "span_seconds": round(span, 4),
                    "mean_per_second": round((len(arrivals) - 1) / span, 4) if span > 0 else None,
                },
                "people": self.state.count(),
            }

    def _set_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        status = spec.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError("status must be an HTTP error status")
        error_code = spec.get("error_code")
        if error_code is not None and status is None:
            status = 400
        count, ratio = spec.get("count"), spec.get("ratio")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer")
        if ratio is not None and (not isinstance(ratio, (int, float)) or not 0 < ratio <= 1):
            raise ValueError("ratio must be in (0, 1]")
        fault = FaultPlan(
            status=status,
            error=str(spec.get("message") or error_code or "") or None,
            count=count,
            ratio=float(ratio) if ratio is not None else None,
            latency_ms=int(spec.get("latency_ms") or 0),
            jitter_ms=int(spec.get("jitter_ms") or 0),
            max_concurrent=int(spec["max_concurrent"]) if spec.get("max_concurrent") else None,
            max_per_second=float(spec["max_per_second"]) if spec.get("max_per_second") else None,
            retry_after_seconds=float(spec["retry_after"]) if spec.get("retry_after") is not None else None,
        )
        if fault.status is None and not (
            fault.latency_ms or fault.jitter_ms or fault.max_concurrent or fault.max_per_second
        ):
            raise ValueError("give status, error_code, latency_ms, jitter_ms, max_concurrent or max_per_second")
        with self._lock:
            self._fault = fault
        return fault.describe()

    def _seed(self, body: Mapping[str, Any]) -> dict[str, Any]:
        for tag in body.get("tags") or []:
            self.state.create_tag(str(tag))
        specs = list(body.get("people") or [])
        count = int(body.get("count") or 0)
        if count < 0 or count > 200_000:
            raise ValueError("count must be between 0 and 200000")
        rng = random.Random(body.get("seed"))
        first_index = self.state.count()  # a second seed call numbers on: its phones must be new, as `add` requires
        for index in range(first_index, first_index + count):
            first, last = rng.choice(_NAMES), rng.choice(_SURNAMES)
            specs.append(
                {
                    "given_name": first,
                    "family_name": last,
                    "email": f"{first}.{last}.{secrets.token_hex(4)}@example.org".lower(),
                    "phone": f"+1{rng.randint(201, 989)}555{index % 10_000:04d}" if body.get("phones", True) else None,
                    "sms_status": body.get("sms_status", "subscribed"),
                    "modified_at": body.get("modified_at"),
                    "created_at": body.get("created_at"),
                }
            )
        created = [self.state.add(spec) for spec in specs]
        return {"ids": [p.uuid for p in created], "tags": sorted(self.state.tags)}

    def _action(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Activists submitting a form: each person is upserted as a form does (email subscribed; the phone
        subscribed only with `sms_opt_in`), then one webhook array holds one element per submission."""
        actions = body.get("actions") or [body]
        batch = []
        people = []
        for action in actions:
            typed: dict[str, Any] = {}
            for name in ("given_name", "family_name"):
                if action.get(name):
                    typed[name] = action[name]
            if action.get("email"):
                typed["email_addresses"] = [{"address": action["email"]}]
            if action.get("phone"):
                entry: dict[str, Any] = {"number": digits_of(action["phone"]), "number_type": "Mobile"}
                if action.get("sms_opt_in"):
                    entry["status"] = "subscribed"
                typed["phone_numbers"] = [entry]
            if action.get("postal_code"):
                typed["postal_addresses"] = [{"postal_code": action["postal_code"], "country": "US"}]
            person, _ = self.state.signup({"person": typed})
            people.append(person.uuid)
            kind = str(action.get("type") or "osdi:submission")
            moment = wire_time(now())
            item_id = secrets.token_hex(16)
            resource = kind.split(":", 1)[-1] + "s"
            batch.append(
                {
                    kind: {
                        "identifiers": [f"action_network:{item_id}"],
                        "created_date": moment,
                        "modified_date": moment,
                        "person": typed,
                        "add_tags": [],
                        "action_network:referrer_data": {"source": "none", "website": "example.org"},
                        "_links": {
                            "self": {"href": f"{self.api_url}forms/emulated-form/{resource}/{item_id}"},
                            "osdi:form": {"href": f"{self.api_url}forms/emulated-form"},
                            "osdi:person": {"href": f"{self.api_url}people/{person.uuid}"},
                        },
                    },
                    "action_network:sponsor": {"title": "Emulated group", "url": f"{self.public_url}/groups/emulated"},
                    "idempotency_key": secrets.token_hex(16),
                }
            )
        self._last_batch = batch
        return {
            "people": people,
            "idempotency_keys": [b["idempotency_key"] for b in batch],
            "delivered": self._deliver(batch),
        }

    def _deliver(self, batch: list[dict[str, Any]]) -> int | None:
        """POST the array to `webhook_url`; the receiver's status (None when no URL is set or it failed)."""
        if not self.webhook_url:
            return None
        try:
            response = self._sender.post(self.webhook_url, json=batch, timeout=10)
        except requests.RequestException:
            return None
        return response.status_code


def _route(path: str) -> str:
    parts = path.split("/") if path else []
    if len(parts) == 2 and parts[0] == "people":
        return "people/{id}"
    return "/".join(parts) or "/"


def _moment(value: object) -> Any:
    from gateway.emulators.actionnetwork.state import parse_filter_time

    return parse_filter_time(str(value))


def _json(body: Any, status: int) -> Response:
    return Response(json.dumps(body), status, content_type=HAL if status < 400 else "application/json")
