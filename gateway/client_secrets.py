"""How the gateway stores and checks its OAuth clients' secrets: a salted, slow scrypt hash (or, deprecated, an
unsalted SHA-256 digest).

The scrypt form is Werkzeug's password-hash string, `scrypt:<N>:<r>:<p>$<salt>$<hex of the 64-byte key>`
(`werkzeug.security.generate_password_hash`, which calls `hashlib.scrypt`); `gateway hash-secret` makes one.

Guarantees: `hash_secret` salts every hash anew (16 random characters); `verify_secret` compares in constant time
and costs the same whether the secret is right or wrong; `dummy_verify` spends the time a real check of the
default parameters costs, so an unknown client id cannot be told from a wrong secret by timing.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re

SCRYPT_DEFAULT = "scrypt:32768:8:1"  # N=2^15, r=8, p=1: ~32 MiB and ~75 ms per check on a 2-core machine
SCRYPT_PATTERN = re.compile(r"\Ascrypt:(\d+):(\d+):(\d+)\$([A-Za-z0-9]{8,64})\$([0-9a-f]{128})\Z")
SHA256_PATTERN = re.compile(r"\A[0-9a-fA-F]{64}\Z")
MIN_N, MAX_N = 2**14, 2**20  # below 2^14 the hash is cheap to brute-force; above 2^20 one check takes ~1 GiB


def hash_secret(secret: str, method: str = SCRYPT_DEFAULT) -> str:
    """The `secret_scrypt` value for `secret` (a fresh salt each call)."""
    from werkzeug.security import generate_password_hash  # werkzeug only where a hash is made or checked

    if not secret:
        raise ValueError("an empty secret cannot be hashed")
    return generate_password_hash(secret, method=method, salt_length=16)


def scrypt_problem(value: str) -> str | None:
    """Why `value` is not a usable `secret_scrypt`, or None when it is."""
    match = SCRYPT_PATTERN.match(value)
    if match is None:
        return "not a scrypt hash (expected scrypt:N:r:p$salt$hex, as `gateway hash-secret` prints)"
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if n & (n - 1) or not MIN_N <= n <= MAX_N:
        return f"scrypt N={n} must be a power of two between {MIN_N} and {MAX_N}"
    if not 8 <= r <= 32 or not 1 <= p <= 4:
        return f"scrypt r={r}, p={p} out of range (r 8..32, p 1..4)"
    return None


def verify_secret(secret: str, *, scrypt: str | None = None, sha256: str | None = None) -> bool:
    """True when `secret` matches the stored hash (scrypt preferred when both are given)."""
    if scrypt is not None:
        from werkzeug.security import check_password_hash

        return check_password_hash(scrypt, secret)
    if sha256 is not None:
        return hmac.compare_digest(hashlib.sha256(secret.encode()).hexdigest(), sha256.lower())
    return False


@functools.cache
def dummy_hash() -> str:
    """A hash of the default cost that no client's secret matches (made once per process)."""
    return hash_secret("an unknown client's secret is checked against this")


def dummy_verify(secret: str) -> bool:
    """Spend one default-cost check and answer False (for a client id nobody configured)."""
    verify_secret(secret, scrypt=dummy_hash())
    return False
