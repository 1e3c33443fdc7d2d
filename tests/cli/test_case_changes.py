"""The commands of a years-long case against a real ``idri up``: ``idri willing`` (企业自愿),
``idri contact``, ``idri deadline extend``, and the 错位发展 warning of ``survey import``."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import pytest

from tests.cli.stack import DISTRICT_OFFICER, Stack, new_case

pytestmark = pytest.mark.devserver


def test_survey_import_warns_of_duplicate_construction_per_line(
    stack: Stack, tmp_path: Path
) -> None:
    """坚持错位发展，避免重复建设: a sheet row in the district and direction of an existing case is
    imported with a warning naming that case, and the case keeps it."""
    tag = uuid.uuid4().hex[:6]
    first = new_case(stack, f"天津先行{tag}有限公司", district="宁河区", direction="钢铁")
    sheet = tmp_path / "survey.csv"
    with sheet.open("w", encoding="utf-8-sig", newline="") as stream:
        csv.writer(stream).writerows(
            [["单位名称", "所在区", "主要方向"], [f"天津后来{tag}有限公司", "宁河区", "钢铁"]]
        )
    result = stack.cli("survey", "import", str(sheet), as_="李处长")
    assert result.exit_code == 0, result.stderr
    assert "line 2" in result.stderr and "错位发展" in result.stderr and first in result.stderr
    answer = stack.cli("survey", "import", str(sheet), "--json")
    assert answer.json()["existing"], "imported once"


def test_willing_contact_and_deadline_commands(stack: Stack, tmp_path: Path) -> None:
    """企业自愿, then the contact changed with its old value kept; the bureau extends the round
    deadline; a bad date is a usage error and changes nothing."""
    tag = uuid.uuid4().hex[:6]
    case = str(
        stack.cli(
            "survey", "add", "--name", f"天津意愿{tag}有限公司", "--district", "滨海新区",
            "--direction", "ai", "--not-willing", "--json", as_=DISTRICT_OFFICER,
        ).json()["case_id"]
    )  # fmt: skip
    status = stack.cli("status", case, as_=DISTRICT_OFFICER)
    for _ in range(40):
        if "Willing" in status.stdout:
            break
        status = stack.cli("status", case, as_=DISTRICT_OFFICER)
    assert "Willing" in status.stdout and "企业自愿" in status.stdout
    plan = tmp_path / "创建方案.pdf"
    plan.write_bytes(b"%PDF-1.4\n%plan\n")
    refused = stack.cli("plan", "submit", case, "--file", str(plan), as_=DISTRICT_OFFICER)
    assert refused.exit_code == 1 and "企业自愿" in refused.stderr

    done = stack.cli("willing", case, "--yes", "--note", "企业来函", "--json", as_=DISTRICT_OFFICER)
    assert done.json()["willing"] is True
    changed = stack.cli(
        "contact", case, "--email", "new@example.cn", "--json", as_=DISTRICT_OFFICER
    ).json()
    assert changed["case_id"] == case
    history = stack.cli("history", case, "--json").json()
    assert history[-1]["event"] == "change_contact" and "new@example.cn" in history[-1]["reason"]

    round_year = changed["round_year"]
    bad = stack.cli(
        "deadline", "extend", case, "--deadline", "round", "--until", "5/5", "--reason", "x"
    )
    assert bad.exit_code == 2 and "ISO date" in bad.stderr
    ok = stack.cli(
        "deadline", "extend", case, "--deadline", "round", "--until", f"{round_year}-05-10",
        "--reason", "区里申请延期",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.stderr
    assert "round deadline extended" in ok.stdout
