"""Bulk API 2.0: query jobs and ingest jobs with the org's state machine and CSV formats.

Guarantees: query jobs go UploadComplete -> InProgress -> JobComplete (or Failed/Aborted) and serve CSV
pages with `Sforce-NumberOfRecords` and `Sforce-Locator` (the literal `null` on the last page); ingest jobs
go Open -> UploadComplete -> InProgress -> JobComplete | Failed | Aborted, accept their CSV with 201, are
processed in chunks of 200 records (one transaction each, like trigger chunks, so relay events follow),
and expose successfulResults / failedResults / unprocessedrecords (path case-insensitive).
"""

# ruff: noqa: S608 - SQL identifiers come from the org schema (validated names), values are bound parameters

from __future__ import annotations

import base64
import csv
import io
import json
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from . import ids
from .soql import SoqlError
from .store import Change, RecordError, now_ts

if TYPE_CHECKING:
    from .org import Org

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
CHUNK = 200


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps([{"errorCode": code, "message": message}]), status=status, mimetype="application/json")


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


class BulkJobs:
    """Job records in the org database and one background worker that runs them in order."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.store = org.store
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="salesforce-emulator-bulk", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    # --- job records -------------------------------------------------------------------------------------

    def new_id(self) -> str:
        with self.store.tx() as conn:
            return ids.make_id("750", self.store.allocate(conn, "750"))

    def save(self, info: dict[str, Any]) -> None:
        info["systemModstamp"] = now_ts()
        with self.store.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO emu_bulk_jobs (id, kind, info, created) VALUES (?, ?, ?, ?)",
                (info["id"], info["jobType"], json.dumps(info), time.time()),
            )

    def load(self, job_id: str, job_type: str) -> dict[str, Any] | None:
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT info FROM emu_bulk_jobs WHERE id = ? AND kind = ?", (job_id, job_type)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def update(self, job_id: str, job_type: str, **changes: Any) -> dict[str, Any]:
        with self.store.locked():  # read-modify-write of one job
            info = self.load(job_id, job_type)
            assert info is not None
            info.update(changes)
            self.save(info)
        return info

    def count(self, kind: str) -> int:
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM emu_bulk_jobs WHERE kind = ?", ("V2Query" if kind == "query" else "V2Ingest",)
            ).fetchone()
        return int(row[0])

    def listing(self, job_type: str) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute("SELECT info FROM emu_bulk_jobs WHERE kind = ? ORDER BY created", (job_type,))
            return [json.loads(r[0]) for r in rows]

    def delete(self, job_id: str) -> None:
        with self.store.tx() as conn:
            for table in ("emu_bulk_jobs", "emu_bulk_data", "emu_bulk_results"):
                column = "id" if table == "emu_bulk_jobs" else "job_id"
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (job_id,))

    def enqueue(self, job_id: str) -> None:
        self._queue.put(job_id)

    # --- the worker ------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self.store.read() as conn:
                row = conn.execute("SELECT kind FROM emu_bulk_jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                continue
            started = time.monotonic()
            try:
                if row[0] == "V2Query":
                    self._run_query(job_id, started)
                else:
                    self._run_ingest(job_id, started)
            except Exception as exc:  # noqa: BLE001 - a job failure must be recorded, not kill the worker
                self.update(job_id, row[0], state="Failed", errorMessage=f"{type(exc).__name__}: {exc}")

    def _elapsed(self, started: float) -> int:
        return int((time.monotonic() - started) * 1000)

    def _run_query(self, job_id: str, started: float) -> None:
        info = self.load(job_id, "V2Query")
        if info is None or info["state"] != "UploadComplete":
            return
        self.update(job_id, "V2Query", state="InProgress")
        compiled = self.org.queries.compile(info["query"], info["operation"] == "queryAll")
        total = self.org.queries.total(compiled)
        time.sleep(0.02)
        current = self.load(job_id, "V2Query")
        if current is None or current["state"] == "Aborted":
            return
        self.update(
            job_id,
            "V2Query",
            state="JobComplete",
            numberRecordsProcessed=total,
            totalProcessingTime=self._elapsed(started),
        )

    def _run_ingest(self, job_id: str, started: float) -> None:
        info = self.load(job_id, "V2Ingest")
        if info is None or info["state"] != "UploadComplete":
            return
        info = self.update(job_id, "V2Ingest", state="InProgress")
        obj = self.store.sobject(info["object"])
        assert obj is not None
        with self.store.read() as conn:
            chunks = [
                r[0] for r in conn.execute("SELECT data FROM emu_bulk_data WHERE job_id = ? ORDER BY seq", (job_id,))
            ]
        delimiter = DELIMITERS[info["columnDelimiter"]]
        header: list[str] | None = None
        rows: list[list[str]] = []
        for text in chunks:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            chunk_header = next(reader, None)
            if chunk_header is None:
                continue
            header = header or chunk_header
            rows.extend(r for r in reader if r)
        if header is None:
            self.update(
                job_id,
                "V2Ingest",
                state="Failed",
                errorMessage="InvalidBatch : Empty CSV data",
                numberRecordsProcessed=0,
                numberRecordsFailed=0,
            )
            return
        op = info["operation"]
        fields: list[str] = []
        for column in header:
            f = obj.field(column.strip())
            if f is None:
                self.update(
                    job_id, "V2Ingest", state="Failed", errorMessage=f"InvalidBatch : Field name not found : {column}"
                )
                return
            fields.append(f.name)
        if op in ("update", "delete", "hardDelete") and "Id" not in fields:
            self.update(job_id, "V2Ingest", state="Failed", errorMessage="InvalidBatch : Field name not found : Id")
            return
        ext_name = info.get("externalIdFieldName")
        ext = obj.field(ext_name) if ext_name else None
        if op == "upsert" and (ext is None or ext.name not in fields):
            self.update(
                job_id, "V2Ingest", state="Failed", errorMessage=f"InvalidBatch : Field name not found : {ext_name}"
            )
            return
        user_id = info["createdById"]
        ok_rows: list[list[str]] = []
        bad_rows: list[list[str]] = []
        processed = 0
        for start in range(0, len(rows), CHUNK):
            if (self.load(job_id, "V2Ingest") or {}).get("state") == "Aborted":
                break
            chunk = rows[start : start + CHUNK]
            with self.store.begin() as conn:  # one transaction per 200-record chunk, like a trigger chunk
                changes: list[Change] = []
                try:
                    for row in chunk:
                        values = dict(zip(fields, row, strict=False))
                        conn.execute("SAVEPOINT row")
                        try:
                            rid, created, change = self._apply(conn, obj, op, ext, values, user_id)
                            conn.execute("RELEASE row")
                            changes.append(change)
                            ok_rows.append([rid, "true" if created else "false", *row])
                        except RecordError as exc:
                            conn.execute("ROLLBACK TO row")
                            conn.execute("RELEASE row")
                            bad_rows.append(
                                [
                                    values.get("Id", "") if op != "insert" else "",
                                    f"{exc.code}:{exc.message}:{','.join(exc.fields)} --",
                                    *row,
                                ]
                            )
                    self.store.publish(conn, changes)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            processed += len(chunk)
            self.update(job_id, "V2Ingest", numberRecordsProcessed=processed, numberRecordsFailed=len(bad_rows))
        unprocessed = rows[processed:]
        line_ending = ENDINGS[info["lineEnding"]]

        def to_csv(head: list[str], body: list[list[str]]) -> str:
            buf = io.StringIO()
            writer = csv.writer(buf, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
            writer.writerow(head)
            writer.writerows(body)
            return buf.getvalue()

        with self.store.tx() as conn:
            for kind, data in (
                ("successful", to_csv(["sf__Id", "sf__Created", *header], ok_rows)),
                ("failed", to_csv(["sf__Id", "sf__Error", *header], bad_rows)),
                ("unprocessed", to_csv(header, unprocessed)),
            ):
                conn.execute(
                    "INSERT OR REPLACE INTO emu_bulk_results (job_id, kind, data) VALUES (?, ?, ?)",
                    (job_id, kind, data),
                )
        final = (self.load(job_id, "V2Ingest") or {}).get("state")
        self.update(
            job_id,
            "V2Ingest",
            state="Aborted" if final == "Aborted" else "JobComplete",
            numberRecordsProcessed=processed,
            numberRecordsFailed=len(bad_rows),
            totalProcessingTime=self._elapsed(started),
            apiActiveProcessingTime=self._elapsed(started),
        )

    def _apply(
        self, conn: Any, obj: Any, op: str, ext: Any, values: dict[str, str], user_id: str
    ) -> tuple[str, bool, Change]:
        clean: dict[str, Any] = {}
        for k, v in values.items():
            if v == "":
                continue  # an empty cell leaves the field as it is
            clean[k] = None if v == "#N/A" else v
        store = self.store
        if op == "insert":
            rid, change = store.insert(conn, obj, clean, user_id)
            return rid, True, change
        if op == "upsert":
            value = clean.pop(ext.name, None)
            if value is None:
                raise RecordError("MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name])
            return store.upsert(conn, obj, ext, str(value), clean, user_id)
        raw = clean.pop("Id", None)
        normalized = ids.normalize(str(raw)) if raw else None
        if normalized is None or not normalized.startswith(obj.key_prefix):
            raise RecordError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {raw}", ["Id"])
        try:
            if op == "update":
                return normalized, False, store.update(conn, obj, normalized, clean, user_id)
            return normalized, False, store.delete(conn, obj, normalized, user_id, hard=op == "hardDelete")
        except RecordError as exc:
            if exc.code == "NOT_FOUND":
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id") from exc
            raise


def _encode_locator(position: int, keyset: list[Any] | None) -> str:
    return base64.urlsafe_b64encode(json.dumps([position, keyset]).encode()).decode().rstrip("=")


def _decode_locator(text: str) -> tuple[int, list[Any] | None]:
    data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return int(data[0]), data[1]


def bulk_routes(app: Flask, org: Org) -> None:
    jobs = org.bulk
    store = org.store
    prefix = "/services/data/v<version>/jobs"

    def base_info(
        job_id: str, operation: str, obj_name: str, version: str, body: dict[str, Any], job_type: str
    ) -> dict[str, Any]:
        stamp = now_ts()
        return {
            "id": job_id,
            "operation": operation,
            "object": obj_name,
            "createdById": g.user_id,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": "UploadComplete",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "jobType": job_type,
            "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": body.get("columnDelimiter", "COMMA"),
            "numberRecordsProcessed": 0,
            "retries": 0,
            "totalProcessingTime": 0,
        }

    def parse_body() -> dict[str, Any] | Response:
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except json.JSONDecodeError:
            return _error(400, "JSON_PARSER_ERROR", "Unexpected character in the job request")
        if not isinstance(body, dict):
            return _error(400, "JSON_PARSER_ERROR", "The job request must be a JSON object")
        if body.get("columnDelimiter", "COMMA") not in DELIMITERS:
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter: {body.get('columnDelimiter')}")
        if body.get("lineEnding", "LF") not in ENDINGS:
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid line ending: {body.get('lineEnding')}")
        if body.get("contentType", "CSV") != "CSV":
            return _error(400, "INVALIDJOB", "InvalidJob : Only CSV content is supported")
        return body

    # --- query jobs ------------------------------------------------------------------------------------

    @app.post(prefix + "/query")
    def create_query(version: str) -> Response:
        body = parse_body()
        if isinstance(body, Response):
            return body
        operation = body.get("operation", "query")
        if operation not in ("query", "queryAll"):
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        soql = body.get("query")
        if not isinstance(soql, str):
            return _error(400, "INVALIDJOB", "InvalidJob : query is required")
        try:
            compiled = org.queries.compile(soql, operation == "queryAll")
        except SoqlError as exc:
            return _error(400, exc.code, exc.message)
        if compiled.count is not None or compiled.offset is not None:
            return _error(
                400,
                "INVALIDJOB",
                "InvalidJob : aggregate functions and OFFSET are not supported by Bulk API 2.0 query jobs",
            )
        info = base_info(jobs.new_id(), operation, compiled.sobject.name, version, body, "V2Query")
        info["query"] = soql
        jobs.save(info)
        jobs.enqueue(info["id"])
        return _json(_public(info))

    @app.get(prefix + "/query")
    def list_query(version: str) -> Response:
        return _json({"done": True, "records": [_public(i) for i in jobs.listing("V2Query")], "nextRecordsUrl": None})

    @app.route(prefix + "/query/<job_id>", methods=["GET", "PATCH", "DELETE"])
    def query_job(version: str, job_id: str) -> Response:
        info = jobs.load(job_id, "V2Query")
        if info is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method == "GET":
            return _json(_public(info))
        if request.method == "DELETE":
            if info["state"] in ("InProgress",):
                return _error(400, "API_ERROR", "Job cannot be deleted while it is in progress")
            jobs.delete(job_id)
            return Response(status=204)
        body = parse_body()
        if isinstance(body, Response):
            return body
        if body.get("state") != "Aborted":
            return _error(400, "INVALIDJOB", "InvalidJob : a query job can only be set to Aborted")
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return _error(400, "INVALIDJOB", f"InvalidJob : job is already {info['state']}")
        return _json(_public(jobs.update(job_id, "V2Query", state="Aborted")))

    @app.get(prefix + "/query/<job_id>/results")
    def query_results(version: str, job_id: str) -> Response:
        info = jobs.load(job_id, "V2Query")
        if info is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        if info["state"] != "JobComplete":
            return _error(412, "JOB_NOT_COMPLETE", f"Job is in state {info['state']}, results are not available")
        try:
            max_records = int(request.args.get("maxRecords", "100000"))
            position, keyset = _decode_locator(request.args["locator"]) if request.args.get("locator") else (0, None)
        except (ValueError, KeyError, json.JSONDecodeError):
            return _error(400, "INVALIDLOCATOR", "Invalid locator or maxRecords")
        if max_records < 1:
            return _error(400, "INVALIDMAXRECORDS", "maxRecords must be a positive integer")
        compiled = org.queries.compile(info["query"], info["operation"] == "queryAll")
        total = int(info.get("numberRecordsProcessed", 0))
        if compiled.limit is not None:
            total = min(total, compiled.limit)
        limit = max(0, min(max_records, total - position))
        text, n, next_keyset = org.queries.csv_page(
            compiled, position, limit, keyset, DELIMITERS[info["columnDelimiter"]], ENDINGS[info["lineEnding"]]
        )
        served = position + n
        locator = "null" if served >= total or n == 0 else _encode_locator(served, next_keyset)
        return Response(
            text, status=200, mimetype="text/csv", headers={"Sforce-NumberOfRecords": str(n), "Sforce-Locator": locator}
        )

    # --- ingest jobs -----------------------------------------------------------------------------------

    @app.post(prefix + "/ingest")
    def create_ingest(version: str) -> Response:
        body = parse_body()
        if isinstance(body, Response):
            return body
        operation = body.get("operation")
        if operation not in OPERATIONS:
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        obj = store.sobject(str(body.get("object") or ""))
        if obj is None or not obj.stored or obj.kind == "mdt":
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
        ext_name = body.get("externalIdFieldName")
        if operation == "upsert":
            ext = obj.field(str(ext_name or ""))
            if ext is None or not (ext.external_id or ext.name == "Id"):
                return _error(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {ext_name} is not an External "
                    f"ID or indexed field for {obj.name}",
                )
        job_id = jobs.new_id()
        info = base_info(job_id, operation, obj.name, version, body, "V2Ingest")
        info.update(
            state="Open",
            contentUrl=f"services/data/v{version}/jobs/ingest/{job_id}/batches",
            numberRecordsFailed=0,
            apiActiveProcessingTime=0,
            apexProcessingTime=0,
        )
        if ext_name:
            ext_def = obj.field(ext_name)
            info["externalIdFieldName"] = ext_def.name if ext_def else ext_name
        jobs.save(info)
        return _json(_public(info))

    @app.get(prefix + "/ingest")
    def list_ingest(version: str) -> Response:
        return _json({"done": True, "records": [_public(i) for i in jobs.listing("V2Ingest")], "nextRecordsUrl": None})

    @app.route(prefix + "/ingest/<job_id>", methods=["GET", "PATCH", "DELETE"])
    def ingest_job(version: str, job_id: str) -> Response:
        info = jobs.load(job_id, "V2Ingest")
        if info is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method == "GET":
            return _json(_public(info))
        if request.method == "DELETE":
            if info["state"] not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
                return _error(400, "API_ERROR", f"Job cannot be deleted in state {info['state']}")
            jobs.delete(job_id)
            return Response(status=204)
        body = parse_body()
        if isinstance(body, Response):
            return body
        wanted = body.get("state")
        if wanted == "UploadComplete":
            if info["state"] != "Open":
                return _error(409, "INVALIDJOBSTATE", f"InvalidJobState : job is {info['state']}, not Open")
            info = jobs.update(job_id, "V2Ingest", state="UploadComplete")
            jobs.enqueue(job_id)
            return _json(_public(info))
        if wanted == "Aborted":
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                return _error(409, "INVALIDJOBSTATE", f"InvalidJobState : job is already {info['state']}")
            return _json(_public(jobs.update(job_id, "V2Ingest", state="Aborted")))
        return _error(400, "INVALIDJOB", f"InvalidJob : Invalid state: {wanted}")

    @app.route(prefix + "/ingest/<job_id>/<sub>", methods=["GET", "PUT"])
    def ingest_sub(version: str, job_id: str, sub: str) -> Response:
        info = jobs.load(job_id, "V2Ingest")
        if info is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        kind = sub.lower()
        if kind == "batches" and request.method == "PUT":
            if info["state"] != "Open":
                return _error(409, "INVALIDJOBSTATE", f"InvalidJobState : job is {info['state']}, not Open")
            data = request.get_data(as_text=True)
            with store.tx() as conn:
                seq = conn.execute("SELECT COUNT(*) FROM emu_bulk_data WHERE job_id = ?", (job_id,)).fetchone()[0]
                conn.execute("INSERT INTO emu_bulk_data (job_id, seq, data) VALUES (?, ?, ?)", (job_id, seq, data))
            return Response(status=201)
        names = {"successfulresults": "successful", "failedresults": "failed", "unprocessedrecords": "unprocessed"}
        if request.method != "GET" or kind not in names:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        if info["state"] not in ("JobComplete", "Failed", "Aborted"):
            return _error(409, "INVALIDJOBSTATE", f"InvalidJobState : job is {info['state']}")
        with store.read() as conn:
            row = conn.execute(
                "SELECT data FROM emu_bulk_results WHERE job_id = ? AND kind = ?", (job_id, names[kind])
            ).fetchone()
        return Response(row[0] if row else "", status=200, mimetype="text/csv")


def _public(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "query" or info.get("jobType") == "V2Query"}
