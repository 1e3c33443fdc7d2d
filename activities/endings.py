"""What Temporal says about a case workflow that ended outside the lifecycle (terminated,
cancelled, timed out or failed; issue 18), and the bureau's way to bring one back.

Such a case records nothing of its end (its run stopped before any activity could), so only
Temporal knows. :func:`ending_of` asks it; ``GET /api/cases/{id}`` (``idri status``) shows the
answer and the evaluation sweep writes it to the registry (``activities.ended.mark_ended``),
finding the ended cases with one paged visibility query (:func:`ended_workflow_ids`). ``idri ended reinstate`` resets a case's
last run to its last workflow task (:func:`reset_to_last_task`), as
``temporal workflow reset --type LastWorkflowTask`` does, but never past a cancellation request
(the reset run would cancel itself again).

Only the Temporal SDK and ``models`` here: the sweep's activity, the API's service and the
administrators' ``idri ended`` read it.
"""

from __future__ import annotations

import uuid
from datetime import UTC

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.enums.v1 import WorkflowExecutionStatus as Status
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    ResetWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistoryEventFilterType
from temporalio.service import RPCError, RPCStatusCode

from models.ending import ENDED_HOW, ENDED_VISIBILITY_NAMES, CaseEnding

__all__ = [
    "CaseEnding",
    "NoResetPoint",
    "ended_workflow_ids",
    "ending_of",
    "reset_point",
    "reset_to_last_task",
    "running_run",
]

ENDED_CASES = (
    "WorkflowType = 'InstituteWorkflow' AND ExecutionStatus IN "
    f"({', '.join(repr(name) for name in ENDED_VISIBILITY_NAMES)})"
)
"""Visibility's closed case runs that ended outside the lifecycle (a reset case's old run stays
listed: the latest run decides, :func:`ending_of`)."""


async def _describe(client: Client, workflow_id: str) -> DescribeWorkflowExecutionResponse | None:
    """The raw description of the latest run; None once Temporal no longer knows the workflow.

    Raw: the SDK's ``describe()`` decodes the search attributes, and the time-skipping test
    server returns a datetime one it cannot decode.
    """
    try:
        return await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None  # past retention: nothing to tell, and nothing running either
        raise


async def ending_of(client: Client, workflow_id: str) -> CaseEnding | None:
    """How the latest run of ``workflow_id`` ended outside the lifecycle; None while it runs,
    when it ended by the lifecycle's own means, or when Temporal no longer knows it."""
    description = await _describe(client, workflow_id)
    if description is None:
        return None
    info = description.workflow_execution_info
    how = ENDED_HOW.get(WorkflowExecutionStatus(info.status).name)
    if how is None:
        return None
    at = info.close_time.ToDatetime(tzinfo=UTC) if info.HasField("close_time") else None
    run_id = info.execution.run_id
    identity, reason = await _who_and_why(client, workflow_id, run_id)
    return CaseEnding(how, at, run_id, identity, reason)


async def running_run(client: Client, workflow_id: str) -> str | None:
    """The id of the latest run of ``workflow_id`` while it runs (a reset brought the case
    back), else None."""
    description = await _describe(client, workflow_id)
    if description is None:
        return None
    info = description.workflow_execution_info
    running = info.status == Status.WORKFLOW_EXECUTION_STATUS_RUNNING
    return info.execution.run_id if running else None


async def ended_workflow_ids(client: Client, *, page_size: int = 1000) -> set[str] | None:
    """The ids of case workflows with a run that ended outside the lifecycle, from one paged
    visibility query; None from a server without visibility lists (the time-skipping test
    server), where the caller has to ask case by case."""
    try:
        return {
            execution.id
            async for execution in client.list_workflows(ENDED_CASES, page_size=page_size)
        }
    except RPCError as error:
        if error.status is RPCStatusCode.UNIMPLEMENTED:
            return None
        raise


async def _who_and_why(
    client: Client, workflow_id: str, run_id: str
) -> tuple[str | None, str | None]:
    """From the run's history: a termination's identity and reason (its close event), a
    cancellation request's identity and reason (its own event, before the close), a failure's
    message. A timeout names nobody."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    close: HistoryEvent | None = None
    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    ):
        close = event
    if close is None:
        return None, None
    if close.HasField("workflow_execution_terminated_event_attributes"):
        terminated = close.workflow_execution_terminated_event_attributes
        return terminated.identity or None, terminated.reason or None
    if close.HasField("workflow_execution_failed_event_attributes"):
        return None, close.workflow_execution_failed_event_attributes.failure.message or None
    if close.HasField("workflow_execution_canceled_event_attributes"):
        requested = await cancel_request_of(client, workflow_id, run_id)
        if requested is not None:
            attributes = requested.workflow_execution_cancel_requested_event_attributes
            return attributes.identity or None, attributes.cause or None
    return None, None


async def cancel_request_of(client: Client, workflow_id: str, run_id: str) -> HistoryEvent | None:
    """The run's last ``WorkflowExecutionCancelRequested`` event, if any (the run's history is
    read once; a case's runs stay short, they continue as new)."""
    found: HistoryEvent | None = None
    async for event in client.get_workflow_handle(
        workflow_id, run_id=run_id
    ).fetch_history_events():
        if event.HasField("workflow_execution_cancel_requested_event_attributes"):
            found = event
    return found


class NoResetPoint(Exception):
    """The ended run completed no workflow task before its end: there is nothing to go back to."""


async def reset_point(client: Client, workflow_id: str, run_id: str) -> int:
    """The id of the run's last ``WorkflowTaskCompleted`` event before its end: before the
    first cancellation request, else before the close event."""
    last: int | None = None
    async for event in client.get_workflow_handle(
        workflow_id, run_id=run_id
    ).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            break
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            last = event.event_id
    if last is None:
        raise NoResetPoint(f"run {run_id} of {workflow_id} completed no workflow task")
    return last


async def reset_to_last_task(
    client: Client, workflow_id: str, ending: CaseEnding, *, reason: str
) -> str:
    """Reset the ended run to its last workflow task (:func:`reset_point`); the new run's id.

    The new run replays the case's history up to that task and goes on from where the case
    stood: its timers (the notice period, the next evaluation) are pending again, signals and
    updates after the point are reapplied as Temporal's reset does by default.
    """
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=ending.run_id),
            reason=reason,
            workflow_task_finish_event_id=await reset_point(client, workflow_id, ending.run_id),
            request_id=str(uuid.uuid4()),
            identity=client.identity,
        )
    )
    return response.run_id
