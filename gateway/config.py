"""Settings: read once from the environment, validated by marshmallow schemas, frozen.

The gateway's own variables and `SALESFORCE_*` are named here; the chosen platform's (`MESSAGING_PLATFORM`) are
named by its settings fragment in `gateway/platforms/<name>/settings.py`, found through the platform registry and
composed in: `Settings.platform` holds them.

Guarantees: `load_settings()` either returns a complete, typed `Settings` or raises `ConfigError` listing every bad
or missing variable, one line each, naming the variable (never its secret value). Secret values are held in
`Secret`, whose `str`/`repr` is masked; `Settings.describe()` is the only printable view and masks them too.
Variable names in DESIGN §5 (`REDIS_URL`, `GATEWAY_OAUTH_CLIENTS`, `GATEWAY_TOKEN_SIGNING_KEY`, `SALESFORCE_…`,
`MESSAGING_PLATFORM`, each platform's `<NAME>_…`) are a contract with operators and scripts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, validate, validates_schema
from marshmallow import fields as mf

from gateway.client_secrets import SHA256_PATTERN, scrypt_problem
from gateway.platforms import REGISTRY
from gateway.platforms.base import PlatformEntry, PlatformSettings
from gateway.salesforce.settings import SalesforceSettings
from gateway.settings_base import InvalidSettings, Secret

SCOPES = ("events:write", "conversations:read", "admin", "metrics:read")


class ConfigError(Exception):
    """Invalid configuration. `problems` holds one line per variable, each starting with the variable's name."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class OAuthClient:
    """A client allowed to get gateway tokens: its id, the scopes it may ask for, and its secret's hash — a salted
    scrypt hash (`secret_scrypt`, from `gateway hash-secret`) or, deprecated, an unsalted SHA-256 hex digest."""

    client_id: str
    scopes: tuple[str, ...]
    secret_scrypt: str | None = None
    secret_sha256: str | None = None

    @property
    def deprecated_hash(self) -> bool:
        return self.secret_scrypt is None


@dataclass(frozen=True)
class EdgeSettings:
    """What the web tier enforces at its door: sign-in and token rate limits, the conversation API's per-client
    quota, clock skew, `/metrics` and platform webhook methods, and how many reverse proxies in front may be trusted
    for the client's address."""

    auth_limit_per_client: str = "20 per minute"  # failed attempts per client id, token endpoint and sign-in
    auth_limit_per_address: str = "10 per minute; 60 per hour; 300 per day"  # failed attempts per remote address
    read_limit_per_client: str = "120 per minute; 3000 per hour"  # conversation lookups that call out, per client
    trusted_proxies: int = 0  # X-Forwarded-For hops to trust (0: the peer address is the client)
    max_clock_skew_seconds: int = 300  # how far in the future an event's timestamps may be
    request_read_timeout_seconds: int = 10  # from a request's first byte to its last (`gateway serve`)
    metrics_public: bool = False  # /metrics without a token (scrapers on a private network)
    webhook_allow_get: bool = False  # platform webhooks by GET as well as POST


@dataclass(frozen=True)
class BulkConfig:
    """Tuning of whole-database runs (`gateway.sync.bulk`, `gateway.sync.donations`)."""

    read_chunk: int = 2000  # records per Salesforce → platform chunk (one REST page)
    write_chunk: int = 10_000  # people per platform → Salesforce chunk
    # records one chunk job syncs at once (threads); None: `to_platform.job_concurrency` (twice the platform's shared
    # `<NAME>_MAX_CONCURRENT`, so one job alone keeps all of it busy; every job together is held to it), else 16
    threads: int | None = None
    link_batch: int = 50_000  # Salesforce link/status updates written together
    overlap_seconds: int = 600  # incremental pulls re-read this much before the high-water mark
    budget_reserve: float = 0.1  # share of the API budget bulk work leaves to real time
    max_pause_seconds: int = 900  # a paused chunk looks again at least this often
    donation_field: str = "has_donated_previously"


