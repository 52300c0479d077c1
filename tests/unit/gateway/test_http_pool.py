"""Requests to one outside API on the pool requests would pick: the environment's proxy (with its credentials) and
CA bundle are used, read once; a redirect is handed back, not followed. Against a real HTTP server on loopback that
records what reached it (it plays the proxy, or the API)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.http_pool import UNREACHABLE, ApiPool
from gateway.platforms.mobilecommons.adapter import MobileCommonsAdapter
from gateway.platforms.mobilecommons.settings import MobileCommonsSettings


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, str], bytes]] = []
    status = 200

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append((self.command, self.path, dict(self.headers), body))
        payload = b'<response success="true"></response>'
        self.send_response(self.status)
        if 300 <= self.status < 400:
            self.send_header("Location", "https://elsewhere.example/api/profile_update")
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # the name http.server calls
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"seen": [], "status": 200})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _pool(base_url: str) -> ApiPool:
    return ApiPool(base_url, maxsize=2, headers={"Accept": "application/xml"}, timeout=(2, 5))


def test_a_request_goes_through_the_environments_proxy_with_its_credentials(
    server: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_url, proxy = server
    monkeypatch.setenv("HTTP_PROXY", proxy_url.replace("http://", "http://egress:s3cret@"))
    api = _pool("http://api.example:8080/api/")

    answer = api.post_form("profile_update", "phone_number=14155550123")

    assert answer.status == 200
    [(method, target, headers, body)] = proxy.seen
    assert (method, target, body) == ("POST", "http://api.example:8080/api/profile_update", b"phone_number=14155550123")
    assert headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"egress:s3cret").decode()
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "s3cret" not in repr(api)
    api.close()


def test_a_host_the_environment_exempts_goes_direct(
    server: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, api_server = server
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    api = _pool(url + "/api/")

    assert api.get("profile", "phone_number=14155550123").status == 200
    assert [(m, t) for m, t, _, _ in api_server.seen] == [("GET", "/api/profile?phone_number=14155550123")]
    api.close()


def test_the_environments_ca_bundle_is_used_and_a_missing_one_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "company.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    api = _pool("https://secure.mcommons.com/api/")
    assert api.pool.ca_certs == str(bundle)  # type: ignore[attr-defined]
    assert api.pool.cert_reqs == "CERT_REQUIRED"  # type: ignore[attr-defined]

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match=r"missing\.pem"):
        _pool("https://secure.mcommons.com/api/")
    assert _pool("http://127.0.0.1:9/api/").pool.host == "127.0.0.1"  # no TLS, no bundle needed


def test_without_a_bundle_named_certifis_is_trusted_as_with_requests_not_the_systems_store() -> None:
    api = _pool("https://secure.mcommons.com/api/")
    assert api.pool.ca_certs == requests.certs.where()  # type: ignore[attr-defined]
    assert api.pool.cert_reqs == "CERT_REQUIRED"  # type: ignore[attr-defined]


def test_an_api_nobody_answers_is_unreachable() -> None:
    with pytest.raises(UNREACHABLE):
        _pool("http://127.0.0.1:9/api/").get("profile")


@pytest.mark.parametrize(
    ("status", "code", "named"),
    [
        (301, SyncErrorCode.CONFIGURATION, "MOBILECOMMONS_BASE_URL"),  # moved for good: the setting is out of date
        (307, SyncErrorCode.PLATFORM_UNAVAILABLE, "temporary redirect"),  # a detour for now: retried with its job
    ],
)
def test_a_redirected_mobile_commons_call_is_reported_not_followed(
    server: tuple[str, type[_Recorder]], status: int, code: SyncErrorCode, named: str
) -> None:
    url, api_server = server
    api_server.status = status
    adapter = MobileCommonsAdapter(
        MobileCommonsSettings(username="u", password="p", base_url=url + "/api/", max_attempts=1)
    )

    with pytest.raises(SyncFailure) as failure:
        adapter.find_contact(phone="+14155550123")

    assert failure.value.error.code is code
    assert named in failure.value.error.message
    assert "https://elsewhere.example/api/profile_update" in failure.value.error.message
    assert len(api_server.seen) == 1, "the redirect was followed"
    adapter.close()
