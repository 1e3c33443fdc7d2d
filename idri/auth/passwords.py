"""Passwords: argon2id through ``argon2-cffi``, with its recommended parameters (RFC 9106).

Every sign-in costs exactly one verification, whatever the name: an unknown name, an account
without a password or a disabled one are verified against a hash of a random password made at
start, so the time an answer takes does not tell whether the name exists.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hashing and verifying, with a stand-in hash for names that have none."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._stand_in = self._hasher.hash(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; with ``stored`` None, the same work, False."""
        try:
            self._hasher.verify(stored or self._stand_in, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with older parameters than today's (rehash on sign-in)."""
        return self._hasher.check_needs_rehash(stored)
