"""Cases ended outside the lifecycle, for the operators: how one ended (``idri status``), and
the bureau's way to bring one back (``idri ended reinstate``): Temporal's reset of the case's
last run to its last workflow task, as ``temporal workflow reset --type LastWorkflowTask`` does,
but never past a cancellation request (the reset run would cancel itself again).

Only the Temporal SDK and ``models`` here (and :mod:`activities.endings`, which reads Temporal):
``idri status`` imports this without the registry's database libraries.
"""

from __future__ import annotations

import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from activities.endings import ending_of
from models.ending import CaseEnding

__all__ = ["CaseEnding", "NoResetPoint", "ending_of", "reset_point", "reset_to_last_task"]


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
