"""A creation plan to submit from the CLI: a small real PDF (the API keeps only documents)."""

from __future__ import annotations

import tempfile
from pathlib import Path

PDF = b"%PDF-1.7\n% idri test plan\n%%EOF\n"


def plan_pdf() -> str:
    """The path of a small PDF named ``plan.pdf`` (written once per process)."""
    path = Path(tempfile.gettempdir()) / "idri-cli-tests" / "plan.pdf"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(PDF)
    return str(path)
