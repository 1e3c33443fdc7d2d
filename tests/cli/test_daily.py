"""The daily work from the command line (issue 20, items 10 and 11), against a real ``idri up``:
``idri inbox``, ``idri list --waiting-on``, and the documents kept by ``idri plan submit --file``,
``idri document add|list|get``."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from tests.cli.stack import BUREAU, DISTRICT_OFFICER, HEXI_OFFICER, Stack, new_case
from tests.documents.samples import PDF, office

pytestmark = pytest.mark.devserver


def _inbox(stack: Stack, who: str, case: str) -> list[str]:
    items = stack.cli("inbox", "--json", as_=who).json()["items"]
    return [i["action"] for i in items if i["case_id"] == case]


def test_the_plan_file_is_kept_and_fetched_back_by_those_who_may_see_it(
    stack: Stack, org: str, tmp_path: Path
) -> None:
    case = new_case(stack, org)
    deadline = time.monotonic() + 10
    while _inbox(stack, DISTRICT_OFFICER, case) != ["submit_plan"]:  # the first event's row
        assert time.monotonic() < deadline
        time.sleep(0.1)
    plan = tmp_path / "创建方案.pdf"
    plan.write_bytes(PDF)
    submitted = stack.cli("plan", "submit", case, "--file", str(plan), as_=DISTRICT_OFFICER)
    assert submitted.exit_code == 0, submitted.stderr
    sha = hashlib.sha256(PDF).hexdigest()
    assert sha in submitted.stdout and f"{len(PDF)} bytes" in submitted.stdout
    assert _inbox(stack, DISTRICT_OFFICER, case) == ["recommend"]

    form = tmp_path / "推荐意见表.docx"
    form.write_bytes(office("word"))
    added = stack.cli(
        "document", "add", case, str(form), "--kind", "recommendation", as_=DISTRICT_OFFICER
    )
    assert added.exit_code == 0, added.stderr
    listed = stack.cli("document", "list", case, "--json", as_=BUREAU).json()
    assert [(d["name"], d["kind"]) for d in listed] == [
        ("创建方案.pdf", "plan"),
        ("推荐意见表.docx", "recommendation"),
    ]
    out = tmp_path / "fetched.pdf"
    got = stack.cli("document", "get", case, "创建方案.pdf", "--output", str(out), as_=BUREAU)
    assert got.exit_code == 0, got.stderr
    assert out.read_bytes() == PDF

    outsider = stack.cli("document", "get", case, "创建方案.pdf", "-o", str(out), as_=HEXI_OFFICER)
    assert outsider.exit_code == 1 and "permission denied" in outsider.stderr
    hostile = stack.cli("document", "get", case, "../../etc/passwd", as_=BUREAU)
    assert hostile.exit_code == 1 and "not a path" in hostile.stderr

    recommended = stack.cli("recommend", case, "--opinion", "推荐", as_=DISTRICT_OFFICER)
    assert recommended.exit_code == 0, recommended.stderr
    assert _inbox(stack, BUREAU, case) == ["assign_expert"]
    waiting = stack.cli("list", "--waiting-on", "bureau", "--json", as_=BUREAU).json()
    assert case in {row["case_id"] for row in waiting}


def test_a_file_that_is_not_a_document_is_refused_and_nothing_changes(
    stack: Stack, org: str, tmp_path: Path
) -> None:
    case = new_case(stack, org)
    script = tmp_path / "plan.pdf"
    script.write_bytes(b"#!/bin/sh\nrm -rf /\n")
    result = stack.cli("plan", "submit", case, "--file", str(script), as_=DISTRICT_OFFICER)
    assert result.exit_code == 1 and "by its content" in result.stderr
    assert stack.cli("status", case, "--json").json()["stage"] == "surveyed"
