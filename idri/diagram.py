"""Keep the README's state diagram generated from the lifecycle table.

``python -m idri.diagram`` prints it; ``--write-readme`` rewrites the README's diagram block.
"""

from __future__ import annotations

import sys
from pathlib import Path

from models.lifecycle import mermaid_diagram

BEGIN, END = "<!-- diagram:begin -->", "<!-- diagram:end -->"


def render_block() -> str:
    return f"{BEGIN}\n```mermaid\n{mermaid_diagram()}```\n{END}"


def write_readme(readme: Path) -> bool:
    """Replace the diagram block; return whether the file changed."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    updated = head + render_block() + tail
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
    return updated != text


if __name__ == "__main__":
    if "--write-readme" in sys.argv:
        changed = write_readme(Path(__file__).resolve().parent.parent / "README.md")
        print("README.md updated" if changed else "README.md already current")
    else:
        print(mermaid_diagram(), end="")
