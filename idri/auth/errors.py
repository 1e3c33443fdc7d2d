"""What the account layer refuses, each with one sentence a person can act on."""

from __future__ import annotations


class AccountError(Exception):
    """Input the account layer refuses (the API answers 422), or a change it cannot make."""


class AccountExists(AccountError):
    """An account of that name exists already (the API answers 409)."""


class AccountNotFound(AccountError):
    """No account has that name (the API answers 404)."""


class SignInRefused(Exception):
    """Wrong name or password: the same sentence for both, so a name's existence is not told."""

    def __init__(self) -> None:
        super().__init__("wrong name or password")


class SignInThrottled(Exception):
    """Too many failed sign-ins under this name; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        """Seconds until the next attempt is tried (the API's ``Retry-After``, rounded up)."""
        super().__init__(
            f"too many failed sign-ins under this name: try again in {_seconds(retry_after)}"
        )


def _seconds(delay: float) -> str:
    whole = max(1, int(-(-delay // 1)))
    if whole < 120:
        return f"{whole} second{'s' if whole > 1 else ''}"
    return f"{-(-whole // 60)} minutes"
