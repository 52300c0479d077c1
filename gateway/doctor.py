"""`gateway doctor`: check every connection the configuration names, and say plainly what failed.

Details never hold a secret: URLs are printed without their credentials and every failure's text goes through the
log redaction (`gateway.log_redaction.redact`)."""

from __future__ import annotations

from collections.abc import Iterator

from gateway.config import Settings, mask_url
from gateway.log_redaction import redact
from gateway.redis_client import connect


def run_checks(settings: Settings) -> Iterator[tuple[str, bool | None, str]]:
    """(check name, passed, detail) for Redis, Salesforce and the platform, then (None: information, not a check)
    what the gateway syncs with the chosen platform and what it cannot; details never hold secrets."""
    try:
        assert settings.redis_url is not None
        info = connect(settings.redis_url).info("server")
        yield "redis", True, f"redis {info.get('redis_version')} at {mask_url(settings.redis_url)}"
    except Exception as exc:  # noqa: BLE001 - a failing check is reported, not raised
        yield "redis", False, _failure(exc)
    if settings.salesforce is None:
        yield "salesforce", False, "not configured (set SALESFORCE_LOGIN_URL and SALESFORCE_CLIENT_ID)"
    else:
        yield _salesforce_check(settings)
    if settings.messaging_platform is None:
        yield "platform", False, "not configured (set MESSAGING_PLATFORM)"
    else:
        platform = _platform_check(settings)
        yield platform
        if platform[1]:
            yield from _platform_doctor(settings)
        entry = settings.platform_entry
        assert entry is not None
        scope = entry.scope()
        yield "syncs", None, "; ".join(scope["syncs"])
        if scope["cannot"]:
            yield "cannot", None, "; ".join(scope["cannot"])


def _failure(exc: Exception) -> str:
    return redact(f"{type(exc).__name__}: {exc}")


def _salesforce_check(settings: Settings) -> tuple[str, bool, str]:
    try:
        from gateway.salesforce.client import SalesforceClient

        assert settings.salesforce is not None
        sf = settings.salesforce
        with SalesforceClient(sf) as client:
            client.check()
        return "salesforce", True, f"token obtained from {mask_url(sf.login_url)} ({sf.auth_mode})"
    except Exception as exc:  # noqa: BLE001
        return "salesforce", False, _failure(exc)


def _platform_check(settings: Settings) -> tuple[str, bool, str]:
    """The platform's own readiness check, found in the registry."""
    try:
        from gateway.platforms import build_adapter

        entry = settings.platform_entry
        assert entry is not None and settings.redis_url is not None
        adapter = build_adapter(entry.name, settings.platform, connect(settings.redis_url))
        try:
            adapter.check()
        finally:
            adapter.close()
        return "platform", True, f"{entry.title} ({entry.name}) answered"
    except Exception as exc:  # noqa: BLE001
        return "platform", False, _failure(exc)


def _platform_doctor(settings: Settings) -> Iterator[tuple[str, bool, str]]:
    """The platform package's own doctor rows (`PlatformEntry.doctor`), once the platform answered."""
    entry = settings.platform_entry
    if entry is None or entry.doctor is None or settings.redis_url is None:
        return
    try:
        for name, ok, detail in entry.doctor(settings.platform, connect(settings.redis_url)):
            yield name, ok, redact(detail)
    except Exception as exc:  # noqa: BLE001
        yield f"{entry.name} checks", False, _failure(exc)
