"""The org's data in SQLite: one table per sObject, plus the emulator's own bookkeeping tables.

Guarantees: every write runs in one SQLite transaction (a collection with allOrNone in one savepoint), so
a failed record leaves nothing behind; several processes opening the same file (WAL mode) see one org;
`:memory:` keeps one connection shared by all threads of this process. Ids, CreatedDate, LastModifiedDate
and SystemModstamp are maintained here, never by callers.
"""

# ruff: noqa: S608 - SQL identifiers come from the org schema (validated names), values are bound parameters

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import ids
from .schema import NUMBER_TYPES, FieldDef, SObjectDef
from .soql import format_datetime, parse_datetime

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RecordError(Exception):
    """A record the org refuses: `code` is the statusCode/errorCode, `fields` the offending fields."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []
        self.status = status

    def as_error(self, key: str = "errorCode") -> dict[str, Any]:
        return {key: self.code, "message": self.message, "fields": self.fields}


@dataclass
class Change:
    """One committed record change, as an Apex trigger would see it."""

    sobject: str
    operation: str  # insert | update | delete | undelete
    record_id: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    user_id: str


@dataclass
class Users:
    integration_id: str
    admin_id: str
    automated_id: str


def now_ts() -> str:
    return format_datetime(dt.datetime.now(dt.UTC))


_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS emu_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS emu_seq (prefix TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS emu_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS emu_tokens (token TEXT PRIMARY KEY, client TEXT, user_id TEXT, expires REAL);
CREATE TABLE IF NOT EXISTS emu_cursors (id TEXT PRIMARY KEY, soql TEXT, include_deleted INTEGER, total INTEGER,
    created REAL);
CREATE TABLE IF NOT EXISTS emu_cursor_pages (cursor_id TEXT, position INTEGER, keyset TEXT,
    PRIMARY KEY (cursor_id, position));
CREATE TABLE IF NOT EXISTS emu_bulk_jobs (id TEXT PRIMARY KEY, kind TEXT, info TEXT, created REAL);
CREATE TABLE IF NOT EXISTS emu_bulk_data (job_id TEXT, seq INTEGER, data TEXT, PRIMARY KEY (job_id, seq));
CREATE TABLE IF NOT EXISTS emu_bulk_results (job_id TEXT, kind TEXT, data TEXT, PRIMARY KEY (job_id, kind));
CREATE TABLE IF NOT EXISTS emu_events (replay_id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL,
    created REAL NOT NULL, delivered INTEGER NOT NULL DEFAULT 0);
"""


