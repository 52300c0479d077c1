"""The Mobile Commons emulator's HTTP face: MC's XML API under `/api/` and the control API under `/__emulator__/`.

Guarantees, as recorded responses show MC (docs/platforms/mobilecommons.md): API answers are XML with HTTP 200 and
`success="true|false"`, errors as `<error id= message=/>`; `profiles` answers `<profiles num= page=>` with no
`page_count`; custom columns are padded with whitespace and carry `created_at`/`updated_at`, every column of the
account listed on every profile (empty where unset); profiles carry `last_saved_location`, `last_saved_districts`
and `integrations`; bad or missing credentials get MC's 401 HTML page; more than `ACCOUNT_MAX_CONCURRENT` calls at
once are refused with error 27; mData is configured per keyword (GET or POST), called with `phone` as 10 digits,
`keyword` lowercase, `args`, `profile_id`, `profile_<field>` and `profile_<custom column>`, and never for a STOP or
START word (opt-outs are found by polling `profiles`). Injected faults (`gateway.emulators.faults`) apply to API
calls only; control calls need `X-Emulator-Token` (401 without) and are not counted in the API stats.

Not emulated (UNCONFIRMED in every source): the order `profiles` lists people in (here: by id), the keyword MC
sends for a reply without one inside a conversation (here: the conversation's keyword), whether a POST mData
carries its parameters in the body (here) or the query string, and non-US numbers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import requests
from defusedxml import ElementTree as SafeET
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from gateway.emulators.faults import Admission, Faults, FaultSpecError
from gateway.emulators.mobilecommons.seed import seed_generated, seed_specs
from gateway.emulators.mobilecommons.state import (
    ERROR_MESSAGES,
    START_WORDS,
    STOP_WORDS,
    EmulatorError,
    MobileCommonsState,
    Profile,
    StoredMessage,
    parse_wire_time,
)

log = logging.getLogger(__name__)

UNAUTHORIZED_PAGE = (
    "<html><head><title>401 Unauthorized</title></head><body>"
    "<h4>Unauthorized</h4><p>HTTP Basic: Access denied.</p></body></html>\n"
)
HEAVY_LOAD_PAGE = (
    "<html><head><title>Mobile Commons</title></head><body>"
    "<h4>This website is under heavy load</h4><p>Please try again in a few moments.</p></body></html>\n"
)
ERROR_PAGE = (
    "<html><head><title>Error</title></head><body><h4>{status} Error</h4><p>Something went wrong.</p></body></html>\n"
)


ACCOUNT_MAX_CONCURRENT = 160  # "a rate limit for individual companies of 160 concurrent API calls" (Upland)
RATE_LIMITED = 27
CONVERSATION = timedelta(hours=72)  # "Send all future replies to this mData": consecutive texts for up to 72 hours


@dataclass(frozen=True, slots=True)
class MData:
    """One mData web service: the keyword people text, the URL MC calls and how."""

    keyword: str  # as configured (matched case-insensitively)
    url: str
    method: str = "POST"
    all_replies: bool = True  # Upland's recommended default: later texts without the keyword go here too

    def describe(self) -> dict[str, Any]:
        return {"keyword": self.keyword, "url": self.url, "method": self.method, "all_replies": self.all_replies}


def _fmt(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def _el(name: str, value: str | None) -> str:
    return f"<{name}>{escape(value)}</{name}>" if value else f"<{name}/>"


class EmulatorApp:
    """A WSGI application over one `MobileCommonsState`."""

    def __init__(
        self,
        state: MobileCommonsState,
        *,
        username: str,
        password: str,
        control_token: str,
        bearer_token: str | None = None,
        company_key: str | None = None,
        mdata_url: str | None = None,
        mdata_keywords: Iterable[str] = ("JOIN",),
        mdata_method: str = "POST",
    ) -> None:
        self.state = state
        self._username = username.encode()
        self._password = password.encode()
        self._bearer = bearer_token.encode() if bearer_token else None
        self.control_token = control_token
        self.company_key = company_key
        self.mdata: dict[str, MData] = {}
        self._conversations: dict[str, tuple[str, datetime]] = {}  # phone -> (keyword, until)
        self._stats_lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._unauthorized = 0
        self.faults = Faults(account_max_concurrent=ACCOUNT_MAX_CONCURRENT)
        self._mdata = requests.Session()
        for keyword in mdata_keywords if mdata_url else ():
            self.configure_mdata(keyword, mdata_url or "", method=mdata_method)
        self._routes: dict[str, Callable[[MultiDict[str, str]], str]] = {
            "profile_update": self._profile_update,
            "profile": self._profile,
            "profiles": self._profiles,
            "profile_opt_out": self._profile_opt_out,
            "campaigns": self._campaigns,
            "send_message": self._send_message,
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if path.startswith("/__emulator__/"):
            response = self._control(request, path.removeprefix("/__emulator__/"))
        elif path.startswith("/api/"):
            response = self._api(request, path.removeprefix("/api/").strip("/"))
        else:
            response = Response(ERROR_PAGE.format(status=404), 404, content_type="text/html")
        return response(environ, start_response)

    # -- the MC API

    def _api(self, request: Request, method: str) -> Response:
        if not self._authorized(request.headers.get("Authorization", "")):
            with self._stats_lock:
                self._unauthorized += 1
            return Response(
                UNAUTHORIZED_PAGE,
                401,
                content_type="text/html",
                headers={"WWW-Authenticate": 'Basic realm="Mobile Commons API"'},
            )
        with self._stats_lock:
            self._calls[method] += 1
        with self.faults.call() as admission:
            if admission.delay:
                time.sleep(admission.delay)
            return self._admitted(request, method, admission)

    def _admitted(self, request: Request, method: str, admission: Admission) -> Response:
        if admission.throttled:
            return self._xml(self._error(RATE_LIMITED))
        if admission.status is not None:
            body = HEAVY_LOAD_PAGE if admission.status == 503 else ERROR_PAGE.format(status=admission.status)
            return Response(body, admission.status, content_type="text/html")
        if admission.error_code is not None:
            return self._xml(self._error(int(admission.error_code)))
        handler = self._routes.get(method)
        if handler is None:
            return Response(ERROR_PAGE.format(status=404), 404, content_type="text/html")
        params: MultiDict[str, str] = MultiDict(request.args)
        if request.method == "POST":
            if request.is_json:
                payload = request.get_json(silent=True) or {}
                params.update({k: str(v) for k, v in payload.items() if v is not None})
            else:
                params.update(request.form)
        try:
            if self.company_key and params.get("company") not in (None, self.company_key):
                raise EmulatorError(4)
            return self._xml(handler(params))
        except EmulatorError as exc:
            return self._xml(self._error(exc.error_id, exc.message))

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self._bearer is not None:
            return hmac.compare_digest(value.strip().encode(), self._bearer)
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).partition(b":")
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(user, self._username) & hmac.compare_digest(password, self._password)

    @staticmethod
    def _xml(body: str) -> Response:
        return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + body, 200, content_type="text/xml; charset=utf-8")

    @staticmethod
    def _error(error_id: int, message: str | None = None) -> str:
        text = message or ERROR_MESSAGES.get(error_id, "Error")
        return f'<response success="false"><error id="{error_id}" message={quoteattr(text)}/></response>'

    def _profile_update(self, params: MultiDict[str, str]) -> str:
        profile = self.state.profile_update(params.to_dict())
        return f'<response success="true">{self._render(profile)}</response>'

    def _profile(self, params: MultiDict[str, str]) -> str:
        profile = self.state.get_profile(params.get("phone_number"))
        include = params.get("include_messages", "") in ("1", "true")
        return f'<response success="true">{self._render(profile, messages=include)}</response>'

    def _profiles(self, params: MultiDict[str, str]) -> str:
        phones: list[str] = []
        for value in params.getlist("phone_number"):
            phones.extend(p for p in value.split(",") if p.strip())
        try:
            limit = int(params.get("limit") or 1000)
            page = int(params.get("page") or 1)
        except ValueError as exc:
            raise EmulatorError(16) from exc
        found, _page_count = self.state.list_profiles(
            phones=phones,
            start=parse_wire_time(params.get("from")),
            end=parse_wire_time(params.get("to")),
            limit=limit,
            page=page,
        )
        custom = params.get("include_custom_columns", "true") != "false"
        subs = params.get("include_subscriptions", "true") != "false"
        columns = self.state.custom_column_names() if custom else []
        body = "\n".join(self._render(p, custom=custom, subscriptions=subs, columns=columns) for p in found)
        # `num` is the count on this page; MC gives no page_count here (recorded responses)
        head = f'<response success="true">\n  <profiles num="{len(found)}" page="{page}">\n'
        return f"{head}{body}\n  </profiles>\n</response>"

    def _profile_opt_out(self, params: MultiDict[str, str]) -> str:
        profile = self.state.opt_out(params.get("phone_number"), params.get("campaign_id"))
        return f'<response success="true">{self._render(profile)}</response>'

    def _send_message(self, params: MultiDict[str, str]) -> str:
        message = self.state.send_message(params.get("campaign_id"), params.get("phone_number"), params.get("body"))
        return f'<response success="true"><message id="{message.id}" status="{message.status}"/></response>'

    def _campaigns(self, params: MultiDict[str, str]) -> str:
        paths = params.get("include_opt_in_paths", "") in ("1", "true")
        parts = []
        for campaign in self.state.campaigns.values():
            inner = f"{_el('name', campaign.name)}<description/>"
            if paths:
                inner += (
                    "<opt_in_paths>"
                    + "".join(
                        f'<opt_in_path id="{pid}" active="true">{_el("name", name)}</opt_in_path>'
                        for pid, name in campaign.opt_in_paths.items()
                    )
                    + "</opt_in_paths>"
                )
            parts.append(f'<campaign id="{campaign.id}" active="{str(campaign.active).lower()}">{inner}</campaign>')
        return f'<response success="true"><campaigns>{"".join(parts)}</campaigns></response>'

    def _render(
        self,
        p: Profile,
        *,
        custom: bool = True,
        subscriptions: bool = True,
        messages: bool = False,
        columns: list[str] | None = None,
    ) -> str:
        campaigns = self.state.campaigns
        parts = [
            f'<profile id="{p.id}">',
            _el("first_name", p.first_name),
            _el("last_name", p.last_name),
            _el("phone_number", p.phone),
            _el("email", p.email),
            _el("status", p.status),
            _el("created_at", _fmt(p.created_at)),
            _el("updated_at", _fmt(p.updated_at)),
            _el("opted_out_at", _fmt(p.opted_out_at)),
            _el("opted_out_source", p.opted_out_source),
            f'<source type={quoteattr(p.source_type)} name="Emulator" email="api@example.org"/>',
            "<address>",
            *(_el(n, getattr(p, n)) for n in ("street1", "street2", "city", "state", "postal_code", "country")),
            "</address>",
            *self._location(p),
        ]
        if custom:
            parts.append("<custom_columns>")
            for name in columns if columns is not None else self.state.custom_column_names():
                value = p.custom.get(name)
                if value is None:
                    parts.append(f"<custom_column name={quoteattr(name)}/>")
                    continue
                created, updated = p.custom_times.get(name, (p.created_at, p.updated_at))
                parts.append(
                    f'<custom_column\n      name={quoteattr(name)}\n      created_at="{_iso(created)}"\n'
                    f'      updated_at="{_iso(updated)}">\n      {escape(value)}\n    </custom_column>'
                )
            parts.append("</custom_columns>")
        if subscriptions:
            parts.append("<subscriptions>")
            for s in p.subscriptions.values():
                name = campaigns[s.campaign_id].name if s.campaign_id in campaigns else ""
                parts.append(
                    f'<subscription campaign_id="{s.campaign_id}" campaign_name={quoteattr(name)} '
                    f'campaign_description="" opt_in_path_id="{s.opt_in_path_id or ""}" status="{s.status}" '
                    f'opt_in_source={quoteattr(s.opt_in_source)} created_at="{_iso(s.created_at)}" '
                    f'activated_at="{_iso(s.activated_at)}" opted_out_at="{_iso(s.opted_out_at)}" '
                    f"opt_out_source={quoteattr(s.opt_out_source)}/>"
                )
            parts.append("</subscriptions>")
        parts.append("<integrations>\n</integrations>\n<clicks>\n</clicks>")
        if messages:
            parts.append("<messages>")
            parts.extend(self._render_message(m) for m in p.messages)
            parts.append("</messages>")
        parts.append("</profile>")
        return "\n".join(parts)

    @staticmethod
    def _location(p: Profile) -> list[str]:
        """`last_saved_location` and `last_saved_districts` as recorded (geocoding is not emulated: no coordinates
        or districts, the location is the address's place)."""
        place = "".join(_el(n, getattr(p, n)) for n in ("city", "state", "postal_code", "country"))
        return [
            f"<last_saved_location><latitude/><longitude/><precision/>{place}</last_saved_location>",
            "<last_saved_districts><congressional_district/><state_upper_district/><state_lower_district/>"
            "<split_district/></last_saved_districts>",
        ]

    def _render_message(self, m: StoredMessage) -> str:
        campaign = self.state.campaigns.get(m.campaign_id) if m.campaign_id else None
        campaign_xml = f'<campaign id="{campaign.id}" name={quoteattr(campaign.name)}/>' if campaign else ""
        return (
            f'<message id="{m.id}" message_type="{m.message_type}" status="{m.status}">'
            f"<body><![CDATA[{m.body.replace(']]>', ']]]]><![CDATA[>')}]]></body>"
            f"<when>{_fmt(m.at)}</when>{campaign_xml}</message>"
        )

    # -- the control API

    def _control(self, request: Request, name: str) -> Response:
        token = request.headers.get("X-Emulator-Token", "")
        if not hmac.compare_digest(token.encode(), self.control_token.encode()):
            return self._json({"error": "missing or wrong X-Emulator-Token"}, 401)
        try:
            body = request.get_json(silent=True) if request.method == "POST" else None
            key = (request.method, name.strip("/"))
            if key == ("POST", "reset"):
                self.state.reset()
                self.faults.reset()
                with self._stats_lock:
                    self._calls.clear()
                    self._unauthorized = 0
                    self._conversations.clear()
                return self._json({"reset": True})
            if key == ("POST", "seed"):
                return self._json(self._seed(body or {}), 201)
            if key == ("GET", "contacts"):
                since, after = request.args.get("updated_since"), request.args.get("changed_after")
                try:
                    updated_since = datetime.fromisoformat(since) if since else None
                    changed_after = int(after) if after else None
                    if updated_since is not None and updated_since.tzinfo is None:
                        raise ValueError("no offset")
                except ValueError:
                    return self._json(
                        {"error": "updated_since must be an ISO time with its offset, changed_after a change count"},
                        400,
                    )
                contacts, count = self.state.snapshot(
                    request.args.get("phone"), updated_since=updated_since, changed_after=changed_after
                )
                return self._json({"contacts": contacts, "changes": count})
            if key == ("POST", "inbound"):
                return self._json(self.deliver_inbound(str((body or {})["phone"]), str((body or {})["body"])))
            if key == ("POST", "faults"):
                code = body.get("error_code") if isinstance(body, dict) else None
                if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
                    raise FaultSpecError("error_code must be a Mobile Commons error id (a number, e.g. 27)")
                return self._json({"faults": self.faults.set(body)})
            if key == ("DELETE", "faults"):
                self.faults.clear()
                return self._json({"faults": None})
            if key == ("GET", "faults"):
                return self._json({"faults": self.faults.describe()})
            if key == ("POST", "mdata"):
                spec = body or {}
                made = self.configure_mdata(
                    str(spec["keyword"]),
                    str(spec["url"]),
                    method=str(spec.get("method", "POST")),
                    all_replies=bool(spec.get("all_replies", True)),
                )
                return self._json({"mdata": made.describe()}, 201)
            if key == ("GET", "mdata"):
                return self._json({"mdata": [m.describe() for m in self.mdata.values()]})
            if key == ("DELETE", "mdata"):
                with self._stats_lock:
                    self.mdata.clear()
                    self._conversations.clear()
                return self._json({"mdata": []})
            if key == ("GET", "stats"):
                return self._json(self.stats())
        except EmulatorError as exc:
            return self._json({"error": exc.message, "error_id": exc.error_id}, 400)
        except FaultSpecError as exc:
            return self._json({"error": f"bad fault plan: {exc}"}, 400)
        except (KeyError, TypeError, ValueError) as exc:
            return self._json({"error": f"bad request: {exc}"}, 400)
        return self._json({"error": f"no control call {request.method} {name}"}, 404)

    @staticmethod
    def _json(payload: Any, status: int = 200) -> Response:
        return Response(json.dumps(payload), status, content_type="application/json")

    def _seed(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if "profiles" in body:
            created = seed_specs(self.state, body["profiles"], seed=body.get("seed"))
        else:
            created = seed_generated(
                self.state,
                int(body.get("count", 0)),
                messages=int(body.get("messages", 0)),
                unsubscribed_ratio=float(body.get("unsubscribed_ratio", 0.05)),
                seed=body.get("seed"),
            )
        return {"created": len(created), "profiles": [{"id": str(p.id), "phone": "+" + p.phone} for p in created]}

    def configure_mdata(self, keyword: str, url: str, *, method: str = "POST", all_replies: bool = True) -> MData:
        """Point a keyword at a web service, as an account admin sets up an mData (replaces that keyword's)."""
        word = keyword.strip()
        if not word or " " in word:
            raise ValueError("an mData keyword is one word")
        if word.upper() in STOP_WORDS or word.upper() in START_WORDS:
            raise ValueError(f"{word} is answered by Mobile Commons itself and cannot be an mData keyword")
        if method.upper() not in ("GET", "POST"):
            raise ValueError("an mData request method is GET or POST")
        if not url.startswith(("http://", "https://")):
            raise ValueError("an mData URL is http(s)")
        made = MData(word, url, method.upper(), all_replies)
        with self._stats_lock:
            self.mdata[word.upper()] = made
        return made

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            by_method = dict(self._calls)
            unauthorized = self._unauthorized
        return {
            "api_calls": {"total": sum(by_method.values()), "by_method": by_method, "by_class": by_method},
            "unauthorized": unauthorized,
            **self.faults.stats(),
            "profiles": self.state.count(),
            "after_stop": self.state.after_stop_counts(),
        }

    def _mdata_for(self, phone: str, keyword: str, now: datetime) -> tuple[MData, str] | None:
        """The mData a text goes to and the keyword MC names: its own keyword, else the conversation a previous
        keyword opened (for an mData that takes all future replies)."""
        with self._stats_lock:
            found = self.mdata.get(keyword.upper())
            if found is not None:
                if found.all_replies:
                    self._conversations[phone] = (found.keyword, now + CONVERSATION)
                return found, found.keyword
            open_keyword, until = self._conversations.get(phone, ("", now))
            if until > now and (current := self.mdata.get(open_keyword.upper())) is not None:
                return current, current.keyword
            return None

    def deliver_inbound(self, phone: str, body: str) -> dict[str, Any]:
        """A person texts `body`: the account changes (STOP and START are Mobile Commons' own), then, for an mData
        keyword (or inside an mData conversation), MC calls that mData's URL; nothing else is pushed anywhere."""
        result = self.state.inbound(phone, body)
        answer: dict[str, Any] = {"message_id": str(result.message_id), "mdata": None}
        target = None if result.handled else self._mdata_for(result.phone, result.keyword, datetime.now(UTC))
        if target is None:
            return answer
        mdata, keyword = target
        args = result.args if keyword.upper() == result.keyword.upper() else f"{result.keyword} {result.args}".strip()
        form = {
            "phone": result.phone[1:],  # 10 digits, as MC's documentation shows (phone=2125551234)
            "keyword": keyword.lower(),
            "args": args,
            **result.profile,
        }
        try:
            if mdata.method == "GET":
                reply = self._mdata.get(mdata.url, params=form, timeout=10)
            else:
                reply = self._mdata.post(mdata.url, data=form, timeout=10)
        except requests.RequestException as exc:
            answer["mdata"] = {"delivered": False, "error": type(exc).__name__}
            return answer
        answer["mdata"] = {"delivered": 200 <= reply.status_code < 300, "status": reply.status_code}
        text = _reply_text(reply.text) if reply.ok else None
        if text:
            self.state.record_reply(phone, text)
            answer["mdata"]["reply"] = text
        return answer

    def close(self) -> None:
        self._mdata.close()


def _reply_text(body: str) -> str | None:
    """The text of an mData answer: `<response><reply><text>…` or plain text; empty sends nothing."""
    stripped = body.strip()
    if not stripped:
        return None
    if stripped.startswith("<"):
        try:
            root = SafeET.fromstring(stripped)
        except (SafeET.ParseError, SafeET.DefusedXmlException):
            return None
        node = root.find("reply/text")
        return (node.text or "").strip() or None if node is not None else None
    return stripped[:1600]
