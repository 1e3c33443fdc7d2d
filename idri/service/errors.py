"""Failures of a service call, each with the HTTP status the API answers it with.

The message is one sentence a person reads (the CLI prints it after ``error:``).
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotSignedIn(ServiceError):
    """No credential, or one that is unknown, expired, revoked, or of a disabled account."""

    status = 401


class Forbidden(ServiceError):
    """The account may not do this: its role, its district, a case not assigned to it."""

    status = 403


class NotFound(ServiceError):
    status = 404


class Refused(ServiceError):
    """The workflow refused the action (its stage, its rules), or the case exists already."""

    status = 409


class Invalid(ServiceError):
    """A value the service refuses (an unknown district, a name too long)."""

    status = 422


class Throttled(ServiceError):
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StillRecording(ServiceError):
    """The case accepted the action (its checks passed) but has not finished recording it in
    time (a slow or locked registry): it will be recorded; nothing needs to be sent again."""

    status = 202


class Unavailable(ServiceError):
    """Temporal or the registry cannot be reached, or the case did not answer in time."""

    status = 503