class Store:
    """SQLite-backed org state shared by the web threads, bulk workers and the relay of this process."""

    def __init__(self, schema: dict[str, SObjectDef], path: str = ":memory:") -> None:
        self.schema = schema
        self.path = path
        self.memory = path == ":memory:"
        self._lock = threading.RLock()
        self._local = threading.local()
        self._shared: sqlite3.Connection | None = None
        self.change_listener: Callable[[sqlite3.Connection, list[Change]], None] | None = None
        if self.memory:
            self._shared = self._connect()
        self._init_schema()
        self.org_id = self._meta_default("org_id", lambda: ids.make_id("00D", 1 + secrets.randbelow(10**6)))
        self.users = self._ensure_users()

    # --- connections and transactions ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        if not self.memory:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -65536")
        return conn

    def conn(self) -> sqlite3.Connection:
        if self._shared is not None:
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads (serialised with writers only for the shared in-memory database)."""
        if self.memory:
            with self._lock:
                yield self.conn()
        else:
            yield self.conn()

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE, so concurrent processes queue instead of deadlocking)."""
        with self._lock:
            conn = self.conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this process's write lock (for read-modify-write sequences)."""
        with self._lock:
            yield

    @contextlib.contextmanager
    def begin(self) -> Iterator[sqlite3.Connection]:
        """A started transaction the caller commits or rolls back itself (for savepoint-per-record work)."""
        with self._lock:
            conn = self.conn()
            conn.execute("BEGIN IMMEDIATE")
            yield conn

    # --- schema -------------------------------------------------------------------------------------

    def _init_schema(self) -> None:
        with self._lock:
            self.conn().executescript(_BOOKKEEPING)
        with self.tx() as conn:  # one transaction, so a second process starting at once waits, then sees it all
            for obj in self.schema.values():
                if obj.stored:
                    self._create_table(conn, obj)
            self._load_metadata_records(conn)

    def _create_table(self, conn: sqlite3.Connection, obj: SObjectDef) -> None:
        table = obj.name
        existing = {r[1].lower() for r in conn.execute(f'PRAGMA table_info("{table}")')}
        if not existing:
            cols = []
            for f in obj.fields.values():
                extra = " PRIMARY KEY" if f.name == "Id" else ""
                cols.append(f'"{f.name}" {f.sql_type}{extra}')
            if obj.field("IsDeleted") is None:
                cols.append('"IsDeleted" INTEGER NOT NULL DEFAULT 0')
            conn.execute(f'CREATE TABLE "{table}" ({", ".join(cols)})')
        else:
            for f in obj.fields.values():
                if f.name.lower() not in existing:
                    conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{f.name}" {f.sql_type}')
            if "isdeleted" not in existing:
                conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "IsDeleted" INTEGER NOT NULL DEFAULT 0')
        for f in obj.fields.values():
            index = f"ix_{table}_{f.name}"
            if f.external_id and f.unique:
                collate = "" if f.case_sensitive else " COLLATE NOCASE"
                conn.execute(
                    f'CREATE UNIQUE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{f.name}"{collate}) '
                    'WHERE "IsDeleted" = 0'
                )
            elif (
                f.external_id
                or f.type in ("phone", "email", "reference")
                or f.name in ("SystemModstamp", "LastModifiedDate", "CreatedDate")
            ):
                conn.execute(f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{f.name}")')
            if f.name == "SystemModstamp":  # live records by modstamp: counts and pages of incremental syncs
                conn.execute(
                    f'CREATE INDEX IF NOT EXISTS "ix_{table}_live_modstamp" ON "{table}" '
                    '("IsDeleted", "SystemModstamp")'
                )

    def _load_metadata_records(self, conn: sqlite3.Connection) -> None:
        stamp = now_ts()
        for obj in self.schema.values():
            if obj.kind != "mdt":
                continue
            conn.execute(f'DELETE FROM "{obj.name}"')
            for n, record in enumerate(obj.records, start=1):
                row = {**record, "Id": ids.make_id(obj.key_prefix, n), "SystemModstamp": stamp}
                names = [k for k in row if obj.field(k) is not None]
                values = [self.to_storage(obj.fields[k.lower()], row[k]) for k in names]
                conn.execute(
                    f'INSERT INTO "{obj.name}" ({", ".join(chr(34) + k + chr(34) for k in names)}) '
                    f"VALUES ({', '.join('?' for _ in names)})",
                    values,
                )

    def _meta_default(self, key: str, make: Callable[[], str]) -> str:
        with self.tx() as conn:
            conn.execute("INSERT OR IGNORE INTO emu_meta (key, value) VALUES (?, ?)", (key, make()))
            row = conn.execute("SELECT value FROM emu_meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    def meta(self, key: str, default: str | None = None) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM emu_meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as conn:
            conn.execute("INSERT OR REPLACE INTO emu_meta (key, value) VALUES (?, ?)", (key, value))

    def meta_default(self, key: str, make: Callable[[], str]) -> str:
        return self._meta_default(key, make)

    def _ensure_users(self) -> Users:
        org_domain = "emulator"
        wanted = {
            1: ("integration", "Integration", "User", "Standard"),
            2: ("admin", "Admin", "User", "Standard"),
            3: ("autoproc", "Automated", "Process", "AutomatedProcess"),
        }
        user_ids: dict[int, str] = {}
        stamp = now_ts()
        with self.tx() as conn:
            for n, (alias, first, last, utype) in wanted.items():
                uid = ids.make_id("005", n)
                user_ids[n] = uid
                conn.execute(
                    'INSERT OR IGNORE INTO "User" ("Id", "Username", "FirstName", "LastName", "Name", "Email", '
                    '"Alias", "IsActive", "UserType", "TimeZoneSidKey", "IsDeleted", "CreatedDate", '
                    '"CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp") '
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, 'GMT', 0, ?, ?, ?, ?, ?)",
                    (
                        uid,
                        f"{alias}@{org_domain}.example",
                        first,
                        last,
                        f"{first} {last}",
                        f"{alias}@{org_domain}.example",
                        alias[:8],
                        utype,
                        stamp,
                        uid,
                        stamp,
                        uid,
                        stamp,
                    ),
                )
            conn.execute("INSERT OR IGNORE INTO emu_seq (prefix, next) VALUES ('005', 10)")
        return Users(user_ids[1], user_ids[2], user_ids[3])

    def username(self, user_id: str) -> str | None:
        with self.read() as conn:
            row = conn.execute('SELECT "Username" FROM "User" WHERE "Id" = ?', (user_id,)).fetchone()
        return row[0] if row else None

    def user_by_name(self, username: str) -> str | None:
        with self.read() as conn:
            row = conn.execute(
                'SELECT "Id" FROM "User" WHERE "Username" = ? AND "IsActive" = 1', (username,)
            ).fetchone()
        return row[0] if row else None

    # --- counters -------------------------------------------------------------------------------------

    def allocate(self, conn: sqlite3.Connection, prefix: str, n: int = 1) -> int:
        """Reserve `n` consecutive id numbers for `prefix`; returns the first."""
        conn.execute("INSERT OR IGNORE INTO emu_seq (prefix, next) VALUES (?, 1)", (prefix,))
        row = conn.execute("UPDATE emu_seq SET next = next + ? WHERE prefix = ? RETURNING next", (n, prefix))
        return int(row.fetchone()[0]) - n

    def bump(self, conn: sqlite3.Connection, name: str, by: int = 1) -> int:
        row = conn.execute(
            "INSERT INTO emu_counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value",
            (name, by),
        )
        return int(row.fetchone()[0])

    def counter(self, name: str) -> int:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM emu_counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def counters(self, prefix: str) -> dict[str, int]:
        with self.read() as conn:
            rows = conn.execute("SELECT name, value FROM emu_counters WHERE name LIKE ?", (prefix + "%",))
            return {name[len(prefix) :]: int(value) for name, value in rows}

    # --- values -----------------------------------------------------------------------------------------

    def to_storage(self, f: FieldDef, value: Any, obj_name: str = "") -> Any:
        """Validate a client value for `f` and convert it to what the table holds."""
        if value is None or (isinstance(value, str) and value == "" and f.type not in ("string", "textarea")):
            if f.type == "boolean":
                raise RecordError(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.label}: value not of required type: null", [f.name]
                )
            return None
        t = f.type
        try:
            if t == "boolean":
                if isinstance(value, bool):
                    return 1 if value else 0
                if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                    return 1 if value.lower() in ("true", "1") else 0
                raise ValueError(value)
            if t == "int":
                if isinstance(value, bool):
                    raise ValueError(value)
                return int(float(value))
            if t in NUMBER_TYPES:
                if isinstance(value, bool):
                    raise ValueError(value)
                return float(value)
            if t == "date":
                text = str(value)[:10]
                dt.date.fromisoformat(text)
                return text
            if t == "datetime":
                return format_datetime(parse_datetime(str(value)))
        except (ValueError, TypeError) as exc:
            raise RecordError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.label}: value not of required type: {value}", [f.name]
            ) from exc
        if isinstance(value, (dict, list)):
            raise RecordError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"{f.label}: value not of required type: {json.dumps(value)}",
                [f.name],
            )
        text = value if isinstance(value, str) else json.dumps(value)
        if t in ("id", "reference"):
            normalized = ids.normalize(text)
            if normalized is None:
                target = f.reference_to[0] if f.reference_to else obj_name
                raise RecordError("MALFORMED_ID", f"{target} ID: id value of incorrect type: {text}", [f.name])
            return normalized
        if f.length and len(text) > f.length:
            raise RecordError(
                "STRING_TOO_LONG", f"{f.label}: data value too large: {text[:100]} (max length={f.length})", [f.name]
            )
        if t == "email" and not _EMAIL.match(text):
            raise RecordError("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {text}", [f.name])
        if t == "picklist" and f.restricted and text not in f.picklist:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.label}: bad value for restricted picklist field: {text}",
                [f.name],
            )
        return text

    @staticmethod
    def from_storage(f: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        if f.type == "boolean":
            return bool(value)
        if f.type == "int":
            return int(value)
        if f.type in NUMBER_TYPES:
            return float(value)
        return value

    # --- records ------------------------------------------------------------------------------------

    def sobject(self, name: str) -> SObjectDef | None:
        return self.schema.get(name.lower())

    def _row(
        self, conn: sqlite3.Connection, obj: SObjectDef, record_id: str, include_deleted: bool = True
    ) -> dict[str, Any] | None:
        cur = conn.execute(f'SELECT * FROM "{obj.name}" WHERE "Id" = ?', (record_id,))
        row = cur.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cur.description]
        record = dict(zip(names, row, strict=True))
        if not include_deleted and record.get("IsDeleted"):
            return None
        return {
            (obj.fields[k.lower()].name if obj.field(k) else k): self.from_storage(obj.fields[k.lower()], v)
            if obj.field(k)
            else v
            for k, v in record.items()
        }

    def get(self, obj: SObjectDef, record_id: str, include_deleted: bool = False) -> dict[str, Any] | None:
        with self.read() as conn:
            return self._row(conn, obj, record_id, include_deleted)

    def find_by(self, conn: sqlite3.Connection, obj: SObjectDef, f: FieldDef, value: Any) -> list[str]:
        collate = "" if f.case_sensitive or f.type in ("id", "reference") else " COLLATE NOCASE"
        rows = conn.execute(
            f'SELECT "Id" FROM "{obj.name}" WHERE "{f.name}" = ?{collate} AND "IsDeleted" = 0 LIMIT 10', (value,)
        )
        return [r[0] for r in rows]

    def _check_fields(
        self, obj: SObjectDef, values: dict[str, Any], creating: bool, allow_readonly: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        readonly: list[str] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise RecordError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key])
            if f.name == "Id":
                if creating:
                    raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"])
                continue
            if not allow_readonly and not (f.createable if creating else f.updateable):
                readonly.append(f.name)
                continue
            out[f.name] = self.to_storage(f, value, obj.name)
        if readonly:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.",
                readonly,
            )
        return out

    def _derive(self, conn: sqlite3.Connection, obj: SObjectDef, row: dict[str, Any]) -> None:
        if obj.name in ("Contact", "Lead", "User") and obj.field("FirstName"):
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        if obj.name == "Opportunity":
            stage = row.get("StageName") or ""
            row["IsWon"] = 1 if stage in ("Closed Won", "Posted") else 0
            row["IsClosed"] = 1 if stage in ("Closed Won", "Closed Lost", "Posted") else 0

    def _check_references(self, conn: sqlite3.Connection, obj: SObjectDef, values: dict[str, Any]) -> None:
        for key, value in values.items():
            f = obj.fields[key.lower()]
            if f.type != "reference" or value is None or not f.reference_to:
                continue
            target = self.sobject(f.reference_to[0])
            if target is None or not target.stored:
                continue
            if (
                conn.execute(f'SELECT 1 FROM "{target.name}" WHERE "Id" = ? AND "IsDeleted" = 0', (value,)).fetchone()
                is None
            ):
                raise RecordError(
                    "INVALID_CROSS_REFERENCE_KEY", f"{f.label}: id value of incorrect type: {value}", [f.name]
                )

    def _write_row(self, conn: sqlite3.Connection, obj: SObjectDef, row: dict[str, Any], insert: bool) -> None:
        names = list(row)
        try:
            if insert:
                conn.execute(
                    f'INSERT INTO "{obj.name}" ({", ".join(chr(34) + n + chr(34) for n in names)}) '
                    f"VALUES ({', '.join('?' for _ in names)})",
                    [row[n] for n in names],
                )
            else:
                sets = ", ".join(f'"{n}" = ?' for n in names if n != "Id")
                conn.execute(
                    f'UPDATE "{obj.name}" SET {sets} WHERE "Id" = ?', [row[n] for n in names if n != "Id"] + [row["Id"]]
                )
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(conn, obj, row) from exc

    def _duplicate(self, conn: sqlite3.Connection, obj: SObjectDef, row: dict[str, Any]) -> RecordError:
        for f in obj.fields.values():
            if f.unique and row.get(f.name) is not None:
                others = [i for i in self.find_by(conn, obj, f, row[f.name]) if i != row.get("Id")]
                if others:
                    return RecordError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: {others[0]}",
                        [f.name],
                    )
        return RecordError("DUPLICATE_VALUE", "duplicate value found", [])

    def insert(
        self,
        conn: sqlite3.Connection,
        obj: SObjectDef,
        values: dict[str, Any],
        user_id: str,
        allow_readonly: bool = False,
    ) -> tuple[str, Change]:
        """Insert one record inside the caller's transaction; raises RecordError."""
        if not obj.writable or obj.kind == "mdt":
            raise RecordError("INVALID_TYPE", f"entity type {obj.name} does not support insert", status=400)
        row = self._check_fields(obj, values, creating=True, allow_readonly=allow_readonly)
        for f in obj.fields.values():
            if f.name not in row and f.default is not None:
                row[f.name] = self.to_storage(f, f.default)
        missing = [f.name for f in obj.fields.values() if f.required and row.get(f.name) in (None, "")]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        if obj.kind == "event":
            number = self.allocate(conn, obj.key_prefix)
            return ids.make_id(obj.key_prefix, number), Change(obj.name, "insert", "", None, row, user_id)
        if obj.field("OwnerId") is not None and row.get("OwnerId") is None:
            row["OwnerId"] = user_id
        self._check_references(conn, obj, row)
        number = self.allocate(conn, obj.key_prefix)
        record_id = ids.make_id(obj.key_prefix, number)
        stamp = now_ts()
        row.update(
            {
                "Id": record_id,
                "IsDeleted": 0,
                "CreatedDate": stamp,
                "CreatedById": user_id,
                "LastModifiedDate": stamp,
                "LastModifiedById": user_id,
                "SystemModstamp": stamp,
            }
        )
        name_field = obj.field("Name")
        if name_field is not None and name_field.auto_number_format:
            row["Name"] = _auto_number(name_field.auto_number_format, self.allocate(conn, "auto:" + obj.name))
        self._derive(conn, obj, row)
        self._write_row(conn, obj, row, insert=True)
        new = self._row(conn, obj, record_id)
        return record_id, Change(obj.name, "insert", record_id, None, new, user_id)

    def update(
        self, conn: sqlite3.Connection, obj: SObjectDef, record_id: str, values: dict[str, Any], user_id: str
    ) -> Change:
        """Update one record inside the caller's transaction; raises RecordError (404 NOT_FOUND if absent)."""
        if obj.kind not in ("standard", "custom"):
            raise RecordError("INVALID_TYPE", f"entity type {obj.name} does not support update")
        old = self._row(conn, obj, record_id)
        if old is None:
            raise RecordError("NOT_FOUND", "The requested resource does not exist", status=404)
        if old.get("IsDeleted"):
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", status=404)
        changes = self._check_fields(obj, values, creating=False, allow_readonly=False)
        row = {k: self.to_storage(obj.fields[k.lower()], v) if obj.field(k) else v for k, v in old.items()}
        row.update(changes)
        missing = [
            f.name for f in obj.fields.values() if f.required and f.name in changes and row.get(f.name) in (None, "")
        ]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        self._check_references(conn, obj, changes)
        stamp = now_ts()
        row.update({"LastModifiedDate": stamp, "LastModifiedById": user_id, "SystemModstamp": stamp})
        self._derive(conn, obj, row)
        self._write_row(conn, obj, row, insert=False)
        return Change(obj.name, "update", record_id, old, self._row(conn, obj, record_id), user_id)

    def delete(
        self, conn: sqlite3.Connection, obj: SObjectDef, record_id: str, user_id: str, hard: bool = False
    ) -> Change:
        if obj.kind not in ("standard", "custom"):
            raise RecordError("INVALID_TYPE", f"entity type {obj.name} does not support delete")
        old = self._row(conn, obj, record_id)
        if old is None:
            raise RecordError("NOT_FOUND", "The requested resource does not exist", status=404)
        if old.get("IsDeleted") and not hard:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", status=404)
        if hard:
            conn.execute(f'DELETE FROM "{obj.name}" WHERE "Id" = ?', (record_id,))
        else:
            stamp = now_ts()
            conn.execute(
                f'UPDATE "{obj.name}" SET "IsDeleted" = 1, "SystemModstamp" = ?, "LastModifiedById" = ? WHERE "Id" = ?',
                (stamp, user_id, record_id),
            )
        return Change(obj.name, "delete", record_id, old, None, user_id)

    def undelete(self, conn: sqlite3.Connection, obj: SObjectDef, record_id: str, user_id: str) -> Change:
        old = self._row(conn, obj, record_id)
        if old is None or not old.get("IsDeleted"):
            raise RecordError("UNDELETE_FAILED", "Entity is not in the recycle bin", status=400)
        stamp = now_ts()
        try:
            conn.execute(
                f'UPDATE "{obj.name}" SET "IsDeleted" = 0, "SystemModstamp" = ?, "LastModifiedById" = ? WHERE "Id" = ?',
                (stamp, user_id, record_id),
            )
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(conn, obj, old) from exc
        return Change(obj.name, "undelete", record_id, None, self._row(conn, obj, record_id), user_id)

    def upsert(
        self, conn: sqlite3.Connection, obj: SObjectDef, ext: FieldDef, value: str, values: dict[str, Any], user_id: str
    ) -> tuple[str, bool, Change]:
        """Upsert by external id (or Id): (id, created, change); raises RecordError (300 on several matches)."""
        body = {k: v for k, v in values.items() if k.lower() != ext.name.lower() and k != "attributes"}
        if ext.name == "Id":
            normalized = ids.normalize(value)
            if normalized is None:
                raise RecordError("MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {value}", ["Id"])
            return normalized, False, self.update(conn, obj, normalized, body, user_id)
        stored = self.to_storage(ext, value, obj.name)
        matches = self.find_by(conn, obj, ext, stored)
        if len(matches) > 1:
            raise RecordError(
                "MULTIPLE_RECORDS",
                ", ".join(f"/services/data/v62.0/sobjects/{obj.name}/{m}" for m in matches),
                status=300,
            )
        if matches:
            return matches[0], False, self.update(conn, obj, matches[0], body, user_id)
        record_id, change = self.insert(conn, obj, {**body, ext.name: value}, user_id)
        return record_id, True, change

    def publish(self, conn: sqlite3.Connection, changes: list[Change]) -> None:
        """Hand committed-to-be changes to the relay (same transaction: published only if it commits)."""
        if self.change_listener is not None and changes:
            self.change_listener(conn, changes)

    # --- bulk seed ------------------------------------------------------------------------------------

    def seed(self, obj: SObjectDef, records: list[dict[str, Any]], user_id: str) -> list[str]:
        """Insert many records fast (one transaction, executemany); no relay events, like a data load."""
        if not records:
            return []
        # Records loaded over the last len(records) milliseconds, one per millisecond, so that
        # SystemModstamp is distinct and increasing, as it is for records created over time.
        start = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=len(records))
        with self.tx() as conn:
            first = self.allocate(conn, obj.key_prefix, len(records))
            rows: list[dict[str, Any]] = []
            new_ids: list[str] = []
            defaults = [(f.name, self.to_storage(f, f.default)) for f in obj.fields.values() if f.default is not None]
            required = [f.name for f in obj.fields.values() if f.required]
            has_owner = obj.field("OwnerId") is not None
            name_field = obj.field("Name")
            auto_format = name_field.auto_number_format if name_field is not None else None
            for n, values in enumerate(records):
                row = self._check_fields(obj, values, creating=True, allow_readonly=True)
                for name, default in defaults:
                    if name not in row:
                        row[name] = default
                missing = [name for name in required if row.get(name) in (None, "")]
                if missing:
                    raise RecordError(
                        "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
                    )
                record_id = ids.make_id(obj.key_prefix, first + n)
                new_ids.append(record_id)
                row.setdefault("CreatedDate", format_datetime(start + dt.timedelta(milliseconds=n)))
                row.setdefault("LastModifiedDate", row["CreatedDate"])
                row.setdefault("SystemModstamp", row["LastModifiedDate"])
                row.update({"Id": record_id, "IsDeleted": 0, "CreatedById": user_id, "LastModifiedById": user_id})
                if has_owner:
                    row.setdefault("OwnerId", user_id)
                if auto_format:
                    row["Name"] = _auto_number(auto_format, self.allocate(conn, "auto:" + obj.name))
                self._derive(conn, obj, row)
                rows.append(row)
            columns = sorted({k for r in rows for k in r})
            sql = (
                f'INSERT INTO "{obj.name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            try:
                conn.executemany(sql, ([r.get(c) for c in columns] for r in rows))
            except sqlite3.IntegrityError as exc:
                raise RecordError("DUPLICATE_VALUE", f"duplicate value found: {exc}") from exc
        return new_ids

    def reset(self) -> None:
        """Delete every record (users and custom metadata stay), counters, cursors, jobs and events."""
        with self.tx() as conn:
            for obj in self.schema.values():
                if obj.stored and obj.kind != "mdt" and obj.name != "User":
                    conn.execute(f'DELETE FROM "{obj.name}"')
            conn.execute(
                'DELETE FROM "User" WHERE "Id" NOT IN (?, ?, ?)',
                (self.users.integration_id, self.users.admin_id, self.users.automated_id),
            )
            for table in (
                "emu_counters",
                "emu_cursors",
                "emu_cursor_pages",
                "emu_bulk_jobs",
                "emu_bulk_data",
                "emu_bulk_results",
                "emu_events",
            ):
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM emu_seq WHERE prefix != '005'")

    def purge_expired(self) -> None:
        cutoff = time.time()
        with self.tx() as conn:
            conn.execute("DELETE FROM emu_tokens WHERE expires < ?", (cutoff - 86400,))
            conn.execute(
                "DELETE FROM emu_cursor_pages WHERE cursor_id IN (SELECT id FROM emu_cursors WHERE created < ?)",
                (cutoff - 86400,),
            )
            conn.execute("DELETE FROM emu_cursors WHERE created < ?", (cutoff - 86400,))


def _auto_number(fmt: str, number: int) -> str:
    m = re.search(r"\{(0+)\}", fmt)
    if not m:
        return f"{fmt}{number}"
    return fmt[: m.start()] + str(number).zfill(len(m.group(1))) + fmt[m.end() :]
