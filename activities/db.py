"""The registry database: one engine per process, SQLite by default, PostgreSQL in production.

SQLite is tuned for a worker with many concurrent activities: WAL lets readers run beside the one
writer, ``busy_timeout`` makes a second writer wait instead of failing, and every transaction that
writes starts with ``BEGIN IMMEDIATE`` so it takes the write lock up front (a deferred transaction
that reads first and writes later can fail with "database is locked" without waiting at all).
Connections are pooled, and a pooled connection whose file is no longer the one at the path
(deleted, replaced by a restore) is dropped at checkout rather than used.

Every call here blocks: activities run them off the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 5
SQLITE_POOL_OVERFLOW = 40
"""Connections kept open, and opened beyond that at busy moments (closed when returned). The
overflow is large so that no thread waits for a connection: activities run their registry calls in
asyncio's default executor (up to 32 threads), and a thread waiting out another process's lock
holds its connection for up to the busy timeout; a pool that ran dry would add a wait of its own."""
_IMMEDIATE = "idri_immediate"
"""Execution option asking a SQLite transaction to take the write lock at BEGIN."""


def normalize_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (SQLAlchemy would otherwise pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def create_registry_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the registry at ``url`` (SQLite file or PostgreSQL)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    connect_args = kwargs.pop("connect_args", {})
    # Activities run in worker threads; a pooled connection moves between them.
    connect_args.setdefault("check_same_thread", False)
    # pysqlite's timeout is SQLite's busy timeout: a writer waits this long for the write lock.
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
        raise ValueError("the registry needs a SQLite file, not an in-memory database")
    # Pooled, so the WAL file is not checkpointed and deleted each time the last connection closes.
    kwargs.setdefault("poolclass", QueuePool)
    if kwargs["poolclass"] is QueuePool:
        kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
        kwargs.setdefault("max_overflow", SQLITE_POOL_OVERFLOW)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    path = engine.url.database or ""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's own transaction handling defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL is a property of the file (it persists); the other two are per connection.
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        record.info[_FILE] = _file_identity(path)

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A pooled connection keeps the file it opened: if the path now names another file (the
        # database was deleted, restored from a backup, replaced), that connection would read and
        # write the old one. The pool drops it and connects again.
        if record.info.get(_FILE) != _file_identity(path):
            raise exc.DisconnectionError(f"{path} was replaced since the connection was opened")

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        # Errors that say the connection's file is no longer the database's (moved, unlinked,
        # unreadable): every pooled connection may be affected, so the pool starts over.
        error = context.original_exception
        if isinstance(error, sqlite3.Error) and _FILE_GONE.search(str(error)):
            context.is_disconnect = True

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL unless it is already.

    The switch needs the file to itself and fails at once with "database is locked" when
    another process is using it (SQLite's busy timeout does not apply to it): workers starting
    together on a new database retry here for as long as a writer would wait.
    """
    waited = 0.0
    while cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or waited >= SQLITE_BUSY_TIMEOUT_MS / 1000:
                raise
            time.sleep(0.05)
            waited += 0.05


_FILE = "idri_file"
_FILE_GONE = re.compile(
    r"disk I/O error|readonly database|unable to open database file|malformed|not a database",
    re.IGNORECASE,
)


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A Core connection in a transaction that commits on success and rolls back on error.

    For statements that need no ORM objects. On SQLite it holds the write lock from its first
    statement (see the module docstring).
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error.

    On SQLite it holds the write lock from its first statement (see the module docstring).
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(**{_IMMEDIATE: True})
        # The session begins the connection's transaction itself; leaving the block without
        # reaching commit (an exception) closes the session, which rolls it back.
        with Session(bind=conn) as session:
            yield session
            session.commit()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reading only (nothing is committed)."""
    with Session(engine) as session:
        yield session


def insert_ignoring_duplicates(
    session: Session | Connection, table: Table, values: dict[str, Any], keys: list[str]
) -> bool:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING``; True when this call inserted the row.

    False means the row already existed: a retried, replayed or concurrent write of the same key.
    On PostgreSQL a concurrent insert of the same key waits for the first transaction and then
    does nothing, so exactly one caller sees True.
    """
    conn = session.connection() if isinstance(session, Session) else session
    statement = insert_ignoring(conn.dialect.name, table, tuple(keys), returning=True)
    # RETURNING says whether a row was written; rowcount is unreliable here (psycopg gives -1).
    # The values go as parameters, not into the statement: one cached statement, compiled once.
    return conn.execute(statement, values).first() is not None


@functools.cache
def insert_ignoring(
    dialect: str, table: Table, keys: tuple[str, ...], *, returning: bool = False
) -> Any:
    """The ``INSERT ... ON CONFLICT (keys) DO NOTHING`` statement of ``table``, built once.

    Execute it with the row's values as parameters (a list of them for many rows)."""
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    else:
        raise NotImplementedError(f"the registry supports SQLite and PostgreSQL, not {dialect}")
    return statement.returning(*(table.c[k] for k in keys)) if returning else statement


# --- Migrations --------------------------------------------------------------------------------

HEAD = "head"
_MIGRATING = threading.Lock()


def alembic_config(url: str) -> Config:
    """Alembic's configuration, built in code so no ``alembic.ini`` is needed at run time."""
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("activities").joinpath("migrations"))
    )
    # ConfigParser interpolates '%': a password with '%' in the URL must be doubled.
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = HEAD) -> None:
    """Bring the registry at ``url`` up to ``revision`` (the newest by default).

    A new database gets the whole schema; an existing one gets only the revisions it lacks, with
    its data kept. Safe to call on every start, by several workers at once: the database's lock
    serialises processes (see ``env.py``), and ``_MIGRATING`` threads of one process, because
    Alembic's ``context`` is a module-level global.
    """
    engine = create_registry_engine(url)
    try:
        with _MIGRATING, engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                # Take the write lock before reading the current revision, so a second worker
                # starting at the same moment waits and then finds nothing left to do.
                conn = conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                config = alembic_config(url)
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The schema revision the database at ``url`` is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    engine = create_registry_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
