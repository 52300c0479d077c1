"""Requests to one outside API over one urllib3 connection pool: the pool requests would pick, without the session.

Why not a `requests.Session`: a session merges its settings, prepares the request, runs its hooks and builds a
`Response` around urllib3's on every call. Measured against the Mobile Commons emulator (a form POST and its XML
answer, client CPU per call, one process): `Session.post` 427 µs, the same request on the same pool 268 µs. In a worker
syncing a burst to Mobile Commons (scripts/bench/e2e, py-spy) the session layer was about a fifth of the job's CPU.

What stays requests' own: the pool is the one requests' `HTTPAdapter` picks for the API's URL, so the proxy the
environment names for it (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, with the proxy's credentials), the CA
bundle (`REQUESTS_CA_BUNDLE`, else `CURL_CA_BUNDLE`, else certifi's, as requests' `HTTPAdapter.send` would set it)
and certificate verification are chosen by requests' code, once, when the pool is made (a process reads its
environment at start anyway). The default headers are requests' too.

What differs from a session, on purpose:
- a redirect is not followed: the 3xx comes back as it is, for the caller to report (a session re-sends a redirected
  form POST as a GET, without its fields);
- cookies are not kept, and `~/.netrc` is not read: the caller sends its own credentials on every request.

A request that does not get an answer raises one of `UNREACHABLE` (urllib3's errors: refused, timed out, TLS, proxy).
A CA bundle the environment names for an https API but that does not exist is refused when the pool is made
(`ValueError`), not taken for an unreachable API on every request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import default_headers, get_environ_proxies

UNREACHABLE: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError, OSError)
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class _Picker(HTTPAdapter):
    """requests' adapter, asked only which pool (and which request target) it would use for a URL."""

    def pool_for(self, url: str, verify: bool | str, proxies: dict[str, str]) -> tuple[urllib3.HTTPConnectionPool, str]:
        probe = requests.Request("GET", url).prepare()
        pool = self.get_connection_with_tls_context(probe, verify, proxies=proxies)
        if not isinstance(pool, urllib3.HTTPConnectionPool):  # requests' stubs promise only a ConnectionPool
            raise TypeError(f"requests chose a {type(pool).__name__} for {url}, not an HTTP connection pool")
        return pool, self.request_url(probe, proxies)


class ApiPool:
    """Requests to the API at `base_url` (ending in "/"): at most `maxsize` connections kept open (more are opened
    when more requests run at once, and closed after), `timeout` (connect, read) seconds, `headers` on every request.
    Thread-safe."""

    def __init__(
        self, base_url: str, *, maxsize: int, headers: Mapping[str, str], timeout: tuple[float, float]
    ) -> None:
        proxies = get_environ_proxies(base_url)
        verify: bool | str = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        secure = base_url.lower().startswith("https:")
        if secure and isinstance(verify, str) and not os.path.exists(verify):  # requests refuses it too
            raise ValueError(f"the CA bundle {verify} (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE) does not exist")
        self._picker = _Picker(pool_connections=1, pool_maxsize=maxsize, max_retries=0)
        self.pool, self._target = self._picker.pool_for(base_url, verify, proxies)
        # the CA bundle requests' `send` gives the pool (certifi's by default, not the system's store)
        self._picker.cert_verify(self.pool, base_url, verify, None)  # type: ignore[no-untyped-call]
        self._headers = {**default_headers(), **headers}
        self._form_headers = {**self._headers, **_FORM}
        self._timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])

    def __repr__(self) -> str:  # the headers hold credentials: never shown
        return f"ApiPool({self._target!r})"

    def get(self, endpoint: str, query: str = "") -> urllib3.BaseHTTPResponse:
        """GET `endpoint` (relative to the base URL) with `query` (already encoded); the whole answer, read."""
        return self._send("GET", self._target + endpoint + ("?" + query if query else ""), None, self._headers)

    def post_form(self, endpoint: str, form: str) -> urllib3.BaseHTTPResponse:
        """POST `form` (already URL-encoded) to `endpoint`; the whole answer, read."""
        return self._send("POST", self._target + endpoint, form.encode(), self._form_headers)

    def _send(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> urllib3.BaseHTTPResponse:
        return self.pool.urlopen(
            method,
            url,
            body=body,
            headers=headers,
            redirect=False,
            assert_same_host=False,
            retries=False,
            timeout=self._timeout,
            preload_content=True,
            decode_content=True,
        )

    def close(self) -> None:
        self._picker.close()
