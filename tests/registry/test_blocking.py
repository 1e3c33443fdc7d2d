"""``activities.db.blocking``: where an activity's registry writes run, and how long they wait.

SQLite writes run on the event loop, so a locked file must not hold the loop (and every workflow
of the worker) for SQLite's usual busy timeout: they give up quickly and Temporal retries the
activity. The same pooled connections, used from a thread afterwards, wait as long as ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, exc, text

from activities.db import (
    SQLITE_INLINE_BUSY_TIMEOUT_MS,
    blocking,
    create_registry_engine,
    migrate,
    write_transaction,
)


@contextlib.contextmanager
def locked(engine: Engine, *, release_after: float | None = None) -> Iterator[None]:
    """Another connection holds SQLite's write lock (until the block ends, or for a while)."""
    holder = sqlite3.connect(
        str(engine.url.database), isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN EXCLUSIVE")
    releaser = None
    if release_after is not None:
        releaser = threading.Timer(release_after, holder.execute, ("ROLLBACK",))
        releaser.start()
    try:
        yield
    finally:
        if releaser is not None:
            releaser.join()
        else:
            holder.execute("ROLLBACK")
        holder.close()


def touch(engine: Engine) -> int:
    """A write, returning the thread that made it."""
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS scratch (n INTEGER)"))
        conn.execute(text("INSERT INTO scratch VALUES (1)"))
    return threading.get_ident()


async def test_sqlite_work_runs_on_the_loop_and_gives_up_quickly_on_a_lock(
    sqlite_engine: Engine,
) -> None:
    assert await blocking(sqlite_engine, touch, sqlite_engine) == threading.get_ident()
    with locked(sqlite_engine):
        started = time.monotonic()
        with pytest.raises(exc.OperationalError, match="locked"):
            await blocking(sqlite_engine, touch, sqlite_engine)
        waited = time.monotonic() - started
    assert SQLITE_INLINE_BUSY_TIMEOUT_MS / 1000 * 0.8 <= waited < 5, waited


async def test_a_thread_using_the_same_connections_still_waits_out_a_lock(
    sqlite_engine: Engine,
) -> None:
    # The loop's short busy timeout is set on a pooled connection; a thread checking that
    # connection out next must get the long one back, and so outwait a lock of a second.
    await blocking(sqlite_engine, touch, sqlite_engine)
    with locked(sqlite_engine, release_after=1.0):
        started = time.monotonic()
        thread = await asyncio.to_thread(touch, sqlite_engine)
        waited = time.monotonic() - started
    assert thread != threading.get_ident()
    assert waited >= 0.8, f"the write did not wait for the lock ({waited:.2f} s)"
    # And the loop's next write is short-tempered again.
    with locked(sqlite_engine), pytest.raises(exc.OperationalError, match="locked"):
        await blocking(sqlite_engine, touch, sqlite_engine)


@pytest.mark.postgres
async def test_postgresql_work_runs_on_writer_threads(new_database_url: Any) -> None:
    url = new_database_url("postgresql")
    migrate(url)
    engine = create_registry_engine(url)
    try:
        assert await blocking(engine, touch, engine) != threading.get_ident()
    finally:
        engine.dispose()
