"""A refused action exits non-zero with one clear line on stderr, and changes nothing."""

from __future__ import annotations

import time
import uuid

import pytest

from idri.cli._common import IDENTITY_MOVED
from tests.cli.plan_file import plan_pdf
from tests.cli.stack import (
    APPLICANT,
    APPLICANT_ORG,
    BUREAU,
    DISTRICT_OFFICER,
    HEXI_OFFICER,
    Stack,
    new_case,
)

pytestmark = pytest.mark.devserver


def _refused(stack: Stack, case: str, *command: str, as_: str = BUREAU, code: int = 1) -> str:
    """Run a command that must be refused; check that the case did not change; return the line."""
    before = stack.cli("status", case, "--json").json()
    result = stack.cli(*command, as_=as_)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert stack.cli("status", case, "--json").json() == before
    return lines[0]


def _to_review(stack: Stack, case: str) -> None:
    for step in [
        ("plan", "submit", case, "--file", plan_pdf()),
        ("recommend", case, "--opinion", "推荐"),
    ]:
        result = stack.cli(*step, as_=DISTRICT_OFFICER)
        assert result.exit_code == 0, result.stderr


def test_an_action_the_stage_does_not_allow_names_the_stage_and_what_is_allowed(
    stack: Stack, org: str
) -> None:
    case = new_case(stack, org)
    line = _refused(stack, case, "recommend", case, "--opinion", "推荐", as_=DISTRICT_OFFICER)
    assert f"case {case} is in stage 'surveyed'" in line
    assert "allowed now: submit_plan, withdraw" in line


