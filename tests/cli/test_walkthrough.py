"""A case from survey to designation with nothing but ``idri`` commands, found afterwards by the
search attributes (``idri list``, ``temporal workflow list``) and in the registry."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from pathlib import Path

import pytest

from tests.cli.plan_file import plan_pdf
from tests.cli.stack import BUREAU, DISTRICT_OFFICER, Stack, wait_for_stage

pytestmark = pytest.mark.devserver


def test_a_case_goes_from_survey_to_designation_by_cli_alone(
    stack: Stack, org: str, tmp_path: Path
) -> None:
    added = stack.cli(
        "survey", "add", "--name", org, "--district", "滨海新区", "--direction", "Aerospace",
        "--contact", "contact@example.cn", "--qualification", "市级工业设计中心", "--json",
        as_=DISTRICT_OFFICER,
    ).json()  # fmt: skip
    case = added["case_id"]
    assert case.startswith("binhai-")

    plan = tmp_path / "创建方案.pdf"
    plan.write_bytes(b"%PDF-1.7 creation plan")
    submitted = stack.cli("plan", "submit", case, "--file", str(plan), as_=DISTRICT_OFFICER)
    assert submitted.exit_code == 0, submitted.stderr
    assert hashlib.sha256(plan.read_bytes()).hexdigest() in submitted.stdout

    steps: list[tuple[str, tuple[str, ...]]] = [
        (DISTRICT_OFFICER, ("recommend", case, "--opinion", "推荐：设计能力突出", "--national")),
        (BUREAU, ("review", "assign", case, "--expert", "张教授", "--expert", "陈工")),
        ("张教授", ("review", "submit", case, "--score", "88", "--opinion", "好")),
        ("陈工", ("review", "submit", case, "--score", "91", "--opinion", "很好")),
        (BUREAU, ("inspect", case, "--result", "pass", "--note", "场地、团队到位")),
    ]
    for who, step in steps:
        result = stack.cli(*step, as_=who)
        assert result.exit_code == 0, (who, step, result.stderr)

    decided = stack.cli(
        "decide", case, "--outcome", "approve", "--reason", "综合评价通过", "--json"
    ).json()
    assert decided["stage"] == "public_notice"
    assert decided["notice"]["end"] > decided["notice"]["start"]

    status = wait_for_stage(stack, case, "designated")
    assert status["designated_at"] and status["next_evaluation_due"]

    history = stack.cli("history", case, "--json").json()
    events = [(h["event"], h["actor"], h["role"]) for h in history]
    assert ("submit_plan", "王科长", "district_officer") in events
    assert ("submit_review", "陈工", "expert") in events
    assert ("assign_expert", "李处长", "bureau_officer") in events
    assert ("approve", "李处长", "bureau_officer") in events
    assert events[-1][:2] == ("close_notice", "idri")
    plan_event = next(h for h in history if h["event"] == "submit_plan")
    assert plan.name in plan_event["reason"]

    # The Web UI's filter and the Temporal CLI see the same search attributes.
    listed = _eventually(lambda: stack.cli("list", "--stage", "designated", "--json").json(), case)
    row = next(r for r in listed if r["case_id"] == case)
    assert (row["organisation"], row["district"], row["direction"]) == (org, "binhai", "aerospace")
    temporal = _eventually(
        lambda: json.loads(
            stack.run(
                "temporal", "workflow", "list", "--address", stack.address,
                "--query", "IdriStage='designated'", "--output", "json",
            ).stdout or "[]"
        ),
        case,
    )  # fmt: skip
    assert any(w["execution"]["workflowId"] == f"institute-{case}" for w in temporal)

    registry = stack.cli("registry", "--format", "json").json()
    entry = next(i for i in registry if i["case_id"] == case)
    assert entry["level"] == "municipal" and entry["designated_at"] == status["designated_at"][:10]
    rows = list(csv.DictReader(io.StringIO(stack.cli("registry", "--format", "csv").stdout)))
    assert any(r["case_id"] == case and r["organisation"] == org for r in rows)


def _eventually(read, case: str, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """Visibility is eventually consistent: read until the case shows up."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if case in json.dumps(found, ensure_ascii=False) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_survey_add_prints_the_case_id_and_the_next_step(stack: Stack, org: str) -> None:
    result = stack.cli(
        "survey", "add", "--name", org, "--district", "hexi", "--direction", "新材料"
    )
    assert result.exit_code == 0, result.stderr
    assert "case hexi-" in result.stdout and "idri plan submit" in result.stdout


def test_an_objection_dismissed_after_the_notice_leads_to_designation(
    stack: Stack, org: str
) -> None:
    case = _in_public_notice(stack, org)
    lodged = stack.cli("object", case, "--by", "某公众", "--reason", "数据存疑")
    assert lodged.exit_code == 0, lodged.stderr
    wait_for_stage(stack, case, "investigating")
    resolved = stack.cli(
        "objection", "resolve", case, "--dismissed", "--reason", "经核查不成立", "--json"
    ).json()
    assert resolved["stage"] == "designated"


def test_an_upheld_objection_rejects_and_closes_the_case(stack: Stack, org: str) -> None:
    case = _in_public_notice(stack, org)
    stack.cli("object", case, "--by", "某公众", "--reason", "材料造假")
    upheld = stack.cli("objection", "resolve", case, "--upheld", "--reason", "属实")
    assert upheld.exit_code == 0, upheld.stderr
    assert wait_for_stage(stack, case, "rejected")["allowed_actions"] == []

    again = stack.cli("withdraw", case, "--reason", "too late")
    assert again.exit_code == 1
    assert f"case {case} is closed (stage 'rejected')" in again.stderr


def _in_public_notice(stack: Stack, org: str) -> str:
    case = stack.cli(
        "survey", "add", "--name", org, "--district", "滨海", "--direction", "ai", "--json"
    ).json()["case_id"]
    steps: list[tuple[str, tuple[str, ...]]] = [
        (DISTRICT_OFFICER, ("plan", "submit", case, "--file", plan_pdf())),
        (DISTRICT_OFFICER, ("recommend", case, "--opinion", "推荐")),
        (BUREAU, ("review", "assign", case, "--expert", "张教授")),
        # A review received on paper, entered by the bureau for the expert.
        (
            BUREAU,
            ("review", "submit", case, "--expert", "张教授", "--score", "80", "--opinion", "可"),
        ),
        (BUREAU, ("inspect", case, "--result", "pass", "--note", "ok")),
        (BUREAU, ("decide", case, "--outcome", "approve", "--reason", "通过")),
    ]
    for who, step in steps:
        result = stack.cli(*step, as_=who)
        assert result.exit_code == 0, (who, step, result.stderr)
    return case
