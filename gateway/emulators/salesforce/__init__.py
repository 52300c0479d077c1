"""A local Salesforce org that simple-salesforce, authlib and Singer's tap-salesforce cannot tell from a real
one on the paths the gateway uses: OAuth, REST query/sObjects/Collections, Bulk API 2.0, limits, the
package's schema, and the relay the package's Apex performs. Start it with `EmulatorServer(...).start()` or
`gateway emulate salesforce`.
"""

from .relay import RelayTarget
from .server import EmulatorServer

__all__ = ["EmulatorServer", "RelayTarget"]
