"""What makes two email addresses the same account: one normalised key, computed in Python.

Policy: an address's identity is `NFKC(casefold(NFKC(address)))` (Unicode's NFKC_Casefold,
the form recommended for caseless identifier matching). "Émile@x" and "émile@x" are one
identity, and so are "\u212aate@x" (KELVIN SIGN) and "kate@x": NFKC maps the Kelvin sign to
"K". The key is stored at creation in the unique column `accounts.email_key`, so a second
account of the same identity is refused and every lookup is one exact match on the key; the
database's own `lower()` (ASCII-only on SQLite, locale-dependent elsewhere) is never used.
The address as typed is kept in `accounts.email` for display.
"""

from __future__ import annotations

import unicodedata

MAX_KEY_CHARS = 320  # the column's width; NFKC can lengthen an address (e.g. "ﬃ" → "ffi")


def email_key(email: str) -> str:
    """The normalised identity of an email address (see the module's policy)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold())
