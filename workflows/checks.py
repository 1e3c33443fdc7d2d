"""Checks every update's validator makes of its input before anything reaches history."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models import limits, permissions
    from models.case import Actor


def refuse(message: str) -> ApplicationError:
    """An operator error: shown to the caller as is, never retried."""
    return ApplicationError(message, type="ActionRefused", non_retryable=True)


def require_text(value: str, what: str) -> None:
    """A free text (opinion, reason, note): not empty, not too long, no control characters."""
    problem = limits.text_problem(value, what)
    if problem is not None:
        raise refuse(problem)


def require_name(value: str, what: str) -> None:
    """A one-line name (a person, an organisation, a file): see ``models/limits.py``."""
    problem = limits.name_problem(value, what)
    if problem is not None:
        raise refuse(problem)


def require(payload: object) -> None:
    """Refuse a payload that is missing or has no actor (a client sending JSON by hand), or whose
    actor names no role or claims the workflow's own (validators only: the handlers replay
    updates accepted before these rules)."""
    actor = getattr(payload, "actor", None)
    if payload is None or not isinstance(actor, Actor):
        raise refuse("the action's input is missing or malformed: it needs an actor and its data")
    denied = permissions.operator_refusal(actor) if actor.name and actor.name.strip() else None
    if denied:
        raise refuse(f"permission denied: {denied}")


def require_mailbox(address: str | None, whose: str) -> None:
    """One plain address, or none: anything else could never be mailed, or mail others."""
    problem = limits.mailbox_problem(address, whose)
    if problem is not None:
        raise refuse(problem)