def test_an_expert_of_the_applicants_organisation_is_refused(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    _to_review(stack, case)
    expert = f"赵工{uuid.uuid4().hex[:4]}"
    stack.add_account(expert, "--role", "expert", "--org", f" {org} ", "--email", "z@x.example.cn")
    line = _refused(stack, case, "review", "assign", case, "--expert", expert)
    assert "conflict of interest" in line


def test_approval_without_reviews_says_what_is_missing(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    _to_review(stack, case)
    assert stack.cli("review", "assign", case, "--expert", "张教授").exit_code == 0
    line = _refused(stack, case, "decide", case, "--outcome", "approve", "--reason", "x")
    assert "reviews still missing from 张教授" in line and "no site inspection" in line


# --- Who may act: the account, not the command line ------------------------------------------------


def test_a_role_typed_on_the_command_line_is_refused(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    line = _refused(
        stack, case, "decide", case, "--outcome", "approve", "--reason", "x",
        "--role", "bureau_officer", as_=APPLICANT, code=2,
    )  # fmt: skip
    assert line == f"error: {IDENTITY_MOVED}"


def test_each_account_is_refused_what_its_role_may_not_do(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    _to_review(stack, case)
    assert stack.cli("review", "assign", case, "--expert", "张教授").exit_code == 0
    applicant = f"申请人{uuid.uuid4().hex[:4]}"
    stack.add_account(applicant, "--role", "applicant", "--org", org)
    inspect = ("inspect", case, "--result", "pass", "--note", "自己验收")

    for who in (applicant, DISTRICT_OFFICER):
        line = _refused(stack, case, *inspect, as_=who)
        assert line.startswith("error: permission denied: 'record_inspection' needs the role"), line
        assert f"{who} acts as" in line
    line = _refused(
        stack, case, "decide", case, "--outcome", "reject", "--reason", "x", as_="张教授"
    )
    assert line.startswith("error: permission denied: 'reject' needs the role"), line
    line = _refused(
        stack, case, "review", "submit", case, "--score", "90", "--opinion", "好", as_="陈工"
    )
    assert line == f"error: permission denied: 陈工 is not an expert assigned to case {case}"


def test_an_applicant_sees_its_own_organisations_case_only(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    assert stack.cli("status", case, as_=APPLICANT).stderr == (
        f"error: permission denied: {APPLICANT} speaks for {APPLICANT_ORG}; case {case} is not "
        "its case\n"
    )
    own = f"申请人{uuid.uuid4().hex[:4]}"
    stack.add_account(own, "--role", "applicant", "--org", org)
    assert stack.cli("status", case, "--json", as_=own).json()["organisation"] == org


def test_a_district_officer_of_another_district_is_refused(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    line = _refused(stack, case, "plan", "submit", case, "--file", plan_pdf(), as_=HEXI_OFFICER)
    assert "permission denied" in line and "belongs to binhai" in line, line


def test_an_expert_sees_only_the_cases_assigned_to_it(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    result = stack.cli("status", case, as_="陈工")
    assert (result.exit_code, result.stdout) == (1, "")
    assert (
        result.stderr
        == f"error: permission denied: 陈工 is not an expert assigned to case {case}\n"
    )


def test_a_bad_token_is_refused_with_how_to_sign_in(stack: Stack, org: str) -> None:
    result = stack.cli("status", "binhai-00000000", env={"IDRI_TOKEN": "not-a-token"})
    assert (result.exit_code, result.stdout) == (1, "")
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert "idri login" in line and "(the token came from IDRI_TOKEN)" in line


def test_an_unknown_case_is_named(stack: Stack) -> None:
    result = stack.cli("status", "binhai-00000000")
    assert result.exit_code == 1
    assert result.stderr == "error: there is no case 'binhai-00000000'\n"


def test_a_near_miss_district_gets_a_suggestion_and_starts_nothing(stack: Stack, org: str) -> None:
    result = stack.cli("survey", "add", "--name", org, "--district", "Binhia", "--direction", "ai")
    assert result.exit_code == 1
    assert "unknown district 'Binhia'; did you mean 滨海新区 (Binhai New Area)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_near_miss_direction_gets_a_suggestion(stack: Stack, org: str) -> None:
    result = stack.cli(
        "survey", "add", "--name", org, "--district", "hexi", "--direction", "aerospase"
    )
    assert result.exit_code == 1
    assert "did you mean 航空航天 (Aerospace)" in result.stderr


def test_the_same_organisation_never_gets_a_second_case(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    # Spacing and full-width characters do not make another organisation.
    again = stack.cli(
        "survey", "add", "--name", f"  {org} ".replace("天津", "天津 "), "--district", "binhai",
        "--direction", "新材料",
    )  # fmt: skip
    assert again.exit_code == 1
    assert f"already has case {case} (stage 'surveyed')" in again.stderr
    listed = stack.cli("list", "--district", "binhai", "--json").json()
    assert [r["case_id"] for r in listed].count(case) == 1


def test_a_re_application_after_a_closed_case_is_a_new_linked_case(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    assert stack.cli("withdraw", case, "--reason", "改年再报").exit_code == 0
    again = stack.cli("survey", "add", "--name", org, "--district", "binhai", "--direction", "ai")
    assert again.exit_code == 1 and f"name the earlier case {case}" in again.stderr
    second = stack.cli(
        "survey", "add", "--name", org, "--district", "binhai", "--direction", "ai",
        "--previous", case, "--json",
    ).json()  # fmt: skip
    assert second["case_id"] == f"{case}-2"
    status = stack.cli("status", second["case_id"], "--json").json()
    assert status["previous_case_id"] == case


def test_a_closed_case_takes_no_more_actions(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    assert stack.cli("withdraw", case, "--reason", "不再申报").exit_code == 0
    deadline = time.monotonic() + 10
    while _execution_status(stack, case) != "completed":  # its last mails may still be going
        assert time.monotonic() < deadline
        time.sleep(0.1)
    result = stack.cli("plan", "submit", case, "--file", plan_pdf(), as_=DISTRICT_OFFICER)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: case {case} is closed (stage 'withdrawn') and takes no more actions"
    )


def _execution_status(stack: Stack, case: str) -> str | None:
    listed = stack.cli("list", "--json").json()
    return next((r["status"] for r in listed if r["case_id"] == case), None)


def test_wrong_usage_is_typers_exit_status_2(stack: Stack) -> None:
    result = stack.cli("decide", "x", "--outcome", "maybe", "--reason", "r")
    assert result.exit_code == 2
    assert "maybe" in result.stderr
