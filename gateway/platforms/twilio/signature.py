"""X-Twilio-Signature: how Twilio signs a webhook request, and checking that a request carries a true signature.

Guarantees: `verify` accepts a request only when the signature header is present and equals, compared in constant
time, the base64 HMAC-SHA1 (key: the account's Auth Token) of the full public URL (query string included, exactly
as Twilio requested it) followed by every POST form parameter sorted by name, each appended as name then value
with no separator; for a JSON body, the URL's `bodySHA256` query parameter must also equal the hex SHA-256 of the
raw body (the body is then not part of the signed string). Anything else raises `SignatureError` naming what was
wrong, never the token or the expected signature. `sign` produces what Twilio sends, for the emulator and tests.

Where the contract is UNCONFIRMED (docs/platforms/twilio.md, "UNCONFIRMED"), every plausible reading is accepted:
- Ports: Twilio's own validators try the URL without its port and with its port (the scheme's standard one, 443 or
  80, added when absent), because "signature generation on the back end is inconsistent". `verify` accepts either.
- A parameter sent several times: the documentation sorts by name only; the helper libraries also sort the values
  of one name. Both the value-sorted order and the received order are accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"  # present when a Webhooks Rule signs instead
BODY_HASH_PARAMETER = "bodySHA256"
_DEFAULT_PORTS = {"https": 443, "http": 80}


class SignatureError(ValueError):
    """The request is not signed by the account's Auth Token; the message says which check failed."""


def signed_string(url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The text Twilio signs: `url`, then each parameter as name + value, sorted by name (then value)."""
    return url + "".join(name + value for name, value in sorted(params))


def _hmac(token: str, text: str) -> str:
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The X-Twilio-Signature value for a request to `url` with these POST form parameters."""
    return _hmac(auth_token, signed_string(url, params))


def body_sha256(body: bytes) -> str:
    """The hex SHA-256 of a raw request body, as Twilio puts it in `bodySHA256`."""
    return hashlib.sha256(body).hexdigest()


def sign(
    auth_token: str, url: str, params: Sequence[tuple[str, str]] = (), *, json_body: bytes | None = None
) -> tuple[str, str]:
    """(the URL Twilio requests, the signature header) for a form POST (`params`) or a JSON body (`json_body`:
    Twilio adds `bodySHA256` to the query string and signs the URL alone)."""
    if json_body is not None:
        separator = "&" if urlsplit(url).query else "?"
        url = f"{url}{separator}{BODY_HASH_PARAMETER}={body_sha256(json_body)}"  # the rest of the URL kept as is
        return url, compute_signature(auth_token, url)
    return url, compute_signature(auth_token, url, params)


def url_variants(url: str) -> list[str]:
    """`url` without its port and with its port (the scheme's standard port when it names none)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise SignatureError(f"the URL's port is not a number ({exc})") from None
    host = parts.netloc
    if port is not None:
        host = host[: host.rfind(":")]
    variants = [urlunsplit(parts._replace(netloc=host))]
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    chosen = port if port is not None else default
    if chosen is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{host}:{chosen}")))
    return variants


def _orders(params: Sequence[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    by_name_and_value = sorted(params)
    names = [name for name, _ in params]
    if len(set(names)) == len(names):
        return [by_name_and_value]
    return [by_name_and_value, sorted(params, key=lambda pair: pair[0])]  # stable: received order within a name


def verify(
    auth_token: str,
    url: str,
    signature: str | None,
    *,
    params: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
) -> None:
    """Accept a request signed by `auth_token` or raise `SignatureError`.

    `url` is the full public URL Twilio requested, query string included. A form request passes its POST
    parameters in `params`; a JSON request passes its raw `body` (and no `params`), and its URL must carry
    `bodySHA256`.
    """
    if not auth_token:
        raise SignatureError("no Auth Token is configured to check signatures with")
    if not signature or not signature.strip():
        raise SignatureError(f"the request has no {SIGNATURE_HEADER} header")
    if body is not None:
        if params:
            raise SignatureError("a JSON request is signed without form parameters")
        claimed = [v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if k == BODY_HASH_PARAMETER]
        if len(claimed) != 1:
            raise SignatureError(f"a JSON body must come with exactly one {BODY_HASH_PARAMETER} in the URL")
        if not hmac.compare_digest(claimed[0].strip().lower().encode(), body_sha256(body).encode()):
            raise SignatureError(f"the body does not match its {BODY_HASH_PARAMETER}")
    given = signature.strip().encode()
    matched = False
    for candidate_url in url_variants(url):
        for ordered in _orders(params):
            expected = _hmac(auth_token, candidate_url + "".join(n + v for n, v in ordered)).encode()
            matched |= hmac.compare_digest(expected, given)  # every candidate is computed: no early exit
    if not matched:
        raise SignatureError(f"the {SIGNATURE_HEADER} header does not match the URL and parameters")


__all__ = [
    "BODY_HASH_PARAMETER",
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "SignatureError",
    "body_sha256",
    "compute_signature",
    "sign",
    "signed_string",
    "url_variants",
    "verify",
]
