"""Who may see the operator's page at `/`: an admin bearer token (scripts) or a browser signed in with an admin
client's credentials; anyone else gets 401 and the sign-in form, never a figure. Forms need their CSRF token."""

from __future__ import annotations

import re

import requests

from tests.conftest import CLIENTS
from tests.support import token


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def _session_cookie(response: requests.Response) -> str:
    header = response.headers["Set-Cookie"]
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Strict" in header, header
    return header.split(";", 1)[0]


def test_only_admins_see_the_page(gateway_url: str) -> None:
    anonymous = requests.get(f"{gateway_url}/", timeout=10)
    assert anonymous.status_code == 401
    assert 'id="sign-in-form"' in anonymous.text and "data-field" not in anonymous.text
    assert "default-src 'none'" in anonymous.headers["Content-Security-Policy"]

    admin = token(gateway_url, "admin-console", CLIENTS["admin-console"][0])
    page = requests.get(f"{gateway_url}/", headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    assert page.status_code == 200
    assert 'data-field="queues.sync"' in page.text
    assert "http://" not in page.text.replace(gateway_url, "") and "https://" not in page.text  # no outside asset
    live = requests.get(f"{gateway_url}/status/live", headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    assert live.json()["queues"] == {"realtime": 0, "sync": 0, "bulk": 0}

    reader = token(gateway_url, "reader", CLIENTS["reader"][0])
    refused = requests.get(f"{gateway_url}/", headers={"Authorization": f"Bearer {reader}"}, timeout=10)
    assert refused.status_code == 403 and "data-field" not in refused.text
    assert requests.get(f"{gateway_url}/status/live", timeout=10).status_code == 401
    forged = requests.get(f"{gateway_url}/", headers={"Authorization": "Bearer forged"}, timeout=10)
    assert forged.status_code == 401


def test_signing_in_needs_an_admin_client_and_the_form_s_csrf_token(gateway_url: str) -> None:
    form = requests.get(f"{gateway_url}/", timeout=10)
    cookie, csrf = _session_cookie(form), _csrf(form.text)
    sign_in = f"{gateway_url}/sign-in"

    def post(data: dict[str, str], with_cookie: str = cookie) -> requests.Response:
        return requests.post(sign_in, data=data, headers={"Cookie": with_cookie}, allow_redirects=False, timeout=10)

    admin_id, admin_secret = "admin-console", CLIENTS["admin-console"][0]
    assert post({"client_id": admin_id, "client_secret": admin_secret}).status_code == 400  # no CSRF token
    assert post({"csrf_token": csrf, "client_id": admin_id, "client_secret": "wrong"}).status_code == 401
    not_admin = post({"csrf_token": csrf, "client_id": "reader", "client_secret": CLIENTS["reader"][0]})
    assert not_admin.status_code == 401  # a valid client, but without the admin scope
    signed_in = post({"csrf_token": csrf, "client_id": admin_id, "client_secret": admin_secret})
    assert signed_in.status_code == 303
    session = _session_cookie(signed_in)
    page = requests.get(f"{gateway_url}/", headers={"Cookie": session}, timeout=10)
    assert page.status_code == 200 and "admin-console" in page.text
    session = _session_cookie(page) if "Set-Cookie" in page.headers else session  # the page's CSRF token lives there

    resend = requests.post(f"{gateway_url}/failures/a00000000000000AAA/resend", headers={"Cookie": session}, timeout=10)
    assert resend.status_code == 400  # a cross-site form post carries no CSRF token
    out = requests.post(
        f"{gateway_url}/sign-out",
        data={"csrf_token": _csrf(page.text)},
        headers={"Cookie": session},
        allow_redirects=False,
        timeout=10,
    )
    after = requests.get(f"{gateway_url}/", headers={"Cookie": _session_cookie(out)}, timeout=10)
    assert after.status_code == 401


def _signed_in(gateway_url: str) -> tuple[str, str]:
    """(session cookie, the page's CSRF token) of a browser signed in as the admin client."""
    form = requests.get(f"{gateway_url}/", timeout=10)
    signed_in = requests.post(
        f"{gateway_url}/sign-in",
        data={
            "csrf_token": _csrf(form.text),
            "client_id": "admin-console",
            "client_secret": CLIENTS["admin-console"][0],
        },
        headers={"Cookie": _session_cookie(form)},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 303
    cookie = _session_cookie(signed_in)
    page = requests.get(f"{gateway_url}/", headers={"Cookie": cookie}, timeout=10)
    assert page.status_code == 200
    return (_session_cookie(page) if "Set-Cookie" in page.headers else cookie), _csrf(page.text)


def test_a_session_cookie_copied_before_sign_out_no_longer_works_after_it(gateway_url: str) -> None:
    copied, csrf = _signed_in(gateway_url)
    other_browser, _ = _signed_in(gateway_url)
    out = requests.post(
        f"{gateway_url}/sign-out",
        data={"csrf_token": csrf},
        headers={"Cookie": copied},
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 303
    assert requests.get(f"{gateway_url}/", headers={"Cookie": copied}, timeout=10).status_code == 401  # revoked
    assert requests.get(f"{gateway_url}/status/live", headers={"Cookie": copied}, timeout=10).status_code == 401
    assert requests.get(f"{gateway_url}/", headers={"Cookie": other_browser}, timeout=10).status_code == 200
