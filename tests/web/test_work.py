"""我的待办 (my work): the inbox ``GET /api/inbox`` answers, per role, oldest first, deadlines
in Beijing time, overdue said in words."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from activities.tables import WaitRow, table_of
from models.candidates import organisation_key
from tests.web.browserless import new_case, signed_in, small_pdf, upload
from tests.web.conftest import Stack

pytestmark = [pytest.mark.devserver, pytest.mark.asyncio(loop_scope="session")]


def _row_of(html: str, case_id: str) -> str:
    """The inbox's table rows of ``case_id``, joined ("" when it is not listed)."""
    rows = [row.split("</tr>", 1)[0] for row in html.split("<tr")[1:]]
    return "\n".join(row for row in rows if f'href="/cases/{case_id}"' in row)


async def test_the_plan_waits_on_the_district_until_it_is_uploaded(stack: Stack) -> None:
    case_id = await new_case(stack, f"天津待办{uuid.uuid4().hex[:6]}有限公司")
    async with signed_in(stack, "王科长") as officer:
        row = _row_of((await officer.get("/work")).text, case_id)
        assert '<span class="tag">提交创建方案</span>' in row, row
        assert (await upload(officer, case_id, "plan.pdf", small_pdf())).status_code == 303
        row = _row_of((await officer.get("/work")).text, case_id)
        assert '<span class="tag">区级推荐</span>' in row and 'tag">提交创建方案' not in row, row
    async with signed_in(stack, "陈工") as expert:
        assert _row_of((await expert.get("/work")).text, case_id) == ""  # not an expert's work


async def test_overdue_work_is_marked_in_words_with_its_deadline_in_beijing_time(
    stack: Stack,
) -> None:
    organisation = f"天津逾期<b>{uuid.uuid4().hex[:6]}</b>有限公司"
    case_id = await new_case(stack, organisation)
    async with signed_in(stack, "王科长") as officer:
        # The case's first event rewrites its waits: the row below comes after it.
        for _ in range(50):
            if _row_of((await officer.get("/work")).text, case_id):
                break
            await asyncio.sleep(0.1)
    due = datetime(2020, 4, 30, 16, 0, tzinfo=UTC)  # 2020-05-01 00:00 in Beijing
    with stack.services.registry.begin() as conn:
        conn.execute(
            insert(table_of(WaitRow)),
            {
                "case_id": case_id, "event_key": "test#overdue", "role": "district_officer",
                "who": "", "action": "recommend", "description": "the recommendation",
                "since": due - timedelta(days=30), "due_at": due, "district": "binhai",
                "organisation_key": organisation_key(organisation),
            },
        )  # fmt: skip
    async with signed_in(stack, "王科长") as officer:
        html = (await officer.get("/work")).text
        row = _row_of(html, case_id)
        assert "已逾期" in row and "2020-05-01 00:00" in row, row
        assert "<b>" not in row and "&lt;b&gt;" in row
        # Oldest first: the wait since 2020 comes before this morning's plans.
        table = html.split('id="inbox"', 1)[1]
        assert table.index('href="/cases/') == table.index(f'href="/cases/{case_id}"')
    async with signed_in(stack, "李处长") as bureau:
        assert "已逾期" in _row_of((await bureau.get("/work")).text, case_id)  # all overdue


async def test_an_expert_sees_only_its_own_reviews(stack: Stack) -> None:
    async with signed_in(stack, "孙工") as expert:
        html = (await expert.get("/work")).text
        assert "暂无待办事项" in html or 'id="inbox"' in html
        assert "binhai-" not in html  # 孙工 is assigned nothing
