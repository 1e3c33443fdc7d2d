"""The sweep over 10,000 designated institutes: pages, continue-as-new, a small history."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import insert
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.db import create_registry_engine, migrate, write_session
from activities.schedules import CaseItem, ScheduleActivities
from activities.tables import InstituteRow, table_of
from idri.settings import Settings
from idri.worker import mailboxes_of, publication_activities
from models.records import ActivityName, DeliveryRequest
from models.schedules import EVALUATION_SWEEP_ID, SweepInput
from workflows.schedules import EvaluationSweepWorkflow

INSTITUTES = 10_000


class CountingOpener(ScheduleActivities):
    """The real sweep activities, with the update to each case replaced by a count."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.opened: set[str] = set()

    async def _open(self, item: CaseItem, as_of):  # type: ignore[no-untyped-def]
        self.opened.add(item.case_id)
        return "opened", None


@activity.defn(name=ActivityName.DELIVER_NOTIFICATIONS)
async def deliver(request: DeliveryRequest) -> int:
    return 0


async def test_ten_thousand_due_institutes_in_one_sweep_with_a_small_history(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        task_queue=f"idri-scale-{uuid.uuid4().hex[:6]}",
        sweep_page_size=500,
        sweep_pages_per_run=5,
        sweep_concurrency=200,
    )
    migrate(settings.registry_url)
    engine = create_registry_engine(settings.registry_url)
    now = await time_env.get_current_time()
    rows = [
        {
            "case_id": f"c{n:05d}",
            "organisation": f"研究院{n}",
            "district": "binhai",
            "direction": "ai",
            "level": "municipal",
            "stage": "designated",
            "designated_at": now - timedelta(days=1000),
            "next_evaluation_due": now + timedelta(days=30),
            "workflow_id": f"institute-c{n:05d}",
            "last_event_seq": 5,
            "updated_at": now,
        }
        for n in range(INSTITUTES)
    ]
    with write_session(engine) as session:
        session.execute(insert(table_of(InstituteRow)), rows)
    activities = CountingOpener(
        engine,
        rules=settings.schedule_rules(),
        mailboxes=mailboxes_of(settings),
        sweep_concurrency=settings.sweep_concurrency,
    )
    async with Worker(
        time_env.client,
        task_queue=settings.task_queue,
        workflows=[EvaluationSweepWorkflow],
        activities=[
            *activities.all(),
            deliver,
            publication_activities(engine, settings).publish_queued,
        ],
    ):
        handle = await time_env.client.start_workflow(
            EvaluationSweepWorkflow.run,
            SweepInput(),
            id=f"{EVALUATION_SWEEP_ID}-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
        )
        result = await handle.result()
        last_run = await time_env.client.get_workflow_handle(handle.id).fetch_history()
    engine.dispose()

    assert (result.totals.found, result.totals.opened) == (INSTITUTES, INSTITUTES)
    assert len(activities.opened) == INSTITUTES, "each institute once"
    assert result.totals.pages == INSTITUTES // 500 + 1  # the last, empty page ends the sweep
    assert len(result.totals.opened_sample) <= 20, "results carry samples, not the list"
    events = list(last_run.events)
    assert len(events) < 60, f"the last run's history has {len(events)} events"
    assert last_run.run_id != handle.first_execution_run_id, "it continued as new"
    assert not any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW for e in events
    )
