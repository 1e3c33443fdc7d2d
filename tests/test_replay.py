"""Recorded histories of real cases must replay on the current workflow code.

A change that would break running cases (a new activity call, a reordered timer) makes this
fail; such a change goes behind ``workflow.patched``. Record new histories with
``IDRI_RECORD_HISTORIES=1 make test``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_is_a_recorded_history_for_each_major_path() -> None:
    names = {p.stem for p in HISTORIES}
    assert {"designation", "rejection", "objection_upheld", "rectification_passed"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    await Replayer(workflows=list(WORKFLOWS)).replay_workflow(history)
