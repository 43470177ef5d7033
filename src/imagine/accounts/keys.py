"""API keys: `japi_live_<random>`, stored only as SHA-256, found by hash (constant time)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "japi_live_"
# Characters of the key kept in clear for humans (`imagine keys revoke PREFIX`).
DISPLAY_CHARS = len(KEY_PREFIX) + 8


def new_key() -> str:
    """A fresh key with 192 bits of randomness."""
    return KEY_PREFIX + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """The part of a key that may be shown and stored in clear."""
    return key[:DISPLAY_CHARS]


def hashes_match(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(a.encode(), b.encode())


def parse_authorization(header: str | None) -> str | None:
    """The raw key from `Authorization: <key>` or `Authorization: Bearer <key>`."""
    if not header:
        return None
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() == "bearer":
        value = rest.strip()
    if not value or len(value) > 256 or " " in value:
        return None
    return value
