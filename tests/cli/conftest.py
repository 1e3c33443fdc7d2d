"""Fixtures of the CLI suite: one real ``idri up`` for the session (see ``stack.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from idri.devserver import free_port
from tests.cli.stack import Stack, clean_environment, make_accounts, start_up, stop_up


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("idri-cli")
    data_dir = root / "data"
    port, ui_port, api_port = free_port(), free_port(), free_port()
    env = clean_environment(data_dir) | {
        "IDRI_TEMPORAL_ADDRESS": f"localhost:{port}",
        "IDRI_API_PORT": str(api_port),
    }
    stack = start_up(data_dir, port, ui_port, env)
    try:
        make_accounts(stack)
        yield stack
    finally:
        stop_up(stack)


@pytest.fixture
def org() -> str:
    """A fresh organisation name: case ids derive from it, so each test gets its own case."""
    return f"天津测试设计有限公司{uuid.uuid4().hex[:6]}"
