"""Everything the gateway says to Salesforce: auth, the client wrapper, the package's configuration, the sync log.

Nothing outside this package imports simple-salesforce or authlib's Salesforce grants; use `SalesforceClient`.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.salesforce.client import QueryStream, SalesforceClient
    from gateway.salesforce.errors import (
        ApiBudgetExhausted,
        BulkJobFailed,
        SalesforceAuthError,
        SalesforceError,
        SalesforceRequestError,
        SalesforceUnavailable,
    )
    from gateway.salesforce.phone_search import PhoneLookup
    from gateway.salesforce.results import RecordError, RecordResult
    from gateway.salesforce.usage import SharedUsageCollector

# Each name is imported from its module when first asked for, so that a process reading only this package's settings
# (`gateway.config`, hence every `gateway` command) does not load simple-salesforce, authlib and their dependencies.
_HOMES = {
    "QueryStream": "client",
    "SalesforceClient": "client",
    "ApiBudgetExhausted": "errors",
    "BulkJobFailed": "errors",
    "SalesforceAuthError": "errors",
    "SalesforceError": "errors",
    "SalesforceRequestError": "errors",
    "SalesforceUnavailable": "errors",
    "PhoneLookup": "phone_search",
    "RecordError": "results",
    "RecordResult": "results",
    "SharedUsageCollector": "usage",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "ApiBudgetExhausted",
    "BulkJobFailed",
    "PhoneLookup",
    "QueryStream",
    "RecordError",
    "RecordResult",
    "SalesforceAuthError",
    "SalesforceClient",
    "SalesforceError",
    "SalesforceRequestError",
    "SalesforceUnavailable",
    "SharedUsageCollector",
]
