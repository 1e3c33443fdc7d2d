"""择优 and the ministry's call with ``idri`` alone: ``idri round``, ``idri decide --batch``,
``idri national nominate``, ``idri evaluate open --reason``."""

from __future__ import annotations

import uuid

import pytest

from tests.cli.plan_file import plan_pdf
from tests.cli.stack import (
    BUREAU,
    CRITERIA,
    DISTRICT_OFFICER,
    PANEL,
    Stack,
    new_case,
    wait_for_stage,
)

pytestmark = pytest.mark.devserver


def _reviewed(
    stack: Stack, *, inspection: str = "pass", criteria: tuple[str, ...] = CRITERIA
) -> str:
    case = new_case(stack, f"天津择优测试{uuid.uuid4().hex[:6]}有限公司")
    steps: list[tuple[str, tuple[str, ...]]] = [
        (DISTRICT_OFFICER, ("plan", "submit", case, "--file", plan_pdf())),
        (DISTRICT_OFFICER, ("recommend", case, "--opinion", "推荐")),
        (BUREAU, ("review", "assign", case, *(x for e in PANEL for x in ("--expert", e)))),
        *((e, ("review", "submit", case, *criteria, "--opinion", "好")) for e in PANEL),
        (BUREAU, ("inspect", case, "--result", inspection, "--note", "现场考查")),
    ]
    for who, step in steps:
        result = stack.cli(*step, as_=who)
        assert result.exit_code == 0, (who, step, result.stderr)
    return case


def test_the_round_is_ranked_and_a_batch_approved_with_one_notice(stack: Stack) -> None:
    """择优确定为市级工业设计研究院: `idri round` ranks by the aggregate score and says what each
    case needs; `idri decide --batch` approves none while one is not ready, then all at once."""
    high: tuple[str, ...] = ("--criterion", "capability=95", "--criterion", "team=95")
    high += ("--criterion", "service=95", "--criterion", "plan=95")
    good, failed = _reviewed(stack), _reviewed(stack, inspection="fail", criteria=high)
    year = str(stack.cli("status", good, "--json").json()["round_year"])

    rows = stack.cli("round", year, "--json").json()
    order = [r["case_id"] for r in rows if r["case_id"] in (good, failed)]
    assert order == [failed, good]
    shown = stack.cli("round", year)
    assert shown.exit_code == 0 and f"Round {year}: " in shown.stdout
    assert "best aggregate score first" in shown.stdout

    refused = stack.cli("decide", "--batch", year, "--outcome", "approve", good, failed,
                        "--reason", "择优")  # fmt: skip
    assert refused.exit_code == 1 and "nothing approved" in refused.stderr
    assert stack.cli("status", good, "--json").json()["stage"] == "under_review"

    other = _reviewed(stack)
    done = stack.cli("decide", "--batch", year, "--outcome", "approve", good, other,
                     "--reason", "择优", "--json").json()  # fmt: skip
    assert [s["stage"] for s in done["cases"]] == ["public_notice", "public_notice"]
    assert {s["notice"]["end"] for s in done["cases"]} == {done["notice"]["end"]}

    usage = stack.cli("decide", good, other, "--outcome", "approve", "--reason", "x")
    assert usage.exit_code == 2 and "--batch YEAR" in usage.stderr


def test_a_designated_institute_is_evaluated_out_of_cycle_and_nominated_when_eligible(
    stack: Stack,
) -> None:
    """不再具备建设工业设计研究院条件的，将从…名录中删除; 根据工业和信息化部统一部署 (稳定运行2年以上):
    a nomination days after designation is refused with the earliest day; the ministry's outcome
    keeps its command; an evaluation out of cycle needs a reason."""
    case = _reviewed(stack)
    assert stack.cli("decide", case, "--outcome", "approve", "--reason", "通过").exit_code == 0
    wait_for_stage(stack, case, "designated")

    nominated = stack.cli("national", "nominate", case, "--call", "工信部通知",
                          "--advantage", "行业领先", "--service", "服务良好")  # fmt: skip
    assert nominated.exit_code == 1 and "2 years of stable operation" in nominated.stderr
    outcome = stack.cli("national", case, "--result", "designated")
    assert outcome.exit_code == 1 and "stage 'designated'" in outcome.stderr

    without = stack.cli("evaluate", "open", case)
    assert without.exit_code == 1 and "--reason" in without.stderr
    opened = stack.cli("evaluate", "open", case, "--reason", "举报：团队解散", "--json")
    assert opened.exit_code == 0, opened.stderr
    assert opened.json()["stage"] == "under_evaluation"
    history = stack.cli("history", case, "--json").json()
    assert history[-1]["event"] == "open_evaluation_out_of_cycle"
    assert "举报：团队解散" in history[-1]["reason"]
