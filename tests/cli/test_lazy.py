"""``idri COMMAND`` imports what that command uses and nothing else: only its own command module,
no workflow module to query a case, no cryptography without encryption keys, no Rich for JSON;
and it leaves with its exit status even when the Temporal client's threads are still about."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest
import typer
from temporalio import workflow

from idri.cli import (
    COMMAND_MODULES,
    COMMANDS,
    add_commands,
    build_command_app,
    load_command_module,
    top_level_names,
)
from idri.cli._common import HISTORY_QUERY, STATUS_QUERY, workflow_id
from idri.devserver import free_port
from models.case import CaseStatus, HistoryEntry
from tests.cli.stack import BIN, Stack, clean_environment, imported_by, new_case

NEVER_FOR_A_QUERY = (
    "workflows",
    "activities",
    "openpyxl",
    "matplotlib",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "jinja2",
    "transitions",
    "structlog",
)
"""Top-level packages ``idri status`` must not import."""

UNREACHABLE = "error: cannot reach Temporal at {address} (connection refused)"


@pytest.fixture
def unreachable(tmp_path: Path) -> dict[str, str]:
    """An environment pointing at a port where no Temporal listens."""
    return clean_environment(tmp_path / "data") | {
        "IDRI_TEMPORAL_ADDRESS": f"localhost:{free_port()}"
    }


def _packages(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in names)


def test_status_imports_its_own_command_module_only(unreachable: dict[str, str]) -> None:
    result, modules = imported_by("status", "binhai-00000000", "--json", env=unreachable)

    assert result.returncode == 3
    assert result.stderr.startswith(
        UNREACHABLE.format(address=unreachable["IDRI_TEMPORAL_ADDRESS"])
    )
    assert "temporalio.service" in modules  # it did get as far as connecting
    assert "temporalio.client" not in modules  # a query needs no Client (test_lean_query.py)
    assert sorted(m for m in modules if m.startswith("idri.cli.") or m == "idri.cli") == [
        "idri.cli",
        "idri.cli._common",
        "idri.cli.views",
    ]
    assert _packages(modules, NEVER_FOR_A_QUERY) == []
    assert _packages(modules, ("rich",)) == []  # JSON needs no Rich
    # Without keys, payloads are not encrypted: the converter needs no cryptography.
    assert _packages(modules, ("cryptography",)) == []


@pytest.mark.devserver
def test_reading_a_case_needs_the_client_only_when_the_case_is_missing(
    stack: Stack, org: str
) -> None:
    case = new_case(stack, org)

    for command in ("status", "history"):
        found, modules = imported_by(command, case, "--json", env=stack.env)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout.strip().rsplit("\n", 1)[0])
        assert "temporalio.client" not in modules
        assert _packages(modules, ("rich",)) == []

    text, modules = imported_by("status", case, env=stack.env)
    assert text.returncode == 0
    assert re.search(rf"^Case +{case} *$", text.stdout, re.MULTILINE), text.stdout
    assert "temporalio.client" not in modules
    assert "rich.table" in modules

    missing, modules = imported_by("status", "binhai-00000000", env=stack.env)
    assert (missing.returncode, missing.stderr) == (
        1,
        "error: there is no case 'binhai-00000000'; `idri list` shows the cases\n",
    )
    assert "temporalio.client" in modules  # describing the missing case takes the Client


def test_with_encryption_keys_the_codec_is_loaded(unreachable: dict[str, str]) -> None:
    key = base64.b64encode(bytes(32)).decode()
    keyed = unreachable | {"IDRI_ENCRYPTION_KEYS": f'{{"k1": "{key}"}}'}

    result, modules = imported_by("status", "binhai-00000000", "--json", env=keyed)

    assert result.returncode == 3, result.stderr
    assert "idri.codec" in modules and "cryptography" in modules


def test_a_malformed_key_is_still_refused_before_connecting(
    unreachable: dict[str, str],
) -> None:
    broken = unreachable | {"IDRI_ENCRYPTION_KEYS": '{"k1": "not-a-key"}'}
    result, _ = imported_by("status", "binhai-00000000", env=broken)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: encryption key 'k1' in IDRI_ENCRYPTION_KEYS must be base64 of 32 random bytes"
    )


def test_an_unreachable_server_is_exit_status_3_from_the_executable(
    unreachable: dict[str, str],
) -> None:
    # Leaving through the interpreter's shutdown, the client's native threads used to abort it
    # now and then (PyGILState_Release, exit status 134).
    for _ in range(3):
        result = subprocess.run(
            [str(BIN / "idri"), "status", "binhai-00000000"],
            env=unreachable,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (result.returncode, result.stderr.count("\n")) == (3, 1), result.stderr


def test_the_command_table_names_every_command_of_every_module() -> None:
    defined: dict[str, str] = {}
    for module_name in COMMAND_MODULES:
        module = load_command_module(module_name)
        if module is None:
            continue
        app = typer.Typer()
        add_commands(app, module)
        defined |= dict.fromkeys(top_level_names(app), module_name)
    assert defined == COMMANDS


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_gets_an_app_of_its_own(command: str) -> None:
    app = build_command_app(command)
    assert app is not None
    assert top_level_names(app) == [command]


def test_a_command_not_in_the_table_gets_the_whole_app() -> None:
    assert build_command_app("no-such-command") is None


def test_help_lists_every_command_and_each_command_has_its_own() -> None:
    def idri(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "idri"), *args],
            env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    overview = idri("--help")
    assert overview.returncode == 0, overview.stderr
    listed = {line.split()[1] for line in overview.stdout.splitlines() if line.startswith("│ ")}
    assert set(COMMANDS) <= listed
    status = idri("status", "--help")
    assert status.returncode == 0 and "Where a case stands" in status.stdout
    typo = idri("statu", "x")
    assert typo.returncode == 2 and "Did you mean 'status'?" in typo.stderr
    missing = idri("status")
    assert missing.returncode == 2 and "Missing argument 'CASE'" in missing.stderr


def test_the_query_names_are_the_workflows() -> None:
    from workflows.institute import InstituteWorkflow
    from workflows.institute import workflow_id as workflows_id

    queries = workflow._Definition.must_from_class(InstituteWorkflow).queries
    assert queries[STATUS_QUERY].ret_type is CaseStatus
    assert queries[HISTORY_QUERY].ret_type == list[HistoryEntry]
    assert workflow_id("binhai-1") == workflows_id("binhai-1")


@pytest.mark.devserver
async def test_the_client_encrypts_when_keys_are_set(stack: Stack) -> None:
    from idri.client import connect
    from idri.codec import EncryptionCodec
    from idri.settings import Settings

    key = base64.b64encode(bytes(range(32))).decode()
    plain = Settings(_env_file=None, temporal_address=stack.address)  # type: ignore[call-arg]
    keyed = Settings(_env_file=None, temporal_address=stack.address, encryption_keys={"k1": key})  # type: ignore[call-arg]
    assert (await connect(plain)).data_converter.payload_codec is None
    codec = (await connect(keyed)).data_converter.payload_codec
    assert isinstance(codec, EncryptionCodec) and codec.current_key_id == "k1"
