"""Recording a candidate is the district's (its own district) or the bureau's: any other role
is refused with one clear line, exit code 1, and no case is started."""

from __future__ import annotations

import json

import pytest

from tests.cli.stack import APPLICANT, DISTRICT_OFFICER, Stack

pytestmark = pytest.mark.devserver


def test_an_applicant_may_not_record_a_candidate(stack: Stack, org: str) -> None:
    result = stack.cli(
        "survey", "add", "--name", org, "--district", "滨海新区", "--direction", "ai", "--json",
        as_=APPLICANT,
    )  # fmt: skip
    assert result.exit_code == 1, result.stdout
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "error: permission denied: 'survey' needs the role bureau_officer or district_officer; "
        "赵经理 acts as applicant"
    )
    assert "not started" in lines[0]
    assert org not in stack.cli("list", "--json").stdout


def test_a_district_typed_to_say_who_imports_is_refused(stack: Stack, tmp_path) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("单位名称,所在区,主要方向\n天津某公司,滨海新区,ai\n", encoding="utf-8")
    result = stack.cli("survey", "import", str(sheet), "--district", "滨海新区")
    assert (result.exit_code, result.stdout) == (2, "")
    assert "identity now comes from the signed-in account" in result.stderr


def test_a_district_officer_may_not_record_a_candidate_of_another_district(
    stack: Stack, org: str, tmp_path
) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"单位名称,所在区,主要方向\n{org},和平区,ai\n", encoding="utf-8")
    result = stack.cli("survey", "import", str(sheet), "--json", as_=DISTRICT_OFFICER)
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["started"] == []
    assert [f["line"] for f in summary["failed"]] == [2]
    assert "王科长 is a district officer of binhai" in summary["failed"][0]["reason"]
