"""Everything the gateway says to Salesforce: auth, the client wrapper, the package's configuration, the sync log.

Nothing outside this package imports simple-salesforce or authlib's Salesforce grants; use `SalesforceClient`.
"""

from typing import TYPE_CHECKING

from gateway.lazy_imports import exports

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
__getattr__ = exports(
    __name__,
    {
        "QueryStream": "gateway.salesforce.client",
        "SalesforceClient": "gateway.salesforce.client",
        "ApiBudgetExhausted": "gateway.salesforce.errors",
        "BulkJobFailed": "gateway.salesforce.errors",
        "SalesforceAuthError": "gateway.salesforce.errors",
        "SalesforceError": "gateway.salesforce.errors",
        "SalesforceRequestError": "gateway.salesforce.errors",
        "SalesforceUnavailable": "gateway.salesforce.errors",
        "PhoneLookup": "gateway.salesforce.phone_search",
        "RecordError": "gateway.salesforce.results",
        "RecordResult": "gateway.salesforce.results",
        "SharedUsageCollector": "gateway.salesforce.usage",
    },
)

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
