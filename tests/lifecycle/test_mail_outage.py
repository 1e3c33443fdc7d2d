"""A mail server that is down does not hold a case up, and loses no mail: when it returns, every
notification recorded meanwhile goes out, each exactly once (issue 3, transactional outbox).

The real worker and activities run on a time-skipping server; the mail server is a real SMTP
server (aiosmtpd) on a fixed port, stopped before the case starts and started again later. The
delivery activities' retries are paced by Temporal, on the test server's skipping clock.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.testing import WorkflowEnvironment

from activities import registry_read
from activities.db import create_registry_engine
from models.case import Stage
from tests.lifecycle.harness import Case, harness
from tests.smtp import SmtpServer
from workflows.institute import MAIL_BEFORE_CONTINUING, InstituteWorkflow

BUREAU_EMAIL = "bureau@gxj.tj.gov.cn"
DISTRICT_EMAIL = "binhai@tj.gov.cn"

NOTICE = timedelta(hours=1)
"""A short public notice (``notice_period_override``): the outage lasts over two simulated hours."""

MAILS_TO_DESIGNATION = 13
"""created and submit_plan (district), recommend (applicant, district, bureau), three experts
assigned (the minimum panel), approve (applicant, district), designation (applicant, district, bureau)."""


async def eventually(check: Callable[[], object], what: str, *, seconds: float = 15) -> None:
    """Wait in real time until ``check()`` (awaited if it returns an awaitable) is true:
    activities and workflow tasks run in real time, whatever the simulated clock does."""
    for _ in range(int(seconds / 0.05)):
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still not {what} after {seconds} s")


async def current_run_id(case: Case) -> str:
    """Asked of the service directly, as in ``test_registry_lifecycle.running``: the test
    server's null ``IdriDueAt`` of a case without deadline breaks ``WorkflowHandle.describe``."""
    client = case.env.client
    description = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=case.handle.id)
        )
    )
    return description.workflow_execution_info.execution.run_id


def recorded_all(engine: Engine, case: Case, length: int) -> bool:
    return len(registry_read.audit_trail(engine, case.case_id)) == length


async def test_mails_recorded_while_the_mail_server_is_down_go_out_once_when_it_returns(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with SmtpServer() as server:
        server.start()
        server.stop()
        assert server.refuses_connections()
        async with harness(
            time_env,
            tmp_path / "data",
            smtp_host=server.host,
            smtp_port=server.port,
            bureau_email=BUREAU_EMAIL,
            district_emails={"binhai": DISTRICT_EMAIL},
            notice_period_override=f"{NOTICE.total_seconds():.0f}s",
        ) as h:
            engine = create_registry_engine(h.settings.registry_url)
            try:
                case = await h.start()
                await case.through_review()
                await case.wait_for_stage(Stage.DESIGNATED, within=NOTICE + timedelta(minutes=1))

                # The case went on to designation: registry, trail and pages are written.
                history = await case.handle.query(InstituteWorkflow.history)
                await eventually(lambda: recorded_all(engine, case, len(history)), "recorded")
                registry_page = h.settings.data_dir / "public" / "registry.html"
                await eventually(
                    lambda: (
                        registry_page.exists()
                        and case.organisation in registry_page.read_text("utf-8")
                    ),
                    "on the registry page",
                )
                institute = registry_read.institute(engine, case.case_id)
                assert institute is not None and institute.stage == "designated"

                # The case did not wait for its mail: designated at once, its first run continued
                # as new once it had given its mail ten minutes, the rest left to the next run.
                first_run = case.handle.first_execution_run_id
                await h.env.sleep(MAIL_BEFORE_CONTINUING + timedelta(minutes=1))

                async def continued_as_new() -> bool:
                    return await current_run_id(case) != first_run

                await eventually(continued_as_new, "continued as new")

                # An hour later (hours into the outage) every mail is still waiting, none lost.
                await h.env.sleep(timedelta(hours=1))
                rows = registry_read.outbox(engine, case_id=case.case_id)
                assert len(rows) == MAILS_TO_DESIGNATION
                assert {r.status for r in rows} <= {"pending", "sending"}
                assert all(r.address and r.sent_at is None for r in rows)
                assert server.messages == []

                # The server returns on the same port; at the activities' next retries (at most
                # five minutes apart, on Temporal's clock) each mail goes out.
                server.start()
                await h.env.sleep(timedelta(minutes=6))
                await eventually(
                    lambda: {r.status for r in registry_read.outbox(engine)} == {"sent"},
                    "all sent",
                    seconds=60,
                )
                rows = registry_read.outbox(engine, case_id=case.case_id)
                assert server.notification_keys() == Counter({r.key: 1 for r in rows})
                received = {str(m["X-Idri-Notification"]): m for m in server.messages}
                for row in rows:
                    mail = received[row.key]
                    assert mail["To"].addresses[0].addr_spec == row.address
                    assert mail["Subject"] == row.subject
                    assert mail["Message-ID"] == row.message_id
                    assert (row.transport, row.last_error) == ("smtp", None)

                # More time sends nothing again.
                await h.env.sleep(timedelta(hours=1))
                await asyncio.sleep(1)  # any delivery still running, in real time
                assert len(server.messages) == MAILS_TO_DESIGNATION
                assert await case.stage() is Stage.DESIGNATED
            finally:
                engine.dispose()
