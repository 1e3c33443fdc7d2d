"""Fixtures of the account tests: a migrated registry on SQLite and on PostgreSQL (the registry
tests' own fixtures), a clock the tests move, and a store on both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, MetaData, select

from idri.auth import AccountRole, AccountStore
from idri.auth.passwords import Passwords
from tests.registry.conftest import database_url, engine, new_database_url

__all__ = ["database_url", "engine", "new_database_url"]

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # 10:00 Beijing time
PASSWORD = "correct horse battery"
LIFETIME = timedelta(days=90)


@dataclass
class Clock:
    """The store's clock: tests move it instead of sleeping."""

    at: datetime = START

    def __call__(self) -> datetime:
        return self.at

    def advance(self, by: timedelta | float) -> None:
        self.at += by if isinstance(by, timedelta) else timedelta(seconds=by)


def light_argon2() -> PasswordHasher:
    """argon2id with less work than the default (RFC 9106's 64 MiB, 3 passes), to keep the suite
    quick; the stores the tests make without ``passwords`` use the default."""
    return PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


class CountingPasswords(Passwords):
    """Real argon2id, counting its verifications (how much work a sign-in costs)."""

    def __init__(self) -> None:
        super().__init__(light_argon2())
        self.verifications = 0

    def verify(self, stored: str | None, password: str) -> bool:
        self.verifications += 1
        return super().verify(stored, password)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def passwords() -> CountingPasswords:
    return CountingPasswords()


@pytest.fixture
def store(engine: Engine, clock: Clock, passwords: CountingPasswords) -> AccountStore:
    return AccountStore(engine, token_lifetime=LIFETIME, now=clock, passwords=passwords)


@pytest.fixture
def alice(store: AccountStore) -> Iterator[str]:
    """A bureau officer with a password; yields her first token."""
    _, token = store.add("admin", "alice", AccountRole.BUREAU_OFFICER, password=PASSWORD)
    yield token


def everything_stored(engine: Engine) -> list[str]:
    """Every value in every table of the database, as text."""
    metadata = MetaData()
    metadata.reflect(engine)
    values: list[Any] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                values.extend(row)
    return [str(v) for v in values if v is not None]
