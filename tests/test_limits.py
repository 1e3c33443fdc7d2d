"""Rule (issue 18): names and free texts have a sane length and no control characters, an
e-mail address is one plain mailbox, and data shown in a spreadsheet or on a terminal cannot
act there (``models/limits.py``)."""

from __future__ import annotations

import pytest

from models.limits import (
    NAME_MAX,
    TEXT_MAX,
    mailbox_problem,
    name_problem,
    printable,
    spreadsheet_cell,
    text_problem,
)


@pytest.mark.parametrize(
    "name", ["天津智造工业设计研究有限公司", "Tianjin Design Co., Ltd. (滨海)", "a" * NAME_MAX]
)
def test_an_ordinary_name_is_accepted(name: str) -> None:
    assert name_problem(name, "the organisation's name") is None


def test_a_megabyte_name_is_refused_with_its_length_and_the_limit() -> None:
    problem = name_problem("A" * 1_000_000, "the organisation's name")
    assert problem == (
        "the organisation's name is too long (1000000 characters; at most 200): shorten it"
    )


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Evil\x1b[2J Co", "U+001B"),
        ("Evil\x1b]0;pwned\x07 Co", "U+001B"),
        ("Evil\u202eoC", "U+202E"),
        ("Evil\nBcc: victim@evil.example", "a line break"),
        ("Evil\x9b31m", "U+009B"),
    ],
)
def test_a_name_with_a_control_character_is_refused_saying_which(name: str, shown: str) -> None:
    problem = name_problem(name, "the expert's name")
    assert problem is not None
    assert problem.startswith(f"the expert's name holds a control character ({shown})")


def test_a_free_text_may_have_lines_but_no_escape_sequences_and_a_few_thousand_characters() -> None:
    assert text_problem("第一段。\n\n第二段：\t评分依据", "the review opinion") is None
    assert text_problem("x" * TEXT_MAX, "the review opinion") is None
    assert "too long" in (text_problem("x" * (TEXT_MAX + 1), "the review opinion") or "")
    assert "U+001B" in (text_problem("ok\x1b[8m hidden", "the review opinion") or "")
    assert text_problem("   ", "the review opinion") == "the review opinion must not be empty"


@pytest.mark.parametrize(
    "address", ["contact@example.cn", "zhang.san+idri@tju.edu.cn", "张三@例子.中国", None]
)
def test_one_plain_mailbox_is_accepted(address: str | None) -> None:
    assert mailbox_problem(address, "the contact's") is None


@pytest.mark.parametrize(
    "address",
    [
        "a@b.cn, victim@evil.example",
        "a@b.cn,victim@evil.example",
        "a@b.cn;victim@evil.example",
        "Zhao <a@b.cn>",
        "a@b.cn\r\nBcc: victim@evil.example",
        "a@b.cn\n",
        "not-an-address",
        "a@localhost",
        "a@b.cn@c.cn",
        "",
        "a" * 250 + "@b.cn",
    ],
)
def test_anything_but_one_plain_mailbox_is_refused(address: str) -> None:
    problem = mailbox_problem(address, "the contact's")
    assert problem is not None and problem.startswith("the contact's e-mail address")


def test_the_refusal_shows_the_address_with_its_line_break_escaped() -> None:
    problem = mailbox_problem("a@b.cn\nBcc: x@evil.example", "the expert's")
    assert problem is not None
    assert "'a@b.cn\\nBcc: x@evil.example'" in problem and "\n" not in problem


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.example","点击")', '\'=HYPERLINK("http://evil.example","点击")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\ufffd=1"),
        ("\r=1", "'\ufffd=1"),
        ("天津智造工业设计研究有限公司", "天津智造工业设计研究有限公司"),
        ("2025-06-03", "2025-06-03"),
    ],
)
def test_a_spreadsheet_cell_that_would_be_a_formula_starts_with_a_quote(
    cell: str, written: str
) -> None:
    assert spreadsheet_cell(cell) == written


def test_printable_replaces_escape_sequences_and_keeps_lines() -> None:
    assert (
        printable("Evil\x1b[2J\x1b]0;t\x07 Co\n第二行")
        == "Evil\ufffd[2J\ufffd]0;t\ufffd Co\n第二行"
    )
    assert printable("天津 Design") == "天津 Design"
