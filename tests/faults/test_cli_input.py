"""Rule: what an operator types is either understood or refused with one clear line; no input
makes the CLI fail with a traceback. Property tests over the parsers the commands use (district
and direction names, dates, durations, case ids) and over a whole command that needs no server
(``idri calendar notice-end``)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import typer
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from idri.cli import build_app
from idri.cli._common import normalise_case_id, parse_date
from idri.settings import parse_duration
from models.catalog import DIRECTIONS, DISTRICTS, Catalogue, Entry, UnknownEntry

EXAMPLES = settings(max_examples=200, deadline=None)
huge = st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.integers(1_000, 30_000))
typed = st.one_of(st.text(), huge)
"""Anything: every script, control characters, 100,000 characters."""


def _spellings(entry: Entry) -> list[str]:
    return [
        entry.code,
        entry.zh,
        entry.en,
        entry.en.upper(),
        f"  {entry.zh} ",
        entry.code.replace("_", "-"),
    ]


@pytest.mark.parametrize("catalogue", [DISTRICTS, DIRECTIONS], ids=["districts", "directions"])
@EXAMPLES
@given(text=typed)
@example(text="")
@example(text="滨海")
@example(text="区")
def test_a_catalogue_finds_an_entry_or_says_what_is_unknown(
    catalogue: Catalogue, text: str
) -> None:
    try:
        entry = catalogue.find(text)
    except UnknownEntry as error:
        message = str(error)
        assert message.startswith(f"unknown {catalogue.kind} "), message
        assert f"idri {catalogue.kind}s" in message, "the refusal says where the list is"
    else:
        assert entry in catalogue.entries


@pytest.mark.parametrize("catalogue", [DISTRICTS, DIRECTIONS], ids=["districts", "directions"])
def test_every_spelling_of_every_entry_is_found(catalogue: Catalogue) -> None:
    for entry in catalogue.entries:
        for spelling in _spellings(entry):
            assert catalogue.find(spelling) == entry, spelling


@EXAMPLES
@given(text=typed)
@example(text="2025-02-29")
@example(text="0000-01-01")
@example(text="10000-01-01")
@example(text="２０２５-０６-０３")
def test_a_date_is_understood_or_refused_with_an_example(text: str) -> None:
    try:
        parsed = parse_date(text, "--deadline")
    except typer.BadParameter as error:
        assert "--deadline must be an ISO date like 2025-06-30" in str(error)
    else:
        assert isinstance(parsed, date)


@EXAMPLES
@given(day=st.dates())
def test_every_calendar_date_is_understood(day: date) -> None:
    assert parse_date(f" {day.isoformat()} ", "START") == day


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


@EXAMPLES
@given(
    text=st.one_of(
        typed,
        st.builds(
            lambda n, unit: f"{n}{unit}",
            st.integers(0, 10**6),
            st.sampled_from(["", "ms", "s", "m", "h", "d", " s", "x", "sec"]),
        ),
    )
)
@example(text="20s")
@example(text="1.5.5s")
def test_a_duration_is_understood_or_refused_with_an_example(text: str) -> None:
    # Durations past timedelta's range have their own test below.
    assume(not _beyond_timedelta(text))
    try:
        parsed = parse_duration(text)
    except ValueError as error:
        assert "use e.g. 20s, 5m, 2h, 1d" in str(error)
    else:
        assert isinstance(parsed, timedelta) and parsed >= timedelta(0)


def _beyond_timedelta(text: str) -> bool:
    match = DURATION.match(text)
    if not match:
        return False
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[match.group(2)]
    return float(match.group(1)) * unit >= timedelta.max.total_seconds()


@pytest.mark.parametrize("text", ["1000000000d", "1" + "0" * 400 + "s"])
def test_a_duration_too_long_for_the_calendar_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@EXAMPLES
@given(text=typed)
def test_a_case_id_is_taken_as_typed_or_without_its_workflow_prefix(text: str) -> None:
    normalised = normalise_case_id(text)
    assert normalised == text.strip().removeprefix("institute-")


# --- A whole command ---------------------------------------------------------------------------

runner = CliRunner()


def notice_end(start: str, days: int) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(
        build_app(), ["calendar", "notice-end", start, "--days", str(days)], catch_exceptions=True
    )
    exception = None if isinstance(result.exception, SystemExit) else result.exception
    return result.exit_code, result.stderr, exception


@settings(max_examples=60, deadline=None)
@given(
    start=st.one_of(typed, st.dates(max_value=date(9000, 1, 1)).map(date.isoformat)),
    days=st.integers(-5, 60),
)
@example(start="2024-09-27", days=5)
@example(start="2024-09-27", days=0)
def test_notice_end_answers_a_date_or_one_line_of_error(start: str, days: int) -> None:
    code, stderr, exception = notice_end(start, days)
    assert exception is None, f"{exception!r} escaped for {start!r} {days}"
    if code == 0:
        return
    assert code in (1, 2), code
    if code == 1:
        assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr


def test_a_notice_at_the_end_of_the_calendar_is_refused_in_one_line() -> None:
    code, stderr, exception = notice_end("9999-12-30", 5)
    assert exception is None, f"{exception!r} escaped"
    assert code == 1 and stderr.startswith("error: ")