@dataclass(frozen=True)
class ScheduleConfig:
    """When the periodic bulk work runs (`gateway.sync.schedule`): local times of day in an IANA zone."""

    timezone: str = "UTC"
    incremental_at: tuple[str, ...] = ("02:00",)
    donations_at: tuple[str, ...] = ("06:00", "18:00")
    incremental_objects: tuple[str, ...] = ("Contact", "Lead")
    incremental_directions: tuple[str, ...] = ("to-platform", "to-salesforce")


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    var_dir: Path = Path("var")
    oauth_clients: tuple[OAuthClient, ...] = ()
    token_signing_key: Secret | None = None
    token_ttl_seconds: int = 900
    max_body_bytes: int = 1024 * 1024
    dedup_ttl_seconds: int = 72 * 3600
    log_level: str = "INFO"
    phone_default_region: str = "US"
    create_unmatched_opt_outs: bool = False  # a person unknown to Salesforce who is opted out gets a record
    messaging_platform: str | None = None
    platform: PlatformSettings | None = None  # the chosen platform's settings fragment
    other_platforms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # set, validated, unused
    salesforce: SalesforceSettings | None = None
    bulk: BulkConfig = field(default_factory=BulkConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    edge: EdgeSettings = field(default_factory=EdgeSettings)

    @property
    def platform_entry(self) -> PlatformEntry | None:
        """The registry's entry of the chosen platform (None when `MESSAGING_PLATFORM` is unset)."""
        return REGISTRY[self.messaging_platform] if self.messaging_platform else None

    def describe(self) -> dict[str, Any]:
        """The effective configuration as a printable dict: every secret masked, credentials inside URLs masked,
        client-secret hashes reduced to their kind; each platform's settings (or, for platforms other than the
        chosen one, their variables) under the platform's name."""
        platforms = ("platform", "other_platforms")
        described: dict[str, Any] = {
            f.name: _describe(getattr(self, f.name)) for f in fields(self) if f.name not in platforms
        }
        for name, variables in self.other_platforms.items():
            described[name] = {key: _describe(value) for key, value in variables.items()}
        if self.messaging_platform is not None:
            described[self.messaging_platform] = _describe(self.platform)
        return described


def mask_url(url: str) -> str:
    """`url` with any user/password part replaced by `****` (`redis://:pw@host` → `redis://****@host`)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}://****@{authority.rpartition('@')[2]}{slash}{path}"


def _describe(value: Any) -> Any:
    if isinstance(value, Secret):
        return str(value) if value else ""
    if isinstance(value, OAuthClient):
        kind = "scrypt" if value.secret_scrypt else "sha256 (deprecated: use gateway hash-secret)"
        return {"client_id": value.client_id, "scopes": list(value.scopes), "secret": f"******** ({kind})"}
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _describe(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_describe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _pem_or_path(value: str, variable: str) -> str:
    """A PEM given inline, or the path of a file holding one."""
    if "-----BEGIN" in value:
        return value
    path = Path(value)
    if not path.is_file():
        raise ValidationError(f"{variable}: neither a PEM block nor a readable file path")
    return path.read_text()


_TIMES = r"^([01]?\d|2[0-3]):[0-5]\d(\s*,\s*([01]?\d|2[0-3]):[0-5]\d)*$"


def _valid_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{name!r} is not an IANA time zone (e.g. America/New_York)") from None


def _listed(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip()) if value else default


def _valid_scrypt(value: str) -> None:
    problem = scrypt_problem(value)
    if problem is not None:
        raise ValidationError(problem)


def _valid_limits(value: str) -> None:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a rate limit such as '10 per minute; 100 per hour'") from None


class _ClientSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    client_id = mf.String(required=True, validate=validate.Regexp(r"\A[\x20-\x7e]{1,200}\Z"))  # RFC 6749 VSCHAR
    secret_scrypt = mf.String(validate=_valid_scrypt)
    secret_sha256 = mf.String(validate=validate.Regexp(SHA256_PATTERN, error="not 64 hex digits"))
    scopes = mf.List(mf.String(validate=validate.OneOf(SCOPES)), required=True)

    @validates_schema
    def _one_secret(self, data: dict[str, Any], **_: Any) -> None:
        given = [k for k in ("secret_scrypt", "secret_sha256") if k in data]
        if len(given) != 1:
            raise ValidationError("give exactly one of secret_scrypt (recommended) or secret_sha256", "secret_scrypt")


class _EnvSchema(Schema):
    """The environment, variable by variable. Unknown variables are ignored (the environment holds many)."""

    class Meta:
        unknown = EXCLUDE

    REDIS_URL = mf.String(validate=validate.Regexp(r"^(redis|rediss|unix)://"))
    GATEWAY_VAR_DIR = mf.String()
    GATEWAY_OAUTH_CLIENTS = mf.String()
    GATEWAY_TOKEN_SIGNING_KEY = mf.String()
    GATEWAY_TOKEN_TTL_SECONDS = mf.Integer(validate=validate.Range(min=60, max=86_400))
    GATEWAY_MAX_BODY_BYTES = mf.Integer(validate=validate.Range(min=1024, max=64 * 1024 * 1024))
    GATEWAY_DEDUP_TTL_SECONDS = mf.Integer(validate=validate.Range(min=60))
    GATEWAY_LOG_LEVEL = mf.String(validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
    GATEWAY_PHONE_DEFAULT_REGION = mf.String(validate=validate.Regexp(r"^[A-Z]{2}$"))
    GATEWAY_CREATE_UNMATCHED_OPT_OUTS = mf.Boolean()
    GATEWAY_AUTH_RATE_LIMIT_PER_CLIENT = mf.String(validate=_valid_limits)
    GATEWAY_AUTH_RATE_LIMIT_PER_ADDRESS = mf.String(validate=_valid_limits)
    GATEWAY_READ_RATE_LIMIT_PER_CLIENT = mf.String(validate=_valid_limits)
    GATEWAY_TRUSTED_PROXIES = mf.Integer(validate=validate.Range(min=0, max=5))
    GATEWAY_MAX_CLOCK_SKEW_SECONDS = mf.Integer(validate=validate.Range(min=0, max=3600))
    GATEWAY_REQUEST_READ_TIMEOUT_SECONDS = mf.Integer(validate=validate.Range(min=1, max=300))
    GATEWAY_METRICS_PUBLIC = mf.Boolean()
    GATEWAY_WEBHOOK_ALLOW_GET = mf.Boolean()
    MESSAGING_PLATFORM = mf.String(validate=validate.OneOf(sorted(REGISTRY)))
    SALESFORCE_LOGIN_URL = mf.Url(schemes={"https"}, require_tld=False)
    SALESFORCE_CLIENT_ID = mf.String()
    SALESFORCE_USERNAME = mf.String()
    SALESFORCE_PRIVATE_KEY = mf.String()
    SALESFORCE_CLIENT_SECRET = mf.String()
    SALESFORCE_REFRESH_TOKEN = mf.String()
    SALESFORCE_CA_BUNDLE = mf.String()
    SALESFORCE_API_VERSION = mf.String(validate=validate.Regexp(r"^\d{2}\.0$"))
    SALESFORCE_API_BUDGET_SHARE = mf.Float(validate=validate.Range(min=0.01, max=1.0))
    SALESFORCE_DAILY_API_BUDGET = mf.Integer(validate=validate.Range(min=1))
    SALESFORCE_OPT_OUT_RESERVE = mf.Float(validate=validate.Range(min=0.0, max=0.9))
    SALESFORCE_BULK_QUERY_THRESHOLD = mf.Integer(validate=validate.Range(min=0))
    SALESFORCE_BULK_INGEST_THRESHOLD = mf.Integer(validate=validate.Range(min=0))
    GATEWAY_BULK_READ_CHUNK = mf.Integer(validate=validate.Range(min=1))
    GATEWAY_BULK_WRITE_CHUNK = mf.Integer(validate=validate.Range(min=1))
    GATEWAY_BULK_THREADS = mf.Integer(validate=validate.Range(min=1, max=160))
    GATEWAY_BULK_LINK_BATCH = mf.Integer(validate=validate.Range(min=1))
    GATEWAY_BULK_BUDGET_RESERVE = mf.Float(validate=validate.Range(min=0.0, max=0.9))
    GATEWAY_BULK_MAX_PAUSE_SECONDS = mf.Integer(validate=validate.Range(min=1))
    GATEWAY_INCREMENTAL_OVERLAP_SECONDS = mf.Integer(validate=validate.Range(min=1))
    GATEWAY_SYNC_TIMEZONE = mf.String(validate=_valid_zone)
    GATEWAY_INCREMENTAL_AT = mf.String(validate=validate.Regexp(_TIMES, error="not HH:MM times (comma-separated)"))
    GATEWAY_DONATIONS_AT = mf.String(validate=validate.Regexp(_TIMES, error="not HH:MM times (comma-separated)"))
    GATEWAY_INCREMENTAL_OBJECTS = mf.String(validate=validate.Regexp(r"^[A-Za-z]\w*(\s*,\s*[A-Za-z]\w*)*$"))
    GATEWAY_INCREMENTAL_DIRECTIONS = mf.String(
        validate=validate.Regexp(r"^(to-platform|to-salesforce)(\s*,\s*(to-platform|to-salesforce))?$")
    )
    GATEWAY_DONATION_FIELD = mf.String(validate=validate.Length(min=1, max=64))


def _cross_check(data: Mapping[str, str]) -> dict[str, list[str]]:
    """Checks that span variables or parse structured values; run on the raw environment."""
    errors: dict[str, list[str]] = {}
    if "GATEWAY_OAUTH_CLIENTS" in data:
        try:
            raw = json.loads(data["GATEWAY_OAUTH_CLIENTS"])
            if not isinstance(raw, list):
                raise ValidationError("must be a JSON list of clients")
            ids = [c["client_id"] for c in _ClientSchema(many=True).load(raw)]
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValidationError(f"client_id {', '.join(repeated)} listed more than once")
        except json.JSONDecodeError as exc:
            errors["GATEWAY_OAUTH_CLIENTS"] = [f"not valid JSON ({exc.msg} at position {exc.pos})"]
        except ValidationError as exc:
            errors["GATEWAY_OAUTH_CLIENTS"] = [_flatten(exc.messages)]
    if "GATEWAY_TOKEN_SIGNING_KEY" in data:
        try:
            _pem_or_path(data["GATEWAY_TOKEN_SIGNING_KEY"], "GATEWAY_TOKEN_SIGNING_KEY")
        except ValidationError:
            errors["GATEWAY_TOKEN_SIGNING_KEY"] = ["neither a PEM private key nor a readable file path"]
    if "SALESFORCE_PRIVATE_KEY" in data:
        try:
            _pem_or_path(data["SALESFORCE_PRIVATE_KEY"], "SALESFORCE_PRIVATE_KEY")
        except ValidationError:
            errors["SALESFORCE_PRIVATE_KEY"] = ["neither a PEM private key nor a readable file path"]
    if "SALESFORCE_CA_BUNDLE" in data and not Path(data["SALESFORCE_CA_BUNDLE"]).is_file():
        errors["SALESFORCE_CA_BUNDLE"] = ["file not found"]
    sf_any = any(k.startswith("SALESFORCE_") for k in data)
    if sf_any:
        for required in ("SALESFORCE_LOGIN_URL", "SALESFORCE_CLIENT_ID"):
            if required not in data:
                errors.setdefault(required, []).append("missing (required once any SALESFORCE_ variable is set)")
        has_key = "SALESFORCE_PRIVATE_KEY" in data
        if has_key and "SALESFORCE_USERNAME" not in data:
            errors.setdefault("SALESFORCE_USERNAME", []).append(
                "missing (JWT bearer with SALESFORCE_PRIVATE_KEY needs the username)"
            )
        if not has_key and "SALESFORCE_CLIENT_SECRET" not in data:
            errors.setdefault("SALESFORCE_CLIENT_SECRET", []).append(
                "missing (set SALESFORCE_PRIVATE_KEY for JWT bearer, or a client secret)"
            )
    return errors


def _platforms(
    source: Mapping[str, str],
) -> tuple[PlatformSettings | None, dict[str, dict[str, Any]], dict[str, list[str]]]:
    """The chosen platform's settings; the validated variables of the other platforms the environment sets
    (shown by `describe()`, used by nothing); and the problems with either, by variable."""
    chosen = source.get("MESSAGING_PLATFORM")
    settings: PlatformSettings | None = None
    others: dict[str, dict[str, Any]] = {}
    problems: dict[str, list[str]] = {}
    for name, platform in REGISTRY.items():
        variables = {k: v for k, v in source.items() if k.startswith(platform.prefix)}
        if not variables and name != chosen:
            continue
        try:
            data = platform.variables().load(variables)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {platform.prefix + "*": exc.messages}
            problems.update({str(k): [_flatten(v)] for k, v in messages.items()})
            continue
        if name != chosen:
            others[name] = {k.removeprefix(platform.prefix).lower(): v for k, v in data.items()}
            continue
        try:
            settings = platform.settings(data)
        except InvalidSettings as exc:
            for problem in exc.problems:
                variable, _, message = problem.partition(": ")
                problems.setdefault(variable, []).append(message)
    return settings, others, problems


def _flatten(messages: Any, prefix: str = "") -> str:
    """marshmallow's nested messages as one readable line: `client 0: scopes: Missing data …`."""
    if isinstance(messages, dict):
        return "; ".join(
            _flatten(v, f"{prefix}{'client ' if isinstance(k, int) else ''}{k}: ") for k, v in messages.items()
        )
    if isinstance(messages, list):
        return "; ".join(_flatten(m, prefix) for m in messages)
    return f"{prefix}{messages}"


ROLE_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "web": ("GATEWAY_OAUTH_CLIENTS", "GATEWAY_TOKEN_SIGNING_KEY"),
    "worker": ("MESSAGING_PLATFORM",),
}


