"""The control API under `/__emulator__/`: reset, seed, stats, faults, relay, limits, direct record access.

Guarantees: every call needs `X-Emulator-Token` (401 otherwise) and none is metered; changes made here as
a user other than the integration user reach the relay exactly like API changes by that user; seeding is
one transaction (100,000 records in a few seconds) and publishes no events, like a data load.
"""

# ruff: noqa: S608 - SQL identifiers come from the org schema (validated names), values are bound parameters

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request

from . import ids
from .fake import RecordFaker
from .faults import FaultError
from .org import DEFAULT_SEARCH_INDEX_DELAY
from .relay import RelayTarget
from .soql import SoqlError
from .store import Change, RecordError

if TYPE_CHECKING:
    from .org import Org

SEED_MAX = 2_000_000


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _bad(message: str, status: int = 400, code: str = "INVALID_REQUEST") -> Response:
    return _json({"error": code, "message": message}, status)


def control_blueprint(org: Org) -> Blueprint:
    bp = Blueprint("emulator_control", __name__, url_prefix="/__emulator__")
    store = org.store

    @bp.before_request
    def check_token() -> Response | None:
        given = request.headers.get("X-Emulator-Token", "")
        if not hmac.compare_digest(given.encode(), org.control_token.encode()):
            return _bad("X-Emulator-Token missing or wrong", 401, "UNAUTHORIZED")
        return None

    def body() -> Any:
        raw = request.get_data(as_text=True)
        return json.loads(raw) if raw.strip() else {}

    def acting_user() -> str:
        name = request.args.get("as") or request.headers.get("X-Emulator-As-User") or "admin"
        if name in org.auth.clients:
            return org.auth.clients[name].user_id
        user_id = store.user_by_name(name) or (ids.normalize(name) if ids.looks_like_id(name) else None)
        if user_id is None:
            raise RecordError("NOT_FOUND", f"no such user: {name}", status=404)
        return user_id

    @bp.get("/info")
    def info() -> Response:
        return _json(org_ready_line(org))

    @bp.post("/reset")
    def reset() -> Response:
        store.reset()
        org.faults.clear()
        org.set_search_index_delay(DEFAULT_SEARCH_INDEX_DELAY)
        return _json({"reset": True})

    @bp.route("/search-index", methods=["GET", "POST"])
    def search_index() -> Response:
        """`{"delay_seconds": N}`: how long after a change a record becomes searchable by SOSL (reset: 900)."""
        if request.method == "POST":
            try:
                spec = body()
            except json.JSONDecodeError:
                return _bad("the body must be JSON")
            delay = spec.get("delay_seconds") if isinstance(spec, dict) else None
            if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
                return _bad("delay_seconds must be a number of seconds, 0 or more")
            org.set_search_index_delay(float(delay))
        return _json({"delay_seconds": org.search_index_delay})

    @bp.post("/seed")
    def seed() -> Response:
        try:
            spec = body()
        except json.JSONDecodeError:
            return _bad("the body must be JSON")
        obj = store.sobject(str(spec.get("object", ""))) if isinstance(spec, dict) else None
        if obj is None or not obj.stored or obj.kind == "mdt":
            return _bad(f"unknown or read-only object: {spec.get('object') if isinstance(spec, dict) else spec}")
        records = spec.get("records")
        if records is None:
            count = spec.get("count")
            if not isinstance(count, int) or not 0 < count <= SEED_MAX:
                return _bad(f"count must be an integer between 1 and {SEED_MAX}")
            faker = RecordFaker(spec.get("seed"))
            names = set(obj.fields)
            defaults = spec.get("fields") or {}
            records = [{**faker.record(obj.name, n, names), **defaults} for n in range(count)]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            return _bad("records must be a list of objects")
        try:
            created = store.seed(obj, records, acting_user())
        except RecordError as exc:
            return _json([exc.as_error()], exc.status)
        return _json({"object": obj.name, "count": len(created), "ids": created}, 201)

    @bp.get("/stats")
    def stats() -> Response:
        calls = store.counters("calls:")
        by_class = {
            k: calls.get(k, 0)
            for k in (
                "token",
                "query",
                "query_more",
                "search",
                "sobject",
                "collections",
                "composite",
                "bulk_query",
                "bulk_ingest",
                "describe",
                "limits",
                "other",
            )
        }
        used, limit = org.usage()
        records = {}
        with store.read() as conn:
            for obj in store.schema.values():
                if obj.kind in ("standard", "custom"):
                    records[obj.name] = conn.execute(
                        f'SELECT COUNT(*) FROM "{obj.name}" WHERE "IsDeleted" = 0'
                    ).fetchone()[0]
        return _json(
            {
                "api_calls": {"total": sum(by_class.values()), "by_class": by_class},
                "api_usage": {"used": used, "max": limit, "refused": store.counter("api:refused")},
                "tokens_issued": store.counter("tokens:issued"),
                "records": records,
                "relay": org.relay.stats(),
                "faults": {
                    "active": org.faults.describe(),
                    "fired": store.counter("faults:fired"),
                    "daily_limit_spent": org.faults.limit_spent,
                },
            }
        )

    @bp.route("/faults", methods=["POST", "GET", "DELETE"])
    def faults() -> Response:
        if request.method == "DELETE":
            org.faults.clear()
            return _json({"faults": []})
        if request.method == "GET":
            return _json({"faults": org.faults.describe(), "daily_limit_spent": org.faults.limit_spent})
        try:
            active = org.faults.add(body())
        except (FaultError, json.JSONDecodeError) as exc:
            return _bad(str(exc))
        return _json({"faults": active, "daily_limit_spent": org.faults.limit_spent}, 201)

    @bp.route("/limits", methods=["GET", "POST"])
    def limits() -> Response:
        if request.method == "POST":
            spec = body()
            with store.tx() as conn:
                if "used" in spec:
                    conn.execute(
                        "INSERT OR REPLACE INTO emu_counters (name, value) VALUES ('api:usage', ?)",
                        (int(spec["used"]),),
                    )
                if "max" in spec:
                    conn.execute(
                        "INSERT OR REPLACE INTO emu_meta (key, value) VALUES ('daily_limit', ?)",
                        (str(int(spec["max"])),),
                    )
        used, limit = org.usage()
        return _json({"used": used, "max": limit})

    @bp.route("/relay", methods=["GET", "POST", "DELETE"])
    def relay() -> Response:
        if request.method == "POST":
            spec = body()
            try:
                target = RelayTarget(
                    str(spec["url"]), str(spec["client_id"]), str(spec["client_secret"]), spec.get("ca_bundle")
                )
            except (KeyError, TypeError):
                return _bad("url, client_id and client_secret are required")
            org.relay.configure(target)
        elif request.method == "DELETE":
            org.relay.configure(None)
        return _json(org.relay.stats())

    @bp.post("/tokens/expire")
    def expire_tokens() -> Response:
        org.auth.expire_all()
        return _json({"expired": True})

    @bp.get("/query")
    def query() -> Response:
        try:
            return _json(org.queries.first_page(request.args.get("q", ""), request.args.get("all") == "true", "62.0"))
        except SoqlError as exc:
            return _json([{"errorCode": exc.code, "message": exc.message}], 400)

    # --- records, read and written directly (writes as a chosen user, seen by the relay) --------------

    def sobject(name: str) -> Any:
        obj = store.sobject(name)
        if obj is None:
            raise RecordError("NOT_FOUND", f"unknown object: {name}", status=404)
        return obj

    def run(fn: Any) -> Any:
        with store.tx() as conn:
            result, changes = fn(conn)
            store.publish(conn, changes)
        return result

    @bp.get("/records/<name>/<record_id>")
    def get_record(name: str, record_id: str) -> Response:
        try:
            obj = sobject(name)
            rid = ids.normalize(record_id)
            found = store.get(obj, rid, include_deleted=True) if rid else None
        except RecordError as exc:
            return _json([exc.as_error()], exc.status)
        if found is None:
            return _json([{"errorCode": "NOT_FOUND", "message": "no such record"}], 404)
        return _json(found)

    @bp.post("/records/<name>")
    def create_record(name: str) -> Response:
        try:
            obj = sobject(name)
            user_id = acting_user()
            values = body()

            def do(conn: Any) -> tuple[str, list[Change]]:
                rid, change = store.insert(conn, obj, values, user_id)
                return rid, [change]

            return _json({"id": run(do), "success": True, "errors": []}, 201)
        except RecordError as exc:
            return _json([exc.as_error()], exc.status)

    @bp.route("/records/<name>/<record_id>", methods=["PATCH", "DELETE"])
    def change_record(name: str, record_id: str) -> Response:
        try:
            obj = sobject(name)
            user_id = acting_user()
            rid = ids.normalize(record_id)
            if rid is None:
                raise RecordError("MALFORMED_ID", f"malformed id {record_id}")
            if request.method == "PATCH":
                values = body()
                run(lambda conn: (None, [store.update(conn, obj, rid, values, user_id)]))
            else:
                run(lambda conn: (None, [store.delete(conn, obj, rid, user_id)]))
        except RecordError as exc:
            return _json([exc.as_error()], exc.status)
        return Response(status=204)

    @bp.post("/records/<name>/<record_id>/undelete")
    def undelete_record(name: str, record_id: str) -> Response:
        try:
            obj = sobject(name)
            user_id = acting_user()
            rid = ids.normalize(record_id)
            if rid is None:
                raise RecordError("MALFORMED_ID", f"malformed id {record_id}")
            run(lambda conn: (None, [store.undelete(conn, obj, rid, user_id)]))
        except RecordError as exc:
            return _json([exc.as_error()], exc.status)
        return _json({"id": rid, "success": True, "errors": []})

    return bp


def org_ready_line(org: Org) -> dict[str, Any]:
    """The one JSON line the CLI prints when ready (DESIGN §6), also served at GET /__emulator__/info."""
    return {
        "url": org.base_url,
        "control_token": org.control_token,
        "ca_bundle": str(org.tls.ca_bundle.resolve()),
        "clients": {name: c.public() for name, c in org.auth.clients.items()},
        "org_id": org.store.org_id,
        "integration_username": org.auth.clients["integration"].username,
        "api_version": "62.0",
        "db": org.config.db,
    }
