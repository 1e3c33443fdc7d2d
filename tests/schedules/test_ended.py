"""Cases ended outside the lifecycle (issue 18): a designated case whose workflow an attacker
terminates with ``temporal workflow terminate`` is marked in the registry by the next evaluation
sweep, with how, when and by whom, and leaves the public registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from activities import registry_read
from activities.db import create_registry_engine
from activities.ended import ENDED_EVENT
from idri.auth.accounts import Account, AccountRole, AccountStore
from idri.cli._render import ended_text
from idri.service.cases import CaseService
from models.case import Stage
from models.jsondata import jsonable
from tests.lifecycle.harness import Harness, pages_published
from tests.schedules.helpers import registry, schedule_harness, sweep, wait_closed
from tests.schedules.test_sweep import FAST, designate

REASON = "cleaning up old cases"

BUREAU = Account("李处长", AccountRole.BUREAU_OFFICER, None, None, None, True, datetime.now(UTC))


async def case_view(h: Harness, case_id: str) -> Any:
    """``GET /api/cases/{id}`` as the service answers it to a bureau officer."""
    engine = create_registry_engine(h.settings.registry_url)
    try:
        service = CaseService(h.client, h.settings.task_queue, engine, AccountStore(engine))
        view = await service.status(BUREAU, case_id)
        return view.status, view.ended
    finally:
        engine.dispose()


def registry_page(h: Harness) -> Any:
    return json.loads(
        (h.settings.data_dir / "public" / "registry.json").read_text(encoding="utf-8")
    )


async def test_a_terminated_institute_is_marked_by_the_sweep_and_leaves_the_public_registry(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path, **FAST) as h:
        kept, ended = await designate(h, "甲研究院", "乙研究院")
        await pages_published(h.settings)
        listed = {i["case_id"] for i in registry_page(h)["institutes"]}
        assert listed == {kept.case_id, ended.case_id}

        await ended.handle.terminate(reason=REASON)
        await wait_closed(h, ended.handle.id)
        terminated_at = await h.now()
        await h.env.sleep(timedelta(hours=1))
        await sweep(h)

        with registry(h) as engine:
            row = registry_read.institute(engine, ended.case_id)
            other = registry_read.institute(engine, kept.case_id)
            trail = registry_read.audit_trail(engine, ended.case_id)
            current = [i.case_id for i in registry_read.current_registry(engine)]
        assert row is not None and other is not None
        assert row.ended_how == "terminated"
        assert row.ended_at is not None
        assert abs(row.ended_at - terminated_at) < timedelta(minutes=5)
        assert row.ended_by is not None and REASON in row.ended_by
        assert row.ended_by != REASON, "the terminating client's identity is named too"
        assert row.stage == "designated", "the last stage the case had is kept"
        assert other.ended_how is None, "a running case is left as it is"
        assert current == [kept.case_id]
        [mark] = [e for e in trail if e.event == ENDED_EVENT]
        assert (mark.reason, mark.details) == (REASON, {"how": "terminated"})
        assert [i["case_id"] for i in registry_page(h)["institutes"]] == [kept.case_id]

        await sweep(h)
        with registry(h) as engine:
            again = registry_read.audit_trail(engine, ended.case_id)
            assert registry_read.institute(engine, ended.case_id) == row
        assert [e.event for e in again].count(ENDED_EVENT) == 1, "a marked case is left"


async def test_idri_status_of_a_terminated_case_says_how_when_and_by_whom_with_no_deadline(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path, **FAST) as h:
        [case] = await designate(h, "丙研究院")
        running, not_ended = await case_view(h, case.case_id)
        assert not_ended is None and running.deadline is not None

        await case.handle.terminate(reason=REASON)
        await wait_closed(h, case.handle.id)
        status, ending = await case_view(h, case.case_id)

        assert ending is not None
        assert (ending.how, ending.reason) == ("terminated", REASON)
        assert ending.identity, "the terminating client's identity"
        assert status.stage is Stage.DESIGNATED, "the last stage the case had"
        assert (status.deadline, status.allowed_actions) == (None, [])
        assert status.next_evaluation_due is None
        text = ended_text(jsonable(ending))
        assert text.startswith("workflow terminated outside the lifecycle, ")
        assert "+08:00" in text and REASON in text and ending.identity in text