def load_settings(env: Mapping[str, str] | None = None, *, roles: tuple[str, ...] = ()) -> Settings:
    """Read and validate the environment. `roles` ("web", "worker") add the variables that role cannot run without.

    Raises `ConfigError` with one line per problem; empty strings count as unset.
    """
    source = {k: v for k, v in (os.environ if env is None else env).items() if v != ""}
    messages: dict[str, Any] = {}
    data: dict[str, Any] = {}
    try:
        data = _EnvSchema().load(source)
    except ValidationError as exc:
        messages = dict(exc.messages) if isinstance(exc.messages, dict) else {"environment": exc.messages}
    platform, other_platforms, platform_problems = _platforms(source)
    for var, msgs in (_cross_check(source) | platform_problems).items():
        messages.setdefault(var, msgs)
    problems = [f"{var}: {_flatten(msg)}" for var, msg in sorted(messages.items())]
    for role in roles:
        for variable in ROLE_REQUIREMENTS.get(role, ()):
            if variable not in source and not any(p.startswith(variable + ":") for p in problems):
                problems.append(f"{variable}: missing (required to run the {role})")
    if problems:
        raise ConfigError(problems)
    return replace(_build(data, platform), other_platforms=other_platforms)


def _secret(data: Mapping[str, Any], key: str) -> Secret | None:
    return Secret(data[key]) if key in data else None


