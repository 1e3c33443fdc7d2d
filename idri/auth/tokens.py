"""API tokens: random, recognisable, stored only as their SHA-256 digest.

A token is ``idri_`` and 43 URL-safe characters (32 random bytes). The prefix lets secret
scanners and people recognise one (in a paste, a log, a repository); the digest is enough to
look one up, since a token, unlike a password, is too random to be guessed from it.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "idri_"
_LENGTH = len(PREFIX) + 43
"""``token_urlsafe(32)`` is 43 characters."""


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What the database keeps of ``token``: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: object) -> bool:
    """Whether ``value`` has a token's form (anything else is refused without a query)."""
    return isinstance(value, str) and len(value) == _LENGTH and value.startswith(PREFIX)
