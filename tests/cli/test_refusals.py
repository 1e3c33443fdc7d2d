"""A refused action exits non-zero with one clear line on stderr, and changes nothing."""

from __future__ import annotations

import time

import pytest

from tests.cli.stack import BUREAU, DISTRICT_OFFICER, Stack, new_case

pytestmark = pytest.mark.devserver


def _refused(stack: Stack, case: str, *command: str) -> str:
    """Run a command that must be refused; check that the case did not change; return the line."""
    before = stack.cli("status", case, "--json").json()
    result = stack.cli(*command)
    assert result.exit_code == 1, result.stdout
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert stack.cli("status", case, "--json").json() == before
    return lines[0]


def test_an_action_the_stage_does_not_allow_names_the_stage_and_what_is_allowed(
    stack: Stack, org: str
) -> None:
    case = new_case(stack, org)
    line = _refused(stack, case, "recommend", case, "--opinion", "推荐", *DISTRICT_OFFICER)
    assert f"case {case} is in stage 'surveyed'" in line
    assert "allowed now: submit_plan, withdraw" in line


def test_an_expert_from_the_applicant_is_refused(stack: Stack, org: str, tmp_path) -> None:
    case = new_case(stack, org)
    for step in [
        ("plan", "submit", case, "--file", __file__, *DISTRICT_OFFICER),
        ("recommend", case, "--opinion", "推荐", *DISTRICT_OFFICER),
    ]:
        assert stack.cli(*step).exit_code == 0
    line = _refused(
        stack, case, "review", "assign", case, "--expert", "赵工", "--org", f" {org} ", *BUREAU
    )
    assert "conflict of interest" in line


def test_approval_without_reviews_says_what_is_missing(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    for step in [
        ("plan", "submit", case, "--file", __file__, *DISTRICT_OFFICER),
        ("recommend", case, "--opinion", "推荐", *DISTRICT_OFFICER),
        ("review", "assign", case, "--expert", "张教授", "--org", "天津大学", *BUREAU),
    ]:
        assert stack.cli(*step).exit_code == 0
    line = _refused(stack, case, "decide", case, "--outcome", "approve", "--reason", "x", *BUREAU)
    assert "reviews still missing from 张教授" in line and "no site inspection" in line


def test_a_role_that_may_not_act_is_refused(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    line = _refused(stack, case, "plan", "submit", case, "--file", __file__, "--as", "李处长")
    assert "permission denied" in line and "bureau_officer" in line


def test_a_district_officer_of_another_district_is_refused(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    line = _refused(
        stack, case, "plan", "submit", case, "--file", __file__,
        "--as", "赵科长", "--role", "district_officer", "--district", "河西区",
    )  # fmt: skip
    assert "permission denied" in line and "belongs to binhai" in line


def test_a_district_officer_must_say_which_district(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    line = _refused(
        stack, case, "plan", "submit", case, "--file", __file__, "--as", "王", "--role",
        "district_officer",
    )  # fmt: skip
    assert "pass --district" in line


def test_an_unknown_case_is_named(stack: Stack) -> None:
    result = stack.cli("status", "binhai-00000000")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: there is no case 'binhai-00000000'; `idri list` shows the cases"
    )


def test_a_near_miss_district_gets_a_suggestion_and_starts_nothing(stack: Stack, org: str) -> None:
    result = stack.cli(
        "survey", "add", "--name", org, "--district", "Binhia", "--direction", "ai", *BUREAU
    )
    assert result.exit_code == 1
    assert "unknown district 'Binhia'; did you mean 滨海新区 (Binhai New Area)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_near_miss_direction_gets_a_suggestion(stack: Stack, org: str) -> None:
    result = stack.cli(
        "survey", "add", "--name", org, "--district", "hexi", "--direction", "aerospase", *BUREAU
    )
    assert result.exit_code == 1
    assert "did you mean 航空航天 (Aerospace)" in result.stderr


def test_the_same_organisation_never_gets_a_second_case(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    # Spacing and full-width characters do not make another organisation.
    again = stack.cli(
        "survey", "add", "--name", f"  {org} ".replace("天津", "天津 "), "--district", "binhai",
        "--direction", "新材料", *BUREAU,
    )  # fmt: skip
    assert again.exit_code == 1
    assert f"already has case {case} (stage 'surveyed')" in again.stderr
    listed = stack.cli("list", "--district", "binhai", "--json").json()
    assert [r["case_id"] for r in listed].count(case) == 1


def test_a_re_application_after_a_closed_case_is_a_new_linked_case(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    assert stack.cli("withdraw", case, "--reason", "改年再报", *BUREAU).exit_code == 0
    again = stack.cli(
        "survey", "add", "--name", org, "--district", "binhai", "--direction", "ai", *BUREAU
    )
    assert again.exit_code == 1 and f"pass --previous {case}" in again.stderr
    second = stack.cli(
        "survey", "add", "--name", org, "--district", "binhai", "--direction", "ai",
        "--previous", case, *BUREAU, "--json",
    ).json()  # fmt: skip
    assert second["case_id"] == f"{case}-2"
    status = stack.cli("status", second["case_id"], "--json").json()
    assert status["previous_case_id"] == case


def test_a_closed_case_takes_no_more_actions(stack: Stack, org: str) -> None:
    case = new_case(stack, org)
    assert stack.cli("withdraw", case, "--reason", "不再申报", *BUREAU).exit_code == 0
    deadline = time.monotonic() + 10
    while _execution_status(stack, case) != "completed":  # its last mails may still be going
        assert time.monotonic() < deadline
        time.sleep(0.1)
    result = stack.cli("plan", "submit", case, "--file", __file__, *DISTRICT_OFFICER)
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
