"""How a case's workflow ended, when it ended outside the lifecycle: terminated, cancelled,
timed out or failed (issue 18).

Such a case records nothing of its end (its run stopped before any activity could), so only
Temporal knows. :func:`ending_of` asks it; ``idri status`` shows the answer and the evaluation
sweep writes it to the registry (``activities.ended.mark_ended``). Only the Temporal SDK here:
``idri status`` imports this without the registry's database libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHistoryEventFilterType
from temporalio.service import RPCError, RPCStatusCode

ENDED_HOW: dict[int, str] = {
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED: "terminated",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED: "cancelled",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED: "failed",
}
"""Closed statuses that are no end of the lifecycle (completed and continued-as-new are)."""


@dataclass(frozen=True)
class CaseEnding:
    """How a case's workflow ended outside the lifecycle."""

    how: str
    """terminated, cancelled, timed_out or failed."""
    at: datetime | None
    """The close time Temporal reports (UTC)."""
    run_id: str
    identity: str | None = None
    """Who ended it: a termination's client identity (``temporal`` CLI user, SDK client)."""
    reason: str | None = None
    """A termination's reason, or a failure's message."""

    @property
    def by(self) -> str | None:
        """Who and why in one line, as far as known (``ended_by`` in the registry)."""
        parts = [p for p in (self.identity, self.reason) if p]
        return ": ".join(parts) or None


async def ending_of(client: Client, workflow_id: str) -> CaseEnding | None:
    """How the latest run of ``workflow_id`` ended outside the lifecycle; None while it runs,
    when it ended by the lifecycle's own means, or when Temporal no longer knows it.

    Reads the raw description: the SDK's ``describe()`` decodes the search attributes, and the
    time-skipping test server returns a datetime one it cannot decode.
    """
    try:
        description = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None  # past retention: nothing to tell, and nothing running either
        raise
    info = description.workflow_execution_info
    how = ENDED_HOW.get(info.status)
    if how is None:
        return None
    at = info.close_time.ToDatetime(tzinfo=UTC) if info.HasField("close_time") else None
    run_id = info.execution.run_id
    identity, reason = await _who_and_why(client, workflow_id, run_id)
    return CaseEnding(how, at, run_id, identity, reason)


async def _who_and_why(
    client: Client, workflow_id: str, run_id: str
) -> tuple[str | None, str | None]:
    """A termination's identity and reason, a failure's message: from the run's close event."""
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
    return None, None