def _build(data: Mapping[str, Any], platform: PlatformSettings | None) -> Settings:
    clients: tuple[OAuthClient, ...] = ()
    if "GATEWAY_OAUTH_CLIENTS" in data:
        loaded = _ClientSchema(many=True).load(json.loads(data["GATEWAY_OAUTH_CLIENTS"]))
        clients = tuple(
            OAuthClient(
                client_id=c["client_id"],
                scopes=tuple(c["scopes"]),
                secret_scrypt=c.get("secret_scrypt"),
                secret_sha256=c["secret_sha256"].lower() if "secret_sha256" in c else None,
            )
            for c in loaded
        )
    e = EdgeSettings()
    edge = EdgeSettings(
        auth_limit_per_client=data.get("GATEWAY_AUTH_RATE_LIMIT_PER_CLIENT", e.auth_limit_per_client),
        auth_limit_per_address=data.get("GATEWAY_AUTH_RATE_LIMIT_PER_ADDRESS", e.auth_limit_per_address),
        read_limit_per_client=data.get("GATEWAY_READ_RATE_LIMIT_PER_CLIENT", e.read_limit_per_client),
        trusted_proxies=data.get("GATEWAY_TRUSTED_PROXIES", e.trusted_proxies),
        max_clock_skew_seconds=data.get("GATEWAY_MAX_CLOCK_SKEW_SECONDS", e.max_clock_skew_seconds),
        request_read_timeout_seconds=data.get("GATEWAY_REQUEST_READ_TIMEOUT_SECONDS", e.request_read_timeout_seconds),
        metrics_public=data.get("GATEWAY_METRICS_PUBLIC", e.metrics_public),
        webhook_allow_get=data.get("GATEWAY_WEBHOOK_ALLOW_GET", e.webhook_allow_get),
    )
    signing_key = None
    if "GATEWAY_TOKEN_SIGNING_KEY" in data:
        signing_key = Secret(_pem_or_path(data["GATEWAY_TOKEN_SIGNING_KEY"], "GATEWAY_TOKEN_SIGNING_KEY"))
    salesforce = None
    if "SALESFORCE_LOGIN_URL" in data:
        private_key = None
        if "SALESFORCE_PRIVATE_KEY" in data:
            private_key = Secret(_pem_or_path(data["SALESFORCE_PRIVATE_KEY"], "SALESFORCE_PRIVATE_KEY"))
        salesforce = SalesforceSettings(
            login_url=data["SALESFORCE_LOGIN_URL"].rstrip("/"),
            client_id=data["SALESFORCE_CLIENT_ID"],
            username=data.get("SALESFORCE_USERNAME"),
            private_key=private_key,
            client_secret=_secret(data, "SALESFORCE_CLIENT_SECRET"),
            refresh_token=_secret(data, "SALESFORCE_REFRESH_TOKEN"),
            ca_bundle=data.get("SALESFORCE_CA_BUNDLE"),
            api_version=data.get("SALESFORCE_API_VERSION", "62.0"),
            budget_share=data.get("SALESFORCE_API_BUDGET_SHARE", 0.8),
            daily_budget=data.get("SALESFORCE_DAILY_API_BUDGET"),
            opt_out_reserve=data.get("SALESFORCE_OPT_OUT_RESERVE", 0.1),
            bulk_query_threshold=data.get("SALESFORCE_BULK_QUERY_THRESHOLD", 10_000),
            bulk_ingest_threshold=data.get("SALESFORCE_BULK_INGEST_THRESHOLD", 2_000),
        )
    b = BulkConfig()
    bulk = BulkConfig(
        read_chunk=data.get("GATEWAY_BULK_READ_CHUNK", b.read_chunk),
        write_chunk=data.get("GATEWAY_BULK_WRITE_CHUNK", b.write_chunk),
        threads=data.get("GATEWAY_BULK_THREADS", b.threads),
        link_batch=data.get("GATEWAY_BULK_LINK_BATCH", b.link_batch),
        overlap_seconds=data.get("GATEWAY_INCREMENTAL_OVERLAP_SECONDS", b.overlap_seconds),
        budget_reserve=data.get("GATEWAY_BULK_BUDGET_RESERVE", b.budget_reserve),
        max_pause_seconds=data.get("GATEWAY_BULK_MAX_PAUSE_SECONDS", b.max_pause_seconds),
        donation_field=data.get("GATEWAY_DONATION_FIELD", b.donation_field),
    )
    c = ScheduleConfig()
    schedule = ScheduleConfig(
        timezone=data.get("GATEWAY_SYNC_TIMEZONE", c.timezone),
        incremental_at=_listed(data.get("GATEWAY_INCREMENTAL_AT"), c.incremental_at),
        donations_at=_listed(data.get("GATEWAY_DONATIONS_AT"), c.donations_at),
        incremental_objects=_listed(data.get("GATEWAY_INCREMENTAL_OBJECTS"), c.incremental_objects),
        incremental_directions=_listed(data.get("GATEWAY_INCREMENTAL_DIRECTIONS"), c.incremental_directions),
    )
    return Settings(
        edge=edge,
        bulk=bulk,
        schedule=schedule,
        platform=platform,
        redis_url=data.get("REDIS_URL"),
        var_dir=Path(data.get("GATEWAY_VAR_DIR", "var")),
        oauth_clients=clients,
        token_signing_key=signing_key,
        token_ttl_seconds=data.get("GATEWAY_TOKEN_TTL_SECONDS", 900),
        max_body_bytes=data.get("GATEWAY_MAX_BODY_BYTES", 1024 * 1024),
        dedup_ttl_seconds=data.get("GATEWAY_DEDUP_TTL_SECONDS", 72 * 3600),
        log_level=data.get("GATEWAY_LOG_LEVEL", "INFO"),
        phone_default_region=data.get("GATEWAY_PHONE_DEFAULT_REGION", "US"),
        create_unmatched_opt_outs=data.get("GATEWAY_CREATE_UNMATCHED_OPT_OUTS", False),
        messaging_platform=data.get("MESSAGING_PLATFORM"),
        salesforce=salesforce,
    )


__all__ = [
    "SCOPES",
    "BulkConfig",
    "ConfigError",
    "OAuthClient",
    "SalesforceSettings",
    "ScheduleConfig",
    "Secret",
    "Settings",
    "load_settings",
]
