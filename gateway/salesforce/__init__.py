"""Everything the gateway says to Salesforce: auth, the client wrapper, the package's configuration, the sync log.

Nothing outside this package imports simple-salesforce or authlib's Salesforce grants; use `SalesforceClient`.
"""

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
