"""Read-only commands: JSON that parses, the calendar, the catalogues, what ``idri status`` and
``idri --help`` load, and the message when the API cannot be reached."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idri.cli import build_app
from models.lifecycle import mermaid_diagram
from tests.cli.stack import Stack, imported_by, new_case

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_notice_end_counts_chinese_working_days() -> None:
    # 2024: National Day holiday 1-7 October, with 29 September and 12 October worked (调休).
    result = runner.invoke(build_app(), ["calendar", "notice-end", "2024-09-27", "--days", "5"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "2024-10-09"


def test_notice_end_as_json_warns_about_a_year_without_holiday_data() -> None:
    result = runner.invoke(build_app(), ["calendar", "notice-end", "2031-09-29", "--json"])
    data = json.loads(result.stdout)
    assert data["start"] == "2031-09-29" and data["working_days"] == 5
    assert len(data["warnings"]) == 1
    assert data["warnings"][0].startswith("no official holiday arrangement for 2031 yet")


def test_a_date_that_is_not_iso_is_a_usage_error() -> None:
    result = runner.invoke(build_app(), ["calendar", "notice-end", "27/09/2024"])
    assert result.exit_code == 2
    assert "ISO date" in result.stderr


def test_the_catalogues_list_as_json() -> None:
    districts = json.loads(runner.invoke(build_app(), ["districts", "--json"]).stdout)
    assert len(districts) == 16
    assert {"code": "binhai", "zh": "滨海新区", "en": "Binhai New Area"} in districts
    directions = json.loads(runner.invoke(build_app(), ["directions", "--json"]).stdout)
    assert {"code": "ai", "category": "emerging"}.items() <= directions[0].items()


def test_the_diagram_is_the_lifecycle_table() -> None:
    assert runner.invoke(build_app(), ["diagram"]).stdout == mermaid_diagram()


@pytest.mark.devserver
def test_status_and_history_print_parseable_json(stack: Stack, org: str) -> None:
    case = new_case(stack, org, district="红桥区", direction="steel")
    status = stack.cli("status", case, "--json").json()
    assert status["stage"] == "surveyed" and status["district"] == "hongqiao"
    assert status["deadline"]["kind"] == "round_reminder"
    assert status["deadline"]["at"].endswith("+08:00")
    history = stack.cli("history", case, "--json").json()
    assert [h["event"] for h in history] == ["created"]
    listed = stack.cli("list", "--stage", "surveyed", "--district", "hongqiao", "--json").json()
    assert any(r["case_id"] == case and r["organisation"] == org for r in listed)
    human = stack.cli("status", case)
    assert "Stage" in human.stdout and "surveyed" in human.stdout


@pytest.mark.devserver
def test_status_of_a_case_terminated_with_the_temporal_cli_says_so(stack: Stack, org: str) -> None:
    """Issue 18: ``temporal workflow terminate`` on a case, then ``idri status``: the case is
    reported as ended outside the lifecycle, with who and why, and no deadline; exit 0."""
    case = new_case(stack, org)
    terminated = stack.run(
        "temporal", "workflow", "terminate", "--address", stack.address,
        "--workflow-id", f"institute-{case}", "--reason", "clean-up by mistake",
    )  # fmt: skip
    assert terminated.returncode == 0, terminated.stderr

    status = stack.cli("status", case, "--json")
    assert status.exit_code == 0, status.stderr
    data = status.json()
    assert data["ended"]["how"] == "terminated"
    assert data["ended"]["reason"] == "clean-up by mistake"
    assert data["ended"]["identity"], "the terminating client's identity"
    assert data["ended"]["at"].endswith("+08:00")
    assert (data["stage"], data["deadline"], data["allowed_actions"]) == ("surveyed", None, [])
    human = stack.cli("status", case, env={"COLUMNS": "200"})  # the reason on one line
    assert human.exit_code == 0, human.stderr
    assert "workflow terminated outside the lifecycle" in human.stdout
    assert "clean-up by mistake" in human.stdout and "Next deadline" not in human.stdout
    listed = stack.cli("list", "--json").json()
    assert [r["status"] for r in listed if r["case_id"] == case] == ["terminated"]
    table = stack.cli("list", env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.stderr
    [row] = [line for line in table.stdout.splitlines() if case in line]
    assert "surveyed (terminated)" in row


@pytest.mark.devserver
def test_list_suggests_a_stage(stack: Stack) -> None:
    result = stack.cli("list", "--stage", "public-notise")
    assert result.exit_code == 1
    assert "unknown stage 'public-notise'; did you mean public_notice?" in result.stderr


@pytest.mark.devserver
def test_status_answers_without_heavy_imports(stack: Stack, org: str) -> None:
    """The real executable, as an operator types it, against the real API: neither Temporal nor
    the database nor a spreadsheet library is imported (its speed is measured by
    ``bench/cli_latency.py``, not here)."""
    case = stack.cli(
        "survey", "add", "--name", org, "--district", "hexi", "--direction", "oil", "--json",
    ).json()["case_id"]  # fmt: skip
    result = stack.run("idri", "status", case)
    assert result.returncode == 0, result.stderr
    assert org in result.stdout

    result, modules = imported_by("status", case, env=stack.env)
    assert result.returncode == 0, result.stderr
    assert "Stage" in result.stdout
    heavy = (
        *("temporalio", "workflows", "sqlalchemy", "sqlmodel", "openpyxl", "matplotlib"),
        *("jinja2", "alembic", "activities", "httpx"),
    )
    assert sorted(m for m in modules if m.split(".")[0] in heavy) == []


def test_help_does_not_import_the_temporal_sdk() -> None:
    probe = (
        "import sys\nfrom idri.cli import build_app\nbuild_app()\n"
        "print(sorted(m for m in ('temporalio', 'sqlalchemy', 'openpyxl', 'pydantic_settings')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_an_unreachable_api_is_exit_status_3_with_what_to_do(tmp_path: Path) -> None:
    from idri.devserver import free_port

    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(
        build_app(),
        ["status", "binhai-00000000"],
        env={"IDRI_API_URL": url, "IDRI_DATA_DIR": str(tmp_path), "IDRI_TOKEN": None},
    )
    assert result.exit_code == 3
    assert result.stderr == (
        f"error: cannot reach the idri API at {url} (connection refused); start it with "
        "`idri up` or set IDRI_API_URL\n"
    )


def test_starter_py_is_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "calendar", "notice-end", "2024-09-27"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "2024-10-09"


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(build_app(), ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"idri {version('idri')}"


def test_the_diagram_as_json_names_the_stages_and_holds_the_mermaid_text() -> None:
    result = runner.invoke(build_app(), ["diagram", "--json"])
    data = json.loads(result.stdout)
    assert data["diagram"] == mermaid_diagram()
    assert "public_notice" in data["stages"] and "delisted" in data["terminal"]


def test_durations_in_json_are_iso_8601() -> None:
    from datetime import timedelta

    from models.jsondata import jsonable

    spans = [timedelta(days=31), timedelta(seconds=20), timedelta(days=1, hours=2, minutes=3)]
    assert jsonable(spans) == ["P31D", "PT20S", "P1DT2H3M"]
    assert jsonable(timedelta(0)) == "PT0S"
