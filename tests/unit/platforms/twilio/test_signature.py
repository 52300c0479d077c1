"""X-Twilio-Signature, checked against the algorithm as Twilio documents it (docs/platforms/twilio.md §Signature).

Every expected signature here is computed in the test itself from the documented steps — the full URL, then each POST
parameter sorted by name as name+value, HMAC-SHA1 keyed with the Auth Token, base64 — with `hmac` directly, never
with the module under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random

import pytest

from gateway.platforms.twilio.signature import SignatureError, sign, verify

TOKEN = "9f3c2a71d4e8b6051c7a9e2d3f4b5a61"
URL = "https://gateway.example.org/webhooks/platforms/twilio?tenant=east&v=2"
PARAMS = [
    ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("From", "+14155550123"),
    ("To", "+12025550101"),
    ("Body", "STOP"),
    ("OptOutType", "STOP"),
    ("NumMedia", "0"),
]
# The same parameters sorted by name by hand (A, B, F, M, N, O, T) and concatenated as the documentation says.
SIGNED_TEXT = (
    "https://gateway.example.org/webhooks/platforms/twilio?tenant=east&v=2"
    "AccountSidAC0123456789abcdef0123456789abcdef"
    "BodySTOP"
    "From+14155550123"
    "MessageSidSM0123456789abcdef0123456789abcdef"
    "NumMedia0"
    "OptOutTypeSTOP"
    "To+12025550101"
)


def by_hand(token: str, text: str) -> str:
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


EXPECTED = by_hand(TOKEN, SIGNED_TEXT)


def test_the_documented_example_verifies() -> None:
    """Twilio's documented example: this URL, these parameters and token 12345 sign as the value below."""
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", params=params)


def test_a_request_signed_as_documented_is_accepted() -> None:
    verify(TOKEN, URL, EXPECTED, params=PARAMS)


def test_parameter_order_as_received_does_not_matter() -> None:
    shuffled = list(PARAMS)
    random.Random(7).shuffle(shuffled)
    assert shuffled != PARAMS
    verify(TOKEN, URL, EXPECTED, params=shuffled)


@pytest.mark.parametrize(
    ("change", "value"),
    [("Body", "START"), ("From", "+14155550124"), ("OptOutType", "START")],
)
def test_a_tampered_parameter_is_rejected(change: str, value: str) -> None:
    tampered = [(k, value if k == change else v) for k, v in PARAMS]
    with pytest.raises(SignatureError, match="does not match"):
        verify(TOKEN, URL, EXPECTED, params=tampered)


def test_an_added_or_dropped_parameter_is_rejected() -> None:
    with pytest.raises(SignatureError):
        verify(TOKEN, URL, EXPECTED, params=[*PARAMS, ("FromCity", "OAKLAND")])
    with pytest.raises(SignatureError):
        verify(TOKEN, URL, EXPECTED, params=PARAMS[:-1])


def test_another_query_string_or_path_is_rejected() -> None:
    with pytest.raises(SignatureError):
        verify(TOKEN, URL.replace("tenant=east", "tenant=west"), EXPECTED, params=PARAMS)
    with pytest.raises(SignatureError):
        verify(TOKEN, URL.replace("/twilio?", "/twilio/?"), EXPECTED, params=PARAMS)


def test_another_token_is_rejected() -> None:
    with pytest.raises(SignatureError):
        verify("0" * 32, URL, EXPECTED, params=PARAMS)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_signature_is_rejected(header: str | None) -> None:
    with pytest.raises(SignatureError, match="no X-Twilio-Signature"):
        verify(TOKEN, URL, header, params=PARAMS)


def test_the_standard_port_may_be_present_on_either_side() -> None:
    with_port = URL.replace("example.org/", "example.org:443/")
    signed_with_port = by_hand(TOKEN, SIGNED_TEXT.replace("example.org/", "example.org:443/"))
    verify(TOKEN, URL, signed_with_port, params=PARAMS)  # Twilio signed with :443, we know the URL without
    verify(TOKEN, with_port, EXPECTED, params=PARAMS)  # Twilio signed without, we were configured with :443


def test_a_wrong_port_is_rejected() -> None:
    signed_elsewhere = by_hand(TOKEN, SIGNED_TEXT.replace("example.org/", "example.org:8443/"))
    with pytest.raises(SignatureError):
        verify(TOKEN, URL, signed_elsewhere, params=PARAMS)
    http_default = by_hand(TOKEN, SIGNED_TEXT.replace("example.org/", "example.org:80/"))
    with pytest.raises(SignatureError):
        verify(TOKEN, URL, http_default, params=PARAMS)  # https's standard port is 443, not 80


def test_a_repeated_parameter_is_accepted_in_value_order_or_received_order() -> None:
    repeated = [("MediaUrl", "https://m.example/2.jpg"), ("MediaUrl", "https://m.example/1.jpg"), ("Body", "hi")]
    value_sorted = by_hand(TOKEN, URL + "BodyhiMediaUrlhttps://m.example/1.jpgMediaUrlhttps://m.example/2.jpg")
    as_received = by_hand(TOKEN, URL + "BodyhiMediaUrlhttps://m.example/2.jpgMediaUrlhttps://m.example/1.jpg")
    verify(TOKEN, URL, value_sorted, params=repeated)
    verify(TOKEN, URL, as_received, params=repeated)


JSON_BODY = json.dumps({"MessageSid": "SM1", "Body": "STOP"}).encode()


def test_a_json_body_is_signed_through_its_hash_in_the_url() -> None:
    digest = hashlib.sha256(JSON_BODY).hexdigest()
    url = f"{URL}&bodySHA256={digest}"
    verify(TOKEN, url, by_hand(TOKEN, url), body=JSON_BODY)


def test_a_tampered_json_body_is_rejected() -> None:
    url = f"{URL}&bodySHA256={hashlib.sha256(JSON_BODY).hexdigest()}"
    with pytest.raises(SignatureError, match="body does not match"):
        verify(TOKEN, url, by_hand(TOKEN, url), body=JSON_BODY.replace(b"STOP", b"START"))


def test_a_json_body_without_its_hash_is_rejected() -> None:
    with pytest.raises(SignatureError, match="bodySHA256"):
        verify(TOKEN, URL, by_hand(TOKEN, URL), body=JSON_BODY)


def test_a_json_hash_with_a_forged_url_signature_is_rejected() -> None:
    url = f"{URL}&bodySHA256={hashlib.sha256(JSON_BODY).hexdigest()}"
    with pytest.raises(SignatureError, match="does not match"):
        verify(TOKEN, url, by_hand(TOKEN, URL), body=JSON_BODY)  # signature of the URL without the hash


def test_sign_produces_what_the_documented_steps_produce() -> None:
    assert sign(TOKEN, URL, PARAMS) == (URL, EXPECTED)
    url, signature = sign(TOKEN, URL, json_body=JSON_BODY)
    assert url == f"{URL}&bodySHA256={hashlib.sha256(JSON_BODY).hexdigest()}"
    assert signature == by_hand(TOKEN, url)


def test_errors_never_hold_the_token_or_the_expected_signature() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(TOKEN, URL, "bogus", params=PARAMS)
    assert TOKEN not in str(caught.value) and EXPECTED not in str(caught.value)
