"""Asking a case's workflow, and what each way of failing means to the person who asked.

Queries and updates name their ``InstituteWorkflow`` method; a failure becomes a
:class:`~idri.service.errors.ServiceError` whose status the API answers with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from idri.codec import KEYS_NEEDED, UNENCRYPTED_FAILURE_TYPE, DecryptionError
from idri.service.errors import (
    Forbidden,
    NotFound,
    Refused,
    ServiceError,
    StillRecording,
    Unavailable,
)
from models.case import CaseStatus
from models.search import STAGE
from workflows.institute import InstituteWorkflow, workflow_id

T = TypeVar("T")

ANSWER_TIMEOUT_SECONDS = 30.0
"""How long a call waits for a case to answer before it blames a missing worker."""

PERMISSION_DENIED = "permission denied: "
"""How the workflow's refusals on the actor's role or district begin (``models/permissions``)."""


def normalise_case_id(text: str) -> str:
    """Accept a case id or its workflow id (``institute-<case id>``, as the Web UI shows it)."""
    return text.strip().removeprefix("institute-")


def case_handle(client: Client, case_id: str) -> WorkflowHandle[InstituteWorkflow, CaseStatus]:
    return client.get_workflow_handle_for(InstituteWorkflow.run, workflow_id(case_id))


async def answer(client: Client, case_id: str, call: Awaitable[T]) -> T:
    """Await a query or an update of case ``case_id``, explaining the ways it can go wrong."""
    try:
        return await asyncio.wait_for(call, ANSWER_TIMEOUT_SECONDS)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise Unavailable(
            f"case {case_id} did not answer within {ANSWER_TIMEOUT_SECONDS:g}s: is a worker "
            f"running? An action may still be applied once a worker picks it up; check the "
            f"case's status"
        ) from None
    except DecryptionError as error:
        raise Unavailable(f"the service cannot read case {case_id}'s answer: {error}") from None
    except ApplicationError as error:
        # Raised here, not by the case: an answer in clear although this service has keys.
        if error.type != UNENCRYPTED_FAILURE_TYPE:
            raise
        raise Unavailable(
            f"case {case_id} answered in clear, which is refused: {error.message}"
        ) from None
    except WorkflowUpdateFailedError as error:
        raise refusal(error) from None
    except WorkflowQueryFailedError as error:
        raise Refused(f"case {case_id} could not answer: {error}") from None
    except RPCError as error:
        raise await rpc_failure(client, case_id, error) from None


async def accepted_then_done(
    client: Client,
    case_id: str,
    handle: WorkflowHandle[InstituteWorkflow, CaseStatus],
    update: Any,
    payload: Any,
) -> CaseStatus:
    """Send one update and return the case's status once it is done.

    The update is first sent until the case accepts it (its validator passed), then awaited.
    An accepted update whose result does not come in time (the registry locked or slow: the
    handler records the event before it answers) is :class:`StillRecording`, not a failure:
    the case will record it, and sending it again would be refused or done twice.
    """
    started = await answer(
        client,
        case_id,
        handle.start_update(update, payload, wait_for_stage=WorkflowUpdateStage.ACCEPTED),
    )
    try:
        result: CaseStatus = await answer(client, case_id, started.result())
    except Unavailable:
        raise StillRecording(
            f"case {case_id} accepted the action and is still recording it (no answer within "
            f"{ANSWER_TIMEOUT_SECONDS:g}s: the registry may be busy); it will be recorded: do "
            f"not send it again; `idri status {case_id}` shows it once done"
        ) from None
    return result


def refusal(error: WorkflowUpdateFailedError) -> ServiceError:
    """The workflow's refusal: 403 when it is about who acts, 409 when about the case."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == UNENCRYPTED_FAILURE_TYPE:
        return Unavailable(f"the case refused an unencrypted action: {KEYS_NEEDED}")
    # The workflow's ApplicationError (type ActionRefused) carries the sentence to show as is.
    message = str(getattr(cause, "message", None) or cause or error)
    if message.startswith(PERMISSION_DENIED):
        return Forbidden(message)
    return Refused(message)


async def rpc_failure(client: Client, case_id: str, error: RPCError) -> ServiceError:
    """What a refused call means: a missing or closed case, or Temporal's own reason."""
    if error.status == RPCStatusCode.NOT_FOUND:
        try:
            description = await case_handle(client, case_id).describe()
        except RPCError as again:
            if again.status == RPCStatusCode.NOT_FOUND:
                return NotFound(f"there is no case {case_id!r}")
            return Unavailable(f"case {case_id} cannot be reached: {again.message}")
        stage = description.typed_search_attributes.get(STAGE) or "closed"
        return Refused(f"case {case_id} is closed (stage '{stage}') and takes no more actions")
    if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"Temporal cannot be reached: {error.message}")
    return Refused(f"Temporal refused the call for case {case_id}: {error.message}")
