"""The README's state diagram is generated from the lifecycle table and must match it."""

from __future__ import annotations

from pathlib import Path

from models.lifecycle import mermaid_diagram

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- diagram:begin -->", "<!-- diagram:end -->"


def readme_diagram() -> str:
    text = README.read_text(encoding="utf-8")
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return block.strip().removeprefix("```mermaid").removesuffix("```").strip() + "\n"


def test_the_readme_shows_the_current_state_diagram() -> None:
    assert readme_diagram() == mermaid_diagram(), (
        "README.md's diagram is out of date: run `make diagram`"
    )
