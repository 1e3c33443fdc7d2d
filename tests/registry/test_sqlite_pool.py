"""SQLite connections are pooled: few are opened, and a pooled one never outlives its usefulness
(a lock held by another process, a database file replaced under the worker)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from registry_builders import Script
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from activities import registry_read
from activities.db import SQLITE_POOL_SIZE, create_registry_engine, migrate, write_transaction
from activities.tables import EventRow, table_of
from idri.settings import Settings
from idri.worker import registry_activities


def count_connects(engine: Engine) -> list[int]:
    opened = [0]

    @event.listens_for(engine, "connect")
    def _count(*_: Any) -> None:
        opened[0] += 1

    return opened


def events_in(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table_of(EventRow))).scalar_one())


def test_a_hundred_events_one_after_another_open_one_connection(
    sqlite_engine: Engine, settings: Settings
) -> None:
    opened = count_connects(sqlite_engine)
    registry = registry_activities(sqlite_engine, settings)
    scripts = [Script(f"pool{n}") for n in range(15)]
    records = [r for s in scripts for r in s.to_public_notice()][:100]

    for record in records:
        assert registry.record_sync(record)

    assert events_in(sqlite_engine) == 100
    assert opened[0] == 1


def test_concurrent_events_open_no_more_connections_than_the_pool_allows(
    sqlite_engine: Engine, settings: Settings
) -> None:
    opened = count_connects(sqlite_engine)
    registry = registry_activities(sqlite_engine, settings)
    records = [r for n in range(30) for r in Script(f"busy{n}").to_public_notice()]

    with ThreadPoolExecutor(max_workers=12) as threads:
        assert all(threads.map(registry.record_sync, records))

    assert events_in(sqlite_engine) == len(records)
    assert 1 <= opened[0] <= 12
    pool = sqlite_engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedin() <= SQLITE_POOL_SIZE  # the overflow was closed again


@contextmanager
def locked_by_another_process(path: Path) -> Iterator[None]:
    """Another process holds an exclusive transaction on the file (a backup, ``sqlite3``)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.readline();"
            "c.execute('ROLLBACK')",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)


def test_a_pooled_connection_that_waited_out_a_lock_in_vain_writes_once_it_is_released(
    new_database_url: Any, settings: Settings
) -> None:
    url = new_database_url("sqlite")
    migrate(url)
    # One connection only, with a short busy timeout: the same connection fails, then works.
    engine = create_registry_engine(url, pool_size=1, max_overflow=0, connect_args={"timeout": 0.2})
    opened = count_connects(engine)
    registry = registry_activities(engine, settings)
    first, second = Script("locked").to_public_notice()[:2]
    try:
        assert registry.record_sync(first)
        with (
            locked_by_another_process(Path(engine.url.database or "")),
            pytest.raises(OperationalError, match="database is locked"),
        ):
            registry.record_sync(second)
        assert registry.record_sync(second)
        assert [e.event for e in registry_read.audit_trail(engine, "locked")] == [
            "created",
            "submit_plan",
        ]
        assert opened[0] == 1
    finally:
        engine.dispose()


def test_a_database_file_replaced_under_the_worker_is_the_one_written_next(
    new_database_url: Any, settings: Settings
) -> None:
    url = new_database_url("sqlite")
    migrate(url)
    engine = create_registry_engine(url)
    registry = registry_activities(engine, settings)
    path = Path(engine.url.database or "")
    old, new = Script("before").to_public_notice()[0], Script("after").to_public_notice()[0]
    try:
        assert registry.record_sync(old)
        # The file is deleted and a new registry is created at the same path (a restore, a
        # reset) while the engine's connection to the old file sits in its pool.
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        migrate(url)

        assert registry.record_sync(new)

        assert registry_read.audit_trail(engine, "before") == []
        assert [e.key for e in registry_read.audit_trail(engine, "after")] == [new.key]
        fresh = create_registry_engine(url)
        try:
            assert events_in(fresh) == 1  # written to the file at the path, not the deleted one
        finally:
            fresh.dispose()
    finally:
        engine.dispose()


def test_wal_is_set_on_the_file_and_foreign_keys_on_every_connection(
    sqlite_engine: Engine,
) -> None:
    with ThreadPoolExecutor(max_workers=3) as threads:
        seen = list(threads.map(lambda _: pragmas(sqlite_engine), range(6)))
    assert set(seen) == {("wal", 1, 1)}  # journal, foreign keys, synchronous NORMAL
    assert os.path.exists(f"{sqlite_engine.url.database}-wal")


def pragmas(engine: Engine) -> tuple[str, int, int]:
    with write_transaction(engine) as conn:
        return (
            conn.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
            conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one(),
            conn.exec_driver_sql("PRAGMA synchronous").scalar_one(),
        )
