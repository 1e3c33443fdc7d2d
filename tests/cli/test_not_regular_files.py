"""A plan, a survey sheet or an arrangement must be a regular file: reading ``/dev/zero`` would
never end and a FIFO waits for a writer, so both are refused before anything is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idri.cli import build_app

runner = CliRunner()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_refused_as_a_plan() -> None:
    result = runner.invoke(build_app(), ["plan", "submit", "c1", "--file", "/dev/zero"])
    assert result.exit_code == 1
    assert "the plan /dev/zero is a device, FIFO or socket, not a regular file" in result.stderr


def test_a_fifo_is_refused_as_a_survey_sheet(tmp_path: Path) -> None:
    fifo = tmp_path / "sheet.csv"
    os.mkfifo(fifo)
    result = runner.invoke(build_app(), ["survey", "import", str(fifo)])
    assert result.exit_code == 1
    assert "not a regular file" in result.stderr
