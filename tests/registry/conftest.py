"""Fixtures of the registry tests: a fresh database on SQLite and on PostgreSQL, settings on a
temporary data directory, and a real SMTP server (aiosmtpd) that can be stopped and started.

PostgreSQL is this machine's server at 127.0.0.1:5432 (database ``test``, trust auth; override with
``IDRI_TEST_POSTGRES_URL``). Each test gets its own schema, dropped afterwards. Without a server the
PostgreSQL variants are skipped with the reason shown; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from activities.db import create_registry_engine, migrate
from idri.settings import Settings
from tests.smtp import SmtpServer

POSTGRES_URL = os.environ.get("IDRI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


_pg_problem: list[str | None] = []


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used (None when it can); asked once per session."""
    if not _pg_problem:
        try:
            with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_problem.append(None)
        except psycopg.Error as error:
            reason = " ".join(str(error).split())
            _pg_problem.append(f"PostgreSQL at {POSTGRES_URL} unreachable: {reason}")
    return _pg_problem[0]


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    if _under_ci():
        pytest.fail(f"{problem} (required under CI=true; .ci/run starts it)")
    pytest.skip(problem)


@pytest.fixture
def new_database_url(tmp_path: Path) -> Iterator[Any]:
    """A factory of empty databases: ``new_database_url("sqlite")`` or ``("postgresql")``."""
    schemas: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'registry-{uuid.uuid4().hex[:8]}.sqlite3'}"
        require_postgres()
        schema = f"idri_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        # Every connection of this URL works inside the schema (tables, alembic_version).
        return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"

    yield make
    if schemas:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, new_database_url: Any) -> str:
    """An empty database of each kind."""
    url: str = new_database_url(request.param)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated registry database of each kind."""
    migrate(database_url)
    engine = create_registry_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(new_database_url: Any) -> Iterator[Engine]:
    """A migrated SQLite registry only (for tests about SQLite itself)."""
    url = new_database_url("sqlite")
    migrate(url)
    engine = create_registry_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on a temporary data directory, no SMTP server, a few district mailboxes (not
    Jizhou's, so an undeliverable recipient can be shown). ``IDRI_*`` variables are ignored."""
    for name in list(os.environ):
        if name.startswith("IDRI_"):
            monkeypatch.delenv(name)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings' init-only option
        data_dir=tmp_path / "data",
        smtp_host=None,
        bureau_email="bureau@gxj.tj.gov.cn",
        mail_from="idri@gxj.tj.gov.cn",
        district_emails={
            "binhai": "binhai@tj.gov.cn",
            "nankai": "nankai@tj.gov.cn",
            "xiqing": "xiqing@tj.gov.cn",
            "heping": "heping@tj.gov.cn",
        },
    )


# --- SMTP ---------------------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server, not yet started (call ``start()``): a test can begin with it down."""
    server = SmtpServer()
    yield server
    server.stop()
