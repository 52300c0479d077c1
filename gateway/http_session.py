"""A `requests.Session` for one outside API, with the environment's proxy and CA-bundle settings read once.

With `trust_env` (requests' default) every request reads the environment again: the proxies for its URL
(`HTTP(S)_PROXY`, `ALL_PROXY`, `NO_PROXY`, parsed each time), `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE`, and `~/.netrc`
when the session sets no auth. Profiled in a worker syncing to Mobile Commons (`scripts/bench/e2e`, py-spy), that was
4.5 % of its CPU. A session that talks to one API reads them once for the API's URL, as requests would for each of its
requests, and stops reading them: the same proxies and CA bundle apply. What changes: the environment is read when the
session is made (a process reads its environment at start anyway), and `~/.netrc` is not read (every adapter sets its
own credentials).
"""

from __future__ import annotations

import os

import requests
from requests.utils import get_environ_proxies


def settle_environment(session: requests.Session, url: str) -> requests.Session:
    """Give `session` the environment's proxies for `url` and its CA bundle (unless the session has its own), then
    stop it reading the environment on every request. Returns the session."""
    for scheme, proxy in get_environ_proxies(url).items():
        session.proxies.setdefault(scheme, proxy)
    if session.verify is True:
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    return session
