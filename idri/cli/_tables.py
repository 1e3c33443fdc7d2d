"""Tables that stay usable on a narrow terminal or a pipe (80 columns).

Rich shrinks a table that is too wide by wrapping its wrappable columns and then cutting every
column with an ellipsis, ids and times among them. Here a table says which columns must stay
whole (ids, codes, stages, times: never wrapped, never cut), how narrow a wrapped column may get,
and which columns to leave out first when even that does not fit; what was left out is named
under the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True)
class Col:
    """One column of a fitted table."""

    header: str
    whole: bool = False
    """An id, code, stage or time: shown whole on one line, however narrow the terminal."""
    words: bool = False
    """Codes with a note (``under_evaluation (terminated)``): wrapped between words only, each
    word whole; the column is at least as wide as its longest word."""
    drop: int = 0
    """0: always shown; otherwise left out when the width is short, the highest first."""
    min_width: int = 8
    """The narrowest a wrapped column may be made (a whole column is as wide as its text)."""
    justify: Literal["left", "right"] = "left"


EDGE = 3
"""Cells each column adds to a Rich table with the default box: its padding and a rule."""


def print_fitted(out: Console, columns: Sequence[Col], rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` (Rich markup, one string per column) in ``out``'s width, leaving out the
    least important columns when the others would not fit, and saying which."""
    from rich.table import Column, Table

    shown = _fitting(columns, rows, out.width)
    table = Table(
        *(
            Column(
                c.header,
                no_wrap=c.whole,
                overflow="fold",
                min_width=_longest_word(c, rows, i)
                if c.words
                else None
                if c.whole
                else c.min_width,
                justify=c.justify,
            )
            for i, c in ((i, columns[i]) for i in shown)
        )
    )
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    out.print(table)
    left_out = [" ".join(columns[i].header.split()) for i in range(len(columns)) if i not in shown]
    if left_out:
        out.print(
            f"[dim]left out at {out.width} columns: {', '.join(left_out)} "
            f"(a wider terminal or --json shows them)[/]",
            soft_wrap=False,  # a note, wrapped in the width like the table
        )


def _fitting(columns: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """The indexes of the columns to show: all, less the droppable ones (highest ``drop``
    first) while the whole columns at full width and the others at their minimum overflow."""
    from rich.text import Text

    def need(i: int) -> int:
        column = columns[i]
        if column.words:
            return _longest_word(column, rows, i) + EDGE
        if not column.whole:
            return column.min_width + EDGE
        cells = [Text.from_markup(row[i]).cell_len for row in rows]
        header = max(len(line) for line in column.header.splitlines())
        return max([header, *cells]) + EDGE

    shown = list(range(len(columns)))
    droppable = sorted((i for i in shown if columns[i].drop), key=lambda i: -columns[i].drop)
    while sum(need(i) for i in shown) + 1 > width and droppable:
        shown.remove(droppable.pop(0))
    return shown


def _longest_word(column: Col, rows: Sequence[Sequence[str]], i: int) -> int:
    from rich.text import Text

    words = [w for row in rows for w in Text.from_markup(row[i]).plain.split()]
    return max(len(w) for w in [*column.header.split(), *words])
