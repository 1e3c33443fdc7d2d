"""``idri up`` (the session's stack is one; its clean stop on Ctrl-C is checked at the end of the
session): starting it twice says so; with TEMPORAL_ADDRESS it runs only the worker."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from idri.devserver import DevServer, free_port
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
    ]
