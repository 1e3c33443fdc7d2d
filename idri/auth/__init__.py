"""Accounts of the API: who signs in, with which role, and the tokens that say so.

``AccountStore`` (``accounts.py``) is the one entry; ``rules.py`` says what an account may hold,
``passwords.py``, ``tokens.py`` and ``throttle.py`` how secrets and failed sign-ins are handled,
``tables.py`` the tables (migration 0006).
"""

from idri.auth.accounts import (
    Account,
    AccountEvent,
    AccountStore,
    AuditEntry,
)
from idri.auth.errors import (
    AccountError,
    AccountExists,
    AccountNotFound,
    SignInRefused,
    SignInThrottled,
)
from idri.auth.rules import AccountRole

__all__ = [
    "Account",
    "AccountError",
    "AccountEvent",
    "AccountExists",
    "AccountNotFound",
    "AccountRole",
    "AccountStore",
    "AuditEntry",
    "SignInRefused",
    "SignInThrottled",
]
