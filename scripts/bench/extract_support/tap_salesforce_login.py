"""Runs Singer's tap-salesforce with its hard-coded login host pointed at the emulator — the only change.

tap-salesforce posts its refresh-token grant to https://login.salesforce.com/services/oauth2/token (or test.);
this wrapper rewrites that one URL to `$BENCH_SF_LOGIN_URL` and then runs the tap's own `main()`. Every other
request goes to the `instance_url` the token endpoint returns, exactly as against a real org. TLS trust for the
emulator comes from REQUESTS_CA_BUNDLE in this process's environment.
"""

from __future__ import annotations

import os
from typing import Any

from tap_salesforce import main  # type: ignore[import-not-found]
from tap_salesforce.salesforce import Salesforce  # type: ignore[import-not-found]

_LOGIN_HOSTS = ("https://login.salesforce.com", "https://test.salesforce.com")
_TARGET = os.environ["BENCH_SF_LOGIN_URL"].rstrip("/")
_original = Salesforce._make_request


def _make_request(self: Any, http_method: str, url: str, *args: Any, **kwargs: Any) -> Any:
    for host in _LOGIN_HOSTS:
        if url.startswith(host + "/"):
            url = _TARGET + url[len(host) :]
    return _original(self, http_method, url, *args, **kwargs)


Salesforce._make_request = _make_request

if __name__ == "__main__":
    main()
