"""``idri up`` (the session's stack is one; its clean stop on Ctrl-C is checked at the end of the
session): starting it twice says so; with TEMPORAL_ADDRESS it runs only the worker; its dev
server keeps cases in the data directory across restarts and says why when it cannot start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from idri.devserver import PID_FILE, DevServer, DevServerError, free_port
from tests.cli.stack import BIN, Stack, clean_environment

pytestmark = pytest.mark.devserver


def test_a_second_idri_up_on_the_same_data_directory_says_where_the_first_runs(
    stack: Stack,
) -> None:
    result = stack.run("idri", "up", "--port", str(free_port()))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: idri is already running on data directory {stack.data_dir} (pid "
        f"{stack.process.pid}, Temporal at {stack.address}, Web UI "
        f"http://localhost:{stack.ui_port}); use it, or stop it with Ctrl-C in its terminal"
    )


def test_a_port_in_use_is_reported_before_anything_starts(stack: Stack, tmp_path: Path) -> None:
    env = clean_environment(tmp_path / "other")
    result = stack.run("idri", "up", "--port", str(stack.port), env=env)
    assert result.returncode == 1
    assert f"error: port {stack.port} is already in use" in result.stderr
    assert f"TEMPORAL_ADDRESS=localhost:{stack.port}" in result.stderr
    assert not (tmp_path / "other" / "temporal.sqlite").exists()


def test_a_web_ui_port_in_use_is_not_mistaken_for_temporals(stack: Stack, tmp_path: Path) -> None:
    env = clean_environment(tmp_path / "other")
    command = ("idri", "up", "--port", str(free_port()), "--ui-port", str(stack.ui_port))
    result = stack.run(*command, env=env)
    assert result.returncode == 1
    assert f"error: port {stack.ui_port} (the Web UI's) is already in use" in result.stderr
    assert "--headless" in result.stderr and "TEMPORAL_ADDRESS" not in result.stderr


def test_with_temporal_address_only_the_worker_starts(stack: Stack, tmp_path: Path) -> None:
    env = clean_environment(tmp_path / "worker-only") | {
        "TEMPORAL_ADDRESS": stack.address,
        # Its own task queue: this worker must not take the session's tasks.
        "IDRI_TASK_QUEUE": "idri-worker-only",
    }
    out = tmp_path / "up.out"
    process = subprocess.Popen(
        [str(BIN / "idri"), "up"],
        env=env,
        stdout=out.open("wb"),
        stderr=out.with_suffix(".err").open("wb"),
    )
    try:
        deadline = time.monotonic() + 60
        # The banner is written line by line: wait for its last part, not its first line.
        while "Try, in another terminal:" not in out.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, out.with_suffix(".err").read_text()
            time.sleep(0.1)
        text = out.read_text()
        assert f"{stack.address} (TEMPORAL_ADDRESS)" in text
        assert "Web UI" not in text
        # People's front doors: the API and, at its root, the workbench.
        assert "API        http://127.0.0.1:" in text and "Workbench  http://127.0.0.1:" in text
        # The hints run as printed: this data directory, and idri by a path the shell finds.
        hint = f"IDRI_DATA_DIR={(tmp_path / 'worker-only').resolve()} "
        assert any(line.strip().startswith(hint) for line in text.splitlines())
        script = (BIN / "idri").resolve()
        # Under the directory idri up runs in, the path is relative (``.venv/bin/idri``).
        shown = (
            script.relative_to(Path.cwd().resolve())
            if script.is_relative_to(Path.cwd().resolve())
            else script
        )
        assert f"{hint}{shown} districts" in text or f"{hint}idri districts" in text
        assert "IDRI_DISTRICT_EMAILS" in text and "outbox" in text
        assert not (tmp_path / "worker-only" / "temporal.sqlite").exists()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, out.with_suffix(".err").read_text()[-2000:]


def test_the_dev_server_command_line() -> None:
    server = DevServer(Path("/data"), port=7300, binary="temporal")
    command = server.command()
    assert command[:4] == ["temporal", "server", "start-dev", "--db-filename"]
    assert "/data/temporal.sqlite" in command
    pragmas = [command[i + 1] for i, arg in enumerate(command) if arg == "--sqlite-pragma"]
    assert pragmas == ["journal_mode=wal", "synchronous=normal"]
    assert command[command.index("--ui-port") + 1] == "8300"
    attributes = [command[i + 1] for i, arg in enumerate(command) if arg == "--search-attribute"]
    assert attributes == [
        "IdriStage=Keyword",
        "IdriDistrict=Keyword",
        "IdriDirection=Keyword",
        "IdriRoundYear=Int",
        "IdriDueAt=Datetime",
        "IdriExpert=KeywordList",
    ]


async def test_cases_persist_across_restarts_of_the_dev_server(tmp_path: Path) -> None:
    async def started() -> tuple[DevServer, Client]:
        server = DevServer(tmp_path, port=free_port(), headless=True)
        server.start()
        await server.wait_ready()
        return server, await Client.connect(server.address)

    server, client = await started()
    assert server.process is not None
    assert os.getpgid(server.process.pid) != os.getpgid(0), (
        "Ctrl-C in a terminal reaches idri up only"
    )
    try:
        # No worker polls this queue: the case stays open, as one waiting for an officer does.
        await client.start_workflow("CaseWaiting", id="persisted-case", task_queue="nobody")
    finally:
        assert server.stop() == 0, f"a clean stop on SIGTERM: {server.log_tail()}"
    assert not (tmp_path / PID_FILE).exists(), "the data directory is free again"

    server, client = await started()
    try:
        description = await client.get_workflow_handle("persisted-case").describe()
        assert description.status is WorkflowExecutionStatus.RUNNING
        assert description.workflow_type == "CaseWaiting"
    finally:
        server.stop()


async def test_a_dev_server_that_cannot_start_says_why_from_its_log(tmp_path: Path) -> None:
    (tmp_path / "temporal.sqlite").mkdir()  # where the database file belongs
    server = DevServer(tmp_path, port=free_port(), headless=True)
    server.start()
    try:
        with pytest.raises(DevServerError) as refused:
            await server.wait_ready()
    finally:
        server.stop()
    assert str(refused.value).startswith("the Temporal dev server exited with status 1: ")
    assert "unable to open database file" in str(refused.value)
    assert "unable to open database file" in (tmp_path / "temporal.log").read_text()


KILLED_PARENT = """
import asyncio, sys
from pathlib import Path
from idri.devserver import DevServer, free_port
server = DevServer(Path(sys.argv[1]), port=free_port(), headless=True)
server.start()
asyncio.run(server.wait_ready())
print(server.process.pid, flush=True)
sys.stdin.read()
"""


def test_a_killed_idri_up_takes_its_dev_server_with_it(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    try:
        while _alive(server_pid):
            assert time.monotonic() < deadline, f"the dev server ({server_pid}) outlived its parent"
            time.sleep(0.1)
    finally:
        if _alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
