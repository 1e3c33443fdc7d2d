"""Tables usable at 80 columns (a pipe, a narrow terminal) and at 120: every id, code, stage and
time whole on one line, long Chinese names wrapped, the least important columns left out and
named (issue 22, item 5). The tables are rendered from data shaped as the API answers it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from idri.cli import build_app
from idri.cli._render import show_cases, show_history, show_mail, show_registry, show_users
from models.catalog import DIRECTIONS, DISTRICTS

BOX = "┏┃┡│└"
"""How the lines of a table begin (the lines after it are notes and counts)."""
LONG = "天津滨海新区高端装备智能制造工业设计研究院有限责任公司"
"""A long organisation name, 27 characters (54 cells): no space to wrap at."""

CASES: list[dict[str, Any]] = [
    {
        "case_id": "binhai-3fa2c91d-2",
        "organisation": LONG,
        "district": "binhai",
        "direction": "equipment_manufacturing",
        "stage": "plan_submitted",
        "status": "running",
        "round_year": 2027,
        "due_at": "2027-04-29T16:00:00+00:00",
    },
    {
        "case_id": "xiqing-0b7e44a1",
        "organisation": "天津西青区智能网联新能源汽车工业设计中心",
        "district": "xiqing",
        "direction": "nev",
        "stage": "under_evaluation",
        "status": "terminated",
        "round_year": 2025,
        "due_at": None,
    },
]

HISTORY: list[dict[str, Any]] = [
    {
        "seq": 11,
        "at": "2025-06-03T02:00:07+00:00",
        "event": "dismiss_objection",
        "from_stage": "investigating",
        "to_stage": "designated",
        "actor": "李处长（天津市工业和信息化局产业发展处）",
        "role": "bureau_officer",
        "reason": "经核实，异议不成立：研发场地与申报材料一致，专职设计人员社保记录齐全",
    },
    {
        "seq": 12,
        "at": "2028-06-03T02:00:00+00:00",
        "event": "open_evaluation",
        "from_stage": "designated",
        "to_stage": "under_evaluation",
        "actor": "idri",
        "role": "system",
        "reason": "",
    },
]

MAIL: list[dict[str, Any]] = [
    {
        "created_at": "2025-06-03T02:00:00+00:00",
        "case_id": "binhai-3fa2c91d-2",
        "role": "district",
        "name": "",
        "address": None,
        "subject": f"【公示】{LONG}拟确定为市级工业设计研究院",
        "status": "undeliverable",
        "attempts": 12,
        "last_error": "no mailbox for district binhai (IDRI_DISTRICT_EMAILS)",
        "retry_at": "2025-06-03T03:00:00+00:00",
    },
    {
        "created_at": "2025-06-03T02:00:00+00:00",
        "case_id": "xiqing-0b7e44a1",
        "role": "applicant",
        "name": "赵经理",
        "address": "zhao.jingli@tianjin-binhai-design.example.cn",
        "subject": "审核通过",
        "status": "sent",
        "attempts": 1,
        "last_error": "",
        "retry_at": None,
    },
]

REGISTRY: list[dict[str, Any]] = [
    {
        "case_id": "binhai-3fa2c91d-2",
        "organisation": LONG,
        "district": "binhai",
        "direction": "equipment_manufacturing",
        "level": "municipal",
        "designated_at": "2025-06-10T16:00:00+00:00",
        "next_evaluation_due": "2028-06-10T16:00:00+00:00",
    }
]

USERS: list[dict[str, Any]] = [
    {
        "name": "王科长",
        "role": "district_officer",
        "district": "binhai",
        "organisation": "",
        "email": "",
        "enabled": True,
        "created_at": "2025-01-02T01:00:00+00:00",
    },
    {
        "name": "zhang.professor",
        "role": "expert",
        "district": "",
        "organisation": "天津大学机械工程学院工业设计系",
        "email": "zhang.professor@tju.example.edu.cn",
        "enabled": False,
        "created_at": "2025-01-02T01:00:00+00:00",
    },
]

Render = Callable[[], None]
TABLES: dict[str, tuple[Render, list[str]]] = {
    "list": (
        lambda: show_cases(CASES, ""),
        [
            "binhai-3fa2c91d-2",
            "xiqing-0b7e44a1",
            "plan_submitted",
            "under_evaluation",
            "2027-04-30",
        ],
    ),
    "history": (
        lambda: show_history(HISTORY),
        [
            *("2025-06-03 10:00", "2028-06-03 10:00", "dismiss_objection", "open_evaluation"),
            *("investigating →", "designated", "under_evaluation"),
        ],
    ),
    "mail": (
        lambda: show_mail(MAIL, total=2),
        ["binhai-3fa2c91d-2", "xiqing-0b7e44a1", "undeliverable", "sent"],
    ),
    "registry": (
        lambda: show_registry(REGISTRY),
        ["binhai-3fa2c91d-2", "2025-06-11", "2028-06-11"],
    ),
    "user list": (
        lambda: show_users(USERS),
        ["王科长", "zhang.professor", "district_officer", "expert"],
    ),
}


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", TABLES)
def test_a_table_keeps_every_id_time_and_stage_whole(
    name: str, width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    render, whole = TABLES[name]
    render()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines if line[:1] in BOX) <= width  # within the width
    assert "…" not in out  # nothing cut
    for text in whole:
        assert any(text in line for line in lines), (name, width, text, out)


def test_at_80_columns_the_long_name_wraps_and_mail_keeps_its_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    show_mail(MAIL, total=2)
    out = capsys.readouterr().out
    # Columns are left out, never squeezed to nothing: the reason a mail failed stays readable.
    assert all(word in out for word in ("no mailbox", "district", "binhai", "IDRI_DISTRICT"))
    assert "left out at 80 columns: " in out
    show_cases(CASES, "")
    assert "天津滨海新区" in capsys.readouterr().out


def test_at_120_columns_the_case_list_is_whole_and_mail_shows_when_and_what(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    show_cases(CASES, "")
    out = capsys.readouterr().out
    assert "left out" not in out and "滨海新区" in out and "2027" in out
    show_mail(MAIL, total=2)
    out = capsys.readouterr().out
    assert "│ 2025-06-03 10:00 │" in out and "【公示】" in out


@pytest.mark.parametrize(
    ("command", "codes"), [("districts", DISTRICTS), ("directions", DIRECTIONS)]
)
@pytest.mark.parametrize("width", ["80", "120"])
def test_the_catalogues_keep_their_codes_whole(command: str, codes: object, width: str) -> None:
    result = CliRunner().invoke(build_app(), [command], env={"COLUMNS": width})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= int(width)
    for entry in codes.entries:  # type: ignore[attr-defined]
        assert any(f"│ {entry.code} " in line for line in lines), entry.code
