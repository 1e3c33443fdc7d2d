"""``idri survey import``: every row checked first, bad rows reported by line and reason, nothing
imported until the sheet is clean (or --skip-invalid), and never a second case for the same
organisation, even when the same sheet is imported again."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.cli.stack import Stack

pytestmark = pytest.mark.devserver

HEADER = ["单位名称", "所在区", "主要方向", "联系人", "邮箱", "已有资质", "建设意愿"]


def _rows(tag: str) -> list[list[str]]:
    return [
        HEADER,
        [f"天津甲设计{tag}", "滨海新区", "航空航天", "刘一", "liu@example.cn", "市级工业设计中心；高校合作", "是"],
        [f"天津乙设计{tag}", "Binhia", "ai", "", "", "", ""],
        [f"天津丙设计{tag}", "河西", "新材料", "陈二", "not-an-address", "", "yes"],
        [f"天津丁设计{tag}", "nankai", "集成电路", "", "", "", "否"],
        [f"天津甲设计{tag}", "和平区", "steel", "", "", "", ""],
    ]  # fmt: skip


def _csv(path: Path, rows: list[list[str]]) -> Path:
    import csv

    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        csv.writer(stream).writerows(rows)
    return path


def _xlsx(path: Path, rows: list[list[str]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


@pytest.mark.parametrize(("kind", "unit"), [("csv", "line"), ("xlsx", "row")])
def test_an_invalid_sheet_is_reported_row_by_row_and_nothing_is_imported(
    stack: Stack, tmp_path: Path, kind: str, unit: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = _rows(tag)
    sheet = (_csv if kind == "csv" else _xlsx)(tmp_path / f"survey.{kind}", rows)

    result = stack.cli("survey", "import", str(sheet))

    assert result.exit_code == 1
    problems = result.stderr.strip().splitlines()
    assert problems[0].startswith(
        f"survey.{kind} {unit} 3: unknown district 'Binhia'; did you mean 滨海新区"
    )
    assert problems[1] == (
        f"survey.{kind} {unit} 4: the contact's e-mail address 'not-an-address' is not one "
        "plain address like a@b.cn (one address only: no name, list, spaces or line breaks)"
    )
    assert problems[2] == f"survey.{kind} {unit} 6: the same organisation as {unit} 2"
    assert problems[3].startswith("error: nothing imported: 3 invalid")
    assert f"--skip-invalid to import the valid {unit}(s) (2)" in problems[3]
    listed = stack.cli("list", "--json").json()
    assert not any(tag in r["organisation"] for r in listed)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_skip_invalid_imports_the_valid_rows_once(stack: Stack, tmp_path: Path, kind: str) -> None:
    tag = uuid.uuid4().hex[:6]
    sheet = (_csv if kind == "csv" else _xlsx)(tmp_path / f"survey.{kind}", _rows(tag))

    first = stack.cli("survey", "import", str(sheet), "--skip-invalid", "--json").json()

    assert [s["line"] for s in first["started"]] == [2, 5]
    assert [p["line"] for p in first["invalid"]] == [3, 4, 6]
    started = {s["case_id"] for s in first["started"]}
    statuses = [stack.cli("status", c, "--json").json() for c in sorted(started)]
    by_org = {s["organisation"]: s for s in statuses}
    assert by_org[f"天津甲设计{tag}"]["district"] == "binhai"
    assert by_org[f"天津丁设计{tag}"]["direction"] == "integrated_circuits"

    again = stack.cli("survey", "import", str(sheet), "--skip-invalid", "--json").json()

    assert again["started"] == []
    assert {e["case_id"] for e in again["existing"]} == started
    listed = stack.cli("list", "--json").json()
    assert sorted(r["case_id"] for r in listed if tag in r["organisation"]) == sorted(started)


def test_a_clean_sheet_imports_every_row(stack: Stack, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = [["organisation", "district", "direction"]] + [
        [f"Tianjin Design {tag} {n}", "Xiqing", "new energy"] for n in range(5)
    ]
    sheet = _csv(tmp_path / "clean.csv", rows)
    result = stack.cli("survey", "import", str(sheet))
    assert result.exit_code == 0, result.stderr
    assert "5 started, 0 already recorded" in result.stdout
    listed = stack.cli("list", "--district", "西青区", "--direction", "new_energy", "--json").json()
    assert sum(tag in r["organisation"] for r in listed) == 5


def test_check_only_checks(stack: Stack, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    sheet = _csv(tmp_path / "check.csv", _rows(tag))
    result = stack.cli("survey", "import", str(sheet), "--check", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["valid"] == 2 and len(summary["invalid"]) == 3 and summary["started"] == []


def test_a_sheet_without_the_needed_columns_is_refused(stack: Stack, tmp_path: Path) -> None:
    sheet = _csv(tmp_path / "wrong.csv", [["name", "city"], ["x", "Tianjin"]])
    result = stack.cli("survey", "import", str(sheet))
    assert result.exit_code == 1
    assert "line 1: missing column(s) district, direction (found: name, city)" in result.stderr
