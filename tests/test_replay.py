"""Recorded histories of real cases must replay on the current workflow code.

A change that would break running cases (a new activity call, a reordered timer) makes this
fail; such a change goes behind ``workflow.patched``. Record new histories with
``IDRI_RECORD_HISTORIES=1 make test``; before that, move the current ones into a folder named
after the version they stand for (``v1/``: before the ``pages-by-worker`` patch; ``v2/``:
before ``mail-by-worker``; ``v3/``: before ``outbox-by-activities``), so every generation of
running cases keeps being replayed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from idri.codec import STRICT_CONVERTER
from idri.worker import WORKFLOWS
from models.records import ActivityName
from workflows.institute import (
    MAIL_BY_WORKER,
    OUTBOX_BY_ACTIVITIES,
    PAGES_BY_WORKER,
    workflow_id,
)

ROOT = Path(__file__).parent / "histories"
HISTORIES = sorted(ROOT.rglob("*.json"))
CURRENT = sorted(ROOT.glob("*.json"))
V1 = sorted((ROOT / "v1").glob("*.json"))
V2 = sorted((ROOT / "v2").glob("*.json"))
V3 = sorted((ROOT / "v3").glob("*.json"))


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT).with_suffix("")) for p in paths]


def _activities_and_patches(path: Path) -> tuple[list[str], list[str]]:
    """The activity types a history scheduled and the patch ids it recorded."""
    history = json.loads(path.read_text(encoding="utf-8"))
    activities, patches = [], []
    for event in history["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled:
            activities.append(scheduled["activityType"]["name"])
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_patch":
            [payload] = marker["details"]["patch-data"]["payloads"]
            patches.append(json.loads(base64.b64decode(payload["data"]))["id"])
    return activities, patches


@pytest.mark.parametrize("generation", [CURRENT, V1, V2, V3], ids=["current", "v1", "v2", "v3"])
def test_there_is_a_recorded_history_for_each_major_path(generation: list[Path]) -> None:
    names = {p.stem for p in generation}
    assert {"designation", "rejection", "objection_upheld", "rectification_passed"} <= names


def test_each_generation_publishes_and_mails_as_it_claims() -> None:
    """The generations are what they claim, so the replay test covers both paths of each patch:
    v1 publishes and mails by activity, v2 mails by activity and leaves the pages to the worker,
    v3 leaves both to the worker, current cases publish and mail by activity again."""
    for name in ("designation", "delisting"):
        activities, patches = _activities_and_patches(ROOT / "v1" / f"{name}.json")
        assert ActivityName.PUBLISH in activities
        assert ActivityName.DELIVER_NOTIFICATIONS in activities
        assert patches == []
        activities, patches = _activities_and_patches(ROOT / "v2" / f"{name}.json")
        assert ActivityName.PUBLISH not in activities
        assert ActivityName.DELIVER_NOTIFICATIONS in activities
        assert patches == [PAGES_BY_WORKER]
        activities, patches = _activities_and_patches(ROOT / "v3" / f"{name}.json")
        assert ActivityName.PUBLISH not in activities
        assert ActivityName.DELIVER_NOTIFICATIONS not in activities
        assert sorted(patches) == sorted([MAIL_BY_WORKER, PAGES_BY_WORKER])
        activities, patches = _activities_and_patches(ROOT / f"{name}.json")
        assert ActivityName.PUBLISH in activities
        assert ActivityName.DELIVER_NOTIFICATIONS in activities
        assert OUTBOX_BY_ACTIVITIES in patches and MAIL_BY_WORKER not in patches


def _case_workflow_id(path: Path) -> str:
    """The workflow id the history was recorded under, ``institute-<case id>``: the workflow
    checks its own id against its case (``identity-from-workflow-id``), so a replay under
    another id would refuse the case."""
    history = json.loads(path.read_text(encoding="utf-8"))
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]
    [payload] = started["input"]["payloads"]
    return workflow_id(json.loads(base64.b64decode(payload["data"]))["survey"]["case_id"])


@pytest.mark.parametrize("path", HISTORIES, ids=_ids(HISTORIES))
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(_case_workflow_id(path), path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=STRICT_CONVERTER)
    await replayer.replay_workflow(history)
