"""The ``idri`` executable as an operator runs it: its help lists every command, its exit statuses
hold, and reading a case loads neither Temporal nor a database, spreadsheet or chart library."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

from idri.devserver import free_port
from tests.cli.stack import BIN, ROOT, Stack, clean_environment, imported_by, new_case

COMMANDS = {
    *("survey", "plan", "recommend", "review", "inspect", "decide", "object", "objection"),
    *("evaluate", "rectify", "national", "withdraw", "round"),
    *(
        "status",
        "history",
        "list",
        "inbox",
        "document",
        "registry",
        "mail",
        "diagram",
        "districts",
        "directions",
    ),
    *("report", "calendar", "up", "simulate", "schedules", "ended"),
    *("user", "login", "logout", "whoami", "password"),
    *("willing", "contact", "deadline"),
}
"""Every top-level command and group, as the README and ``idri --help`` name them."""

NEVER_FOR_A_QUERY = (
    "temporalio",
    "workflows",
    "activities",
    "openpyxl",
    "matplotlib",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "jinja2",
    "structlog",
)
"""Top-level packages ``idri status`` does not need."""

UNREACHABLE = "error: cannot reach the idri API at {url} (connection refused)"


@pytest.fixture
def unreachable(tmp_path: Path) -> dict[str, str]:
    """An environment pointing at a port where no API listens."""
    return clean_environment(tmp_path / "data") | {
        "IDRI_API_URL": f"http://127.0.0.1:{free_port()}"
    }


def _idri(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "idri"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _packages(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in names)


def test_help_lists_every_command_and_each_command_has_its_own() -> None:
    env = {"COLUMNS": "120", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    overview = _idri("--help", env=env)
    assert overview.returncode == 0, overview.stderr
    listed = {
        line.split()[1]
        for line in overview.stdout.splitlines()
        if line.startswith("│ ") and not line.startswith("│  ")  # not a help text's second line
    }
    assert listed == COMMANDS | {"--help", "--version"}
    status = _idri("status", "--help", env=env)
    assert status.returncode == 0 and "Where a case stands" in status.stdout
    typo = _idri("statu", "x", env=env)
    assert typo.returncode == 2 and "Did you mean 'status'?" in typo.stderr
    missing = _idri("status", env=env)
    assert missing.returncode == 2 and "Missing argument 'CASE'" in missing.stderr


def test_an_unreachable_api_is_exit_status_3_from_the_executable(
    unreachable: dict[str, str],
) -> None:
    result = _idri("status", "binhai-00000000", env=unreachable)
    assert (result.returncode, result.stderr.count("\n")) == (3, 1), result.stderr
    assert result.stderr.startswith(UNREACHABLE.format(url=unreachable["IDRI_API_URL"]))


def test_encryption_keys_are_the_apis_not_the_clis(unreachable: dict[str, str]) -> None:
    """The CLI no longer reads or writes payloads: a key in its environment changes nothing."""
    broken = unreachable | {"IDRI_ENCRYPTION_KEYS": '{"k1": "not-a-key"}'}
    result = _idri("status", "binhai-00000000", env=broken)
    assert result.returncode == 3
    assert result.stderr.startswith(UNREACHABLE.format(url=unreachable["IDRI_API_URL"]))


def test_status_loads_no_database_spreadsheet_or_chart_library(
    unreachable: dict[str, str],
) -> None:
    result, modules = imported_by("status", "binhai-00000000", "--json", env=unreachable)

    assert result.returncode == 3
    assert "http.client" in modules  # it did get as far as connecting
    assert _packages(modules, NEVER_FOR_A_QUERY) == []
    assert _packages(modules, ("rich",)) == []  # JSON needs no Rich
    # Without keys, payloads are not encrypted: the converter needs no cryptography.
    assert _packages(modules, ("cryptography",)) == []


@pytest.mark.devserver
def test_reading_a_case_from_the_executable(stack: Stack, org: str) -> None:
    case = new_case(stack, org)

    for command in ("status", "history"):
        found = _idri(command, case, "--json", env=stack.env)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)

    text = _idri("status", case, env=stack.env)
    assert text.returncode == 0, text.stderr
    assert re.search(rf"^Case +{case} *$", text.stdout, re.MULTILINE), text.stdout

    for _ in range(3):
        missing = _idri("status", "binhai-00000000", env=stack.env)
        assert (missing.returncode, missing.stderr) == (
            1,
            "error: there is no case 'binhai-00000000'\n",
        )


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
