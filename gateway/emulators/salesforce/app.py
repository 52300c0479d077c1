"""The emulator's HTTP surface: OAuth token endpoint, REST data API, Bulk 2.0 and the control API.

Guarantees: every route answers with or without a trailing slash; every data-API call is authenticated
(401 `INVALID_SESSION_ID` as a JSON list otherwise), metered (`Sforce-Limit-Info: api-usage=N/M` on the
answer, 403 `REQUEST_LIMIT_EXCEEDED` once the allocation is spent) and subject to injected faults; errors
are JSON arrays with `errorCode` (sObject Collections results use `statusCode`), as in a real org.
"""

# ruff: noqa: S608 - SQL identifiers come from the org schema (validated names), values are bound parameters

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

from flask import Flask, Response, g, request

from . import ids
from .control import control_blueprint
from .org import Org
from .schema import SObjectDef
from .soql import SoqlError, format_datetime, parse_datetime
from .store import Change, RecordError

VERSIONS = [f"{v}.0" for v in range(20, 67)]
_DATA = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
_SUBQUERY = re.compile(r"^/services/data/v(\d+\.\d)/(query|queryAll)(/[^/?]+)?/?$")


def error(
    status: int, code: str, message: str, fields: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return Response(json.dumps([body]), status=status, mimetype="application/json", headers=headers)


def jsonify(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json", headers=headers)


def record_error(exc: RecordError) -> Response:
    if exc.status == 300:
        return jsonify(exc.message.split(", "), status=300)
    return error(exc.status, exc.code, exc.message, exc.fields)


def soql_error(exc: SoqlError) -> Response:
    return error(400, exc.code, exc.message)


class _StripSlash:
    """WSGI middleware: `/x/` and `/x` are the same route, as in the org."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if len(path) > 1 and path.endswith("/"):
            environ["PATH_INFO"] = path.rstrip("/") or "/"
        return self.app(environ, start_response)


def api_class(method: str, rest: str, args: Any) -> str:
    parts = [p for p in rest.split("/") if p]
    if not parts:
        return "describe"
    head = parts[0]
    if head in ("query", "queryAll"):
        return "query_more" if len(parts) > 1 else "query"
    if head == "sobjects":
        if (len(parts) <= 2 and method == "GET") or parts[-1] == "describe":
            return "describe"
        return "sobject"
    if head == "composite":
        return "collections" if len(parts) > 1 else "composite"
    if head == "jobs":
        return "bulk_query" if len(parts) > 1 and parts[1] == "query" else "bulk_ingest"
    if head == "limits":
        return "limits"
    if head in ("search", "parameterizedSearch"):
        return "search"
    return "other"


def create_app(org: Org) -> Flask:
    app = Flask("salesforce_emulator")
    app.wsgi_app = _StripSlash(app.wsgi_app)  # type: ignore[method-assign]
    app.config["MAX_CONTENT_LENGTH"] = 160 * 1024 * 1024
    store = org.store

    def base_url() -> str:
        return org.base_url or request.host_url.rstrip("/")

    # --- the gate: auth, metering, faults ----------------------------------------------------------------

    @app.before_request
    def gate() -> Response | None:
        g.metered = False
        match = _DATA.match(request.path)
        if not match:
            return None
        version, rest = match.group(1), match.group(2) or ""
        g.version = version
        if version not in VERSIONS:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        header = request.headers.get("Authorization", "")
        token = header.split(" ", 1)[1].strip() if " " in header else ""
        session = org.auth.session(token) if token else None
        if session is None:
            return error(401, "INVALID_SESSION_ID", "Session expired or invalid", headers={"WWW-Authenticate": "Token"})
        g.client, g.user_id = session
        g.metered = True
        allowed, used, limit = org.meter(api_class(request.method, rest, request.args))
        g.usage = (used, limit)
        if not allowed:
            return error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        latency, fault = org.faults.check(request.path, "api")
        if latency:
            time.sleep(latency / 1000)
        if fault is not None:
            with store.tx() as conn:
                store.bump(conn, "faults:fired")
            if fault.per_record:  # the call succeeds and each of its records fails (`collection_results`)
                g.record_fault = fault
                return None
            return error(fault.status, fault.error_code, fault.message, [])
        return None

    @app.after_request
    def limit_header(response: Response) -> Response:
        if getattr(g, "metered", False):
            used, limit = g.usage
            response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
        return response

    @app.errorhandler(404)
    def not_found(_: Any) -> Response:
        return error(404, "NOT_FOUND", "The requested resource does not exist")

    @app.errorhandler(405)
    def bad_method(_: Any) -> Response:
        return error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. Allowed are GET,HEAD")

    # --- OAuth ----------------------------------------------------------------------------------------

    @app.post("/services/oauth2/token")
    def oauth_token() -> Response:
        with store.tx() as conn:
            store.bump(conn, "calls:token")
        latency, fault = org.faults.check(request.path, "token")
        if latency:
            time.sleep(latency / 1000)
        if fault is not None:
            return jsonify({"error": fault.error_code.lower(), "error_description": fault.message}, fault.status)
        from .auth import OAuthError

        basic = None
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                basic = (user, password)
            except (ValueError, UnicodeDecodeError):
                return jsonify({"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
        form = {**request.args.to_dict(), **request.form.to_dict()}
        try:
            body = org.auth.token(form, basic, base_url())
        except OAuthError as exc:
            return jsonify({"error": exc.error, "error_description": exc.description}, exc.status)
        with store.tx() as conn:
            store.bump(conn, "tokens:issued")
        return jsonify(body)

    @app.get("/id/<org_id>/<user_id>")
    def identity(org_id: str, user_id: str) -> Response:
        header = request.headers.get("Authorization", "")
        session = org.auth.session(header.split(" ", 1)[1]) if " " in header else None
        if session is None:
            return error(403, "Bad_OAuth_Token", "Bad_OAuth_Token")
        user = store.get(store.schema["user"], user_id)
        if user is None or org_id != store.org_id:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        return jsonify(
            {
                "id": f"{base_url()}/id/{org_id}/{user_id}",
                "user_id": user_id,
                "organization_id": org_id,
                "username": user["Username"],
                "display_name": user["Name"],
                "email": user["Email"],
                "active": True,
                "user_type": "STANDARD",
                "urls": {"rest": f"{base_url()}/services/data/v{{version}}/"},
            }
        )

    @app.get("/services/oauth2/userinfo")
    def userinfo() -> Response:
        header = request.headers.get("Authorization", "")
        session = org.auth.session(header.split(" ", 1)[1]) if " " in header else None
        if session is None:
            return error(403, "Bad_OAuth_Token", "Bad_OAuth_Token")
        user = store.get(store.schema["user"], session[1]) or {}
        return jsonify(
            {
                "user_id": session[1],
                "organization_id": store.org_id,
                "preferred_username": user.get("Username"),
                "name": user.get("Name"),
            }
        )

    # --- versions and resources -----------------------------------------------------------------------

    @app.get("/services/data", strict_slashes=False)
    def versions() -> Response:
        return jsonify([{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS])

    @app.get("/services/data/v<version>")
    def resources(version: str) -> Response:
        p = f"/services/data/v{version}"
        return jsonify(
            {
                name: f"{p}/{name}"
                for name in ("sobjects", "query", "queryAll", "limits", "composite", "jobs", "search", "recent")
            }
        )

    @app.get("/services/data/v<version>/limits")
    def limits(version: str) -> Response:
        used, limit = org.usage()
        ingest_batches = store.counter("calls:bulk_ingest")
        return jsonify(
            {
                "DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": max(0, 15000 - ingest_batches)},
                "DailyBulkApiRequests": {"Max": 15000, "Remaining": max(0, 15000 - ingest_batches)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - org.bulk.count("query")},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DataStorageMB": {"Max": 5120, "Remaining": 5000},
                "FileStorageMB": {"Max": 5120, "Remaining": 5120},
                "HourlyPublishedPlatformEvents": {"Max": 250000, "Remaining": 250000},
            }
        )

    # --- describe -----------------------------------------------------------------------------------

    def sobject_or_404(name: str) -> SObjectDef | Response:
        obj = store.sobject(name)
        if obj is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    @app.get("/services/data/v<version>/sobjects")
    def describe_global(version: str) -> Response:
        return jsonify(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [o.describe_global(version) for o in store.schema.values()],
            }
        )

    @app.get("/services/data/v<version>/sobjects/<name>")
    def sobject_info(version: str, name: str) -> Response:
        obj = sobject_or_404(name)
        if isinstance(obj, Response):
            return obj
        return jsonify({"objectDescribe": obj.describe_global(version), "recentItems": []})

    @app.get("/services/data/v<version>/sobjects/<name>/describe")
    def describe(version: str, name: str) -> Response:
        obj = sobject_or_404(name)
        if isinstance(obj, Response):
            return obj
        return jsonify(obj.describe(version))

    # --- records ------------------------------------------------------------------------------------

    def body_json() -> Any:
        raw = request.get_data(as_text=True)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RecordError(
                "JSON_PARSER_ERROR", f"Unexpected character at [line:{exc.lineno}, column:{exc.colno}]"
            ) from exc

    def render(
        obj: SObjectDef, record: dict[str, Any], version: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"}
        }
        names = fields or [f.name for f in obj.fields.values()]
        for name in names:
            f = obj.field(name)
            if f is not None:
                out[f.name] = record.get(f.name)
        return out

    def requested_fields(obj: SObjectDef) -> list[str] | None:
        raw = request.args.get("fields")
        if not raw:
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        for n in names:
            if obj.field(n) is None:
                raise RecordError(
                    "INVALID_FIELD",
                    f"No such column '{n}' on entity '{obj.name}'. If you are "
                    "attempting to use a custom field, be sure to append the '__c' after the custom "
                    "field name. Please reference your WSDL or the describe call for the appropriate "
                    "names.",
                )
        return names

    def resolve_id(obj: SObjectDef, value: str) -> str:
        normalized = ids.normalize(value)
        if normalized is None or not normalized.startswith(obj.key_prefix):
            if ids.looks_like_id(value):
                raise RecordError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {value}", ["Id"])
            raise RecordError(
                "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {value}", status=404
            )
        return normalized

    def write(fn: Any) -> Any:
        with store.tx() as conn:
            result, changes = fn(conn)
            store.publish(conn, changes)
        return result

    @app.post("/services/data/v<version>/sobjects/<name>")
    def create(version: str, name: str) -> Response:
        obj = sobject_or_404(name)
        if isinstance(obj, Response):
            return obj
        try:
            body = body_json()
            if not isinstance(body, dict):
                raise RecordError("JSON_PARSER_ERROR", "Expected a JSON object for the record")
            record_id = write(lambda conn: _one(store.insert(conn, obj, body, g.user_id)))
        except RecordError as exc:
            return record_error(exc)
        return jsonify(
            {"id": record_id, "success": True, "errors": []},
            201,
            headers={"Location": f"/services/data/v{version}/sobjects/{obj.name}/{record_id}"},
        )

    @app.route("/services/data/v<version>/sobjects/<name>/<record_id>", methods=["GET", "PATCH", "DELETE", "POST"])
    def record(version: str, name: str, record_id: str) -> Response:
        obj = sobject_or_404(name)
        if isinstance(obj, Response):
            return obj
        try:
            if request.method == "POST":
                if record_id.lower() != "id":
                    return error(
                        405, "METHOD_NOT_ALLOWED", "HTTP Method 'POST' not allowed. Allowed are GET,PATCH,DELETE"
                    )
                body = body_json()
                new_id = write(lambda conn: _one(store.insert(conn, obj, body, g.user_id)))
                return jsonify({"id": new_id, "success": True, "errors": [], "created": True}, 201)
            if request.method == "GET" and record_id in ("updated", "deleted"):
                return changed_since(obj, record_id)
            rid = resolve_id(obj, record_id)
            if request.method == "GET":
                fields = requested_fields(obj)
                found = store.get(obj, rid)
                if found is None:
                    return error(404, "NOT_FOUND", "The requested resource does not exist")
                return jsonify(render(obj, found, version, fields))
            if request.method == "PATCH":
                body = body_json()
                write(lambda conn: (None, [store.update(conn, obj, rid, body, g.user_id)]))
                return Response(status=204)
            write(lambda conn: (None, [store.delete(conn, obj, rid, g.user_id)]))
            return Response(status=204)
        except RecordError as exc:
            return record_error(exc)

    def changed_since(obj: SObjectDef, kind: str) -> Response:
        """`GET sobjects/<Object>/updated|deleted?start=&end=` (the replication API)."""
        try:
            start = format_datetime(parse_datetime(request.args["start"]))
            end = format_datetime(parse_datetime(request.args["end"]))
        except (KeyError, ValueError):
            return error(400, "INVALID_REPLICATION_DATE", "start and end must be valid dateTime values")
        deleted = 1 if kind == "deleted" else 0
        with store.read() as conn:
            rows = conn.execute(
                f'SELECT "Id", "SystemModstamp" FROM "{obj.name}" WHERE "IsDeleted" = ? AND "SystemModstamp" >= ? '
                'AND "SystemModstamp" < ? ORDER BY "SystemModstamp" LIMIT 600000',
                (deleted, start, end),
            ).fetchall()
        if deleted:
            return jsonify(
                {
                    "deletedRecords": [{"id": r[0], "deletedDate": r[1]} for r in rows],
                    "earliestDateAvailable": start,
                    "latestDateCovered": end,
                }
            )
        return jsonify({"ids": [r[0] for r in rows], "latestDateCovered": end})

    def external_field(obj: SObjectDef, field_name: str) -> Any:
        f = obj.field(field_name)
        if f is None or not (f.external_id or f.name == "Id" or f.id_lookup):
            raise RecordError(
                "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}", status=404
            )
        return f

    @app.route(
        "/services/data/v<version>/sobjects/<name>/<field_name>/<path:value>", methods=["GET", "PATCH", "DELETE"]
    )
    def by_external_id(version: str, name: str, field_name: str, value: str) -> Response:
        obj = sobject_or_404(name)
        if isinstance(obj, Response):
            return obj
        try:
            f = external_field(obj, field_name)
            if request.method == "PATCH":
                body = body_json()
                if not isinstance(body, dict):
                    raise RecordError("JSON_PARSER_ERROR", "Expected a JSON object for the record")
                if request.args.get("updateOnly", "").lower() == "true":
                    with store.read() as conn:
                        if not store.find_by(conn, obj, f, value):
                            return error(404, "NOT_FOUND", "The requested resource does not exist")
                out: dict[str, Any] = {}

                def run(conn: Any) -> tuple[None, list[Change]]:
                    rid, created, change = store.upsert(conn, obj, f, value, body, g.user_id)
                    out.update(id=rid, created=created)
                    return None, [change]

                write(run)
                modern = float(version) >= 46.0
                if out["created"]:
                    body_out: dict[str, Any] = {"id": out["id"], "success": True, "errors": []}
                    if modern:
                        body_out["created"] = True
                    return jsonify(body_out, 201)
                if not modern:
                    return Response(status=204)
                return jsonify({"id": out["id"], "success": True, "errors": [], "created": False}, 200)
            with store.read() as conn:
                matches = store.find_by(conn, obj, f, store.to_storage(f, value, obj.name))
            if len(matches) > 1:
                return jsonify([f"/services/data/v{version}/sobjects/{obj.name}/{m}" for m in matches], 300)
            if not matches:
                return error(404, "NOT_FOUND", "The requested resource does not exist")
            if request.method == "DELETE":
                write(lambda conn: (None, [store.delete(conn, obj, matches[0], g.user_id)]))
                return Response(status=204)
            found = store.get(obj, matches[0])
            assert found is not None
            return jsonify(render(obj, found, version, requested_fields(obj)))
        except RecordError as exc:
            return record_error(exc)

    # --- query ----------------------------------------------------------------------------------------

    @app.get("/services/data/v<version>/query")
    @app.get("/services/data/v<version>/queryAll")
    def query(version: str) -> Response:
        include_deleted = request.path.rstrip("/").endswith("queryAll")
        soql = request.args.get("q")
        if soql is None:
            return error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            return jsonify(org.queries.first_page(soql, include_deleted, version))
        except SoqlError as exc:
            return soql_error(exc)

    @app.get("/services/data/v<version>/query/<locator>")
    @app.get("/services/data/v<version>/queryAll/<locator>")
    def query_more(version: str, locator: str) -> Response:
        try:
            return jsonify(org.queries.next_page(locator, version, request.path.rstrip("/").endswith("queryAll")))
        except SoqlError as exc:
            return soql_error(exc)

    # --- search ----------------------------------------------------------------------------------------

    @app.get("/services/data/v<version>/search")
    def search(version: str) -> Response:
        """SOSL (`sosl.py` says what is emulated and what is not known of the real index)."""
        sosl = request.args.get("q")
        if sosl is None:
            return error(400, "MALFORMED_SEARCH", "A search string has to be specified")
        try:
            return jsonify(org.searches.run(sosl, version, org.search_index_delay))
        except SoqlError as exc:
            return soql_error(exc)

    # --- composite (query subrequests) ----------------------------------------------------------------------

    @app.post("/services/data/v<version>/composite")
    def composite(version: str) -> Response:
        """`{"compositeRequest": [{"method": "GET", "url": ".../query?q=…", "referenceId": …}]}`: one metered call
        for all of them (documented: up to 25 subrequests, 5 of them queries). The emulator runs query and
        queryAll subrequests only; references between subrequests and `allOrNone` are not emulated."""
        try:
            body = body_json()
        except RecordError as exc:
            return record_error(exc)
        subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            return error(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty array")
        if len(subrequests) > 25:
            return error(400, "INVALID_INPUT", "A composite request can have at most 25 subrequests")
        answers = []
        for sub in subrequests:
            url = str(sub.get("url", "")) if isinstance(sub, dict) else ""
            path, _, query_string = url.partition("?")
            match = _SUBQUERY.match(path)
            if not isinstance(sub, dict) or str(sub.get("method", "")).upper() != "GET" or match is None:
                return error(400, "INVALID_INPUT", f"this emulator runs GET query subrequests only, not {url!r}")
            answers.append((sub, match, query_string))
        if len(answers) > 5:
            return error(400, "INVALID_INPUT", "A composite request can have at most 5 query subrequests")
        out: list[dict[str, Any]] = []
        for sub, match, query_string in answers:
            sub_version, locator = match.group(1), match.group(3)
            with app.test_request_context(f"{match.group(0)}?{query_string}", method="GET"):
                result = query_more(sub_version, locator.strip("/")) if locator else query(sub_version)
            out.append(
                {
                    "body": result.get_json(silent=True),
                    "httpHeaders": {},
                    "httpStatusCode": result.status_code,
                    "referenceId": sub.get("referenceId"),
                }
            )
        return jsonify({"compositeResponse": out})

    # --- sObject Collections -----------------------------------------------------------------------------

    def collection_results(items: list[Any], all_or_none: bool, op: Any) -> list[dict[str, Any]]:
        """Run `op(conn, item) -> (result dict, change)` per item, each in a savepoint. Under a per-record fault
        every item fails with the fault's error, as a row Salesforce could not lock does, and nothing is written."""
        fault = g.get("record_fault")
        if fault is not None:

            def refused(conn: Any, item: Any) -> tuple[dict[str, Any], Change]:
                raise RecordError(fault.error_code, fault.message)

            op = refused
        results: list[dict[str, Any] | None] = [None] * len(items)
        failed = False
        with store.begin() as conn:
            changes: list[Change] = []
            try:
                for i, item in enumerate(items):
                    conn.execute("SAVEPOINT rec")
                    try:
                        result, change = op(conn, item)
                        conn.execute("RELEASE rec")
                        results[i] = result
                        if change is not None:
                            changes.append(change)
                    except RecordError as exc:
                        conn.execute("ROLLBACK TO rec")
                        conn.execute("RELEASE rec")
                        failed = True
                        results[i] = {"success": False, "errors": [exc.as_error("statusCode")]}
                        if isinstance(item, str):
                            results[i] = {"id": item, **results[i]}  # type: ignore[dict-item]
                if failed and all_or_none:
                    conn.execute("ROLLBACK")
                    rolled = {
                        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "message": "Record rolled back because not all records were valid and the request "
                        "was using AllOrNone header",
                        "fields": [],
                    }
                    out = []
                    for r in results:
                        if r is not None and r.get("success") is False:
                            out.append(r)
                        else:
                            out.append({"id": None, "success": False, "errors": [rolled]})
                    return out
                store.publish(conn, changes)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return [r for r in results if r is not None]

    def type_of(item: dict[str, Any]) -> SObjectDef:
        attrs = item.get("attributes") if isinstance(item, dict) else None
        type_name = attrs.get("type") if isinstance(attrs, dict) else None
        if not type_name:
            raise RecordError("INVALID_TYPE", "No type specified for the record: attributes.type is required")
        obj = store.sobject(str(type_name))
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        return obj

    def collection_body() -> tuple[list[Any], bool] | Response:
        try:
            body = body_json()
        except RecordError as exc:
            return record_error(exc)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            return error(400, "JSON_PARSER_ERROR", "The request body must be an object with a records array")
        if len(body["records"]) > 200:
            return error(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
            )
        return body["records"], bool(body.get("allOrNone", False))

    @app.route("/services/data/v<version>/composite/sobjects", methods=["POST", "PATCH", "DELETE", "GET"])
    def collections(version: str) -> Response:
        if request.method == "DELETE":
            raw_ids = [i for i in request.args.get("ids", "").split(",") if i]
            if not raw_ids:
                return error(400, "MISSING_ARGUMENT", "ids parameter is required")
            if len(raw_ids) > 200:
                return error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records")
            all_or_none = request.args.get("allOrNone", "false").lower() == "true"

            def delete_one(conn: Any, raw: str) -> tuple[dict[str, Any], Change]:
                rid = ids.normalize(raw)
                obj = next(
                    (o for o in store.schema.values() if rid and o.stored and rid.startswith(o.key_prefix)), None
                )
                if rid is None or obj is None:
                    raise RecordError("MALFORMED_ID", f"malformed id {raw}")
                try:
                    change = store.delete(conn, obj, rid, g.user_id)
                except RecordError as exc:
                    if exc.code == "NOT_FOUND":
                        raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id") from exc
                    raise
                return {"id": rid, "success": True, "errors": []}, change

            return jsonify(collection_results(raw_ids, all_or_none, delete_one))
        parsed = collection_body()
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed
        if request.method == "POST":

            def create_one(conn: Any, item: Any) -> tuple[dict[str, Any], Change]:
                obj = type_of(item)
                if "id" in {k.lower() for k in item}:
                    raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                rid, change = store.insert(conn, obj, item, g.user_id)
                return {"id": rid, "success": True, "errors": []}, change

            return jsonify(collection_results(records, all_or_none, create_one))

        def update_one(conn: Any, item: Any) -> tuple[dict[str, Any], Change]:
            obj = type_of(item)
            raw = next((v for k, v in item.items() if k.lower() == "id"), None)
            if not raw:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            rid = ids.normalize(str(raw))
            if rid is None or not rid.startswith(obj.key_prefix):
                raise RecordError("MALFORMED_ID", f"malformed id {raw}", ["Id"])
            values = {k: v for k, v in item.items() if k.lower() != "id"}
            try:
                change = store.update(conn, obj, rid, values, g.user_id)
            except RecordError as exc:
                if exc.code == "NOT_FOUND":
                    raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id") from exc
                raise
            return {"id": rid, "success": True, "errors": []}, change

        return jsonify(collection_results(records, all_or_none, update_one))

    @app.patch("/services/data/v<version>/composite/sobjects/<name>/<field_name>")
    def collections_upsert(version: str, name: str, field_name: str) -> Response:
        obj = sobject_or_404(name)
        if isinstance(obj, Response):
            return obj
        try:
            f = external_field(obj, field_name)
        except RecordError as exc:
            return record_error(exc)
        parsed = collection_body()
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed

        def upsert_one(conn: Any, item: Any) -> tuple[dict[str, Any], Change]:
            if type_of(item).name != obj.name:
                raise RecordError("INVALID_TYPE", f"Record type must be {obj.name}")
            value = next((v for k, v in item.items() if k.lower() == f.name.lower()), None)
            if value in (None, ""):
                raise RecordError("MISSING_ARGUMENT", f"{f.name} not specified", [f.name])
            rid, created, change = store.upsert(conn, obj, f, str(value), item, g.user_id)
            return {"id": rid, "success": True, "errors": [], "created": created}, change

        return jsonify(collection_results(records, all_or_none, upsert_one))

    @app.get("/services/data/v<version>/composite/sobjects/<name>")
    def collections_retrieve(version: str, name: str) -> Response:
        obj = sobject_or_404(name)
        if isinstance(obj, Response):
            return obj
        try:
            fields = requested_fields(obj)
        except RecordError as exc:
            return record_error(exc)
        out = []
        for raw in [i for i in request.args.get("ids", "").split(",") if i]:
            rid = ids.normalize(raw)
            found = store.get(obj, rid) if rid else None
            out.append(render(obj, found, version, fields) if found else None)
        return jsonify(out)

    from .bulk import bulk_routes

    bulk_routes(app, org)
    app.register_blueprint(control_blueprint(org))
    return app


def _one(result: tuple[str, Change]) -> tuple[str, list[Change]]:
    record_id, change = result
    return record_id, [change]
