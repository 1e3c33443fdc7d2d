"""The registry database: one engine per process, SQLite by default, PostgreSQL in production.

SQLite is tuned for a worker with many concurrent activities: WAL lets readers run beside the one
writer, ``busy_timeout`` makes a second writer wait instead of failing, and every transaction that
writes starts with ``BEGIN IMMEDIATE`` so it takes the write lock up front (a deferred transaction
that reads first and writes later can fail with "database is locked" without waiting at all).
Connections are pooled, and a pooled connection whose file is no longer the one at the path
(deleted, replaced by a restore) is dropped at checkout rather than used.

An activity's writes (:func:`blocking`) run on the worker's event loop when the registry is
SQLite, and then wait for the write lock only briefly (``SQLITE_INLINE_BUSY_TIMEOUT_MS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, NoReturn, ParamSpec, Protocol, TypeVar, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_INLINE_BUSY_TIMEOUT_MS = 250
"""How long a write run on the event loop (:func:`blocking`) waits for SQLite's write lock before
it fails (and its activity is retried by Temporal): every workflow of the worker waits with it."""
SQLITE_POOL_SIZE = 5
SQLITE_POOL_OVERFLOW = 40
"""Connections kept open, and opened beyond that at busy moments (closed when returned). The
overflow is large so that no thread ever waits for a connection: activities write on one thread
(:func:`blocking`) but read in asyncio's default executor (up to 32 threads), the publisher and
the CLI read too, and a thread waiting out another process's lock holds its connection for up to
the busy timeout; a pool that ran dry would add a wait of its own."""
_IMMEDIATE = "idri_immediate"
"""Execution option asking a SQLite transaction to take the write lock at BEGIN."""
POSTGRES_WRITER_THREADS = 4
"""Threads writing to a PostgreSQL registry at once (SQLite: none, see :func:`blocking`)."""

_P = ParamSpec("_P")
_T = TypeVar("_T")
_WRITERS: weakref.WeakKeyDictionary[Engine, ThreadPoolExecutor] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


async def blocking(
    engine: Engine, work: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    """Run ``work`` (an activity's registry write: short, blocking) where it costs least.

    SQLite: on the event loop itself. A write to a local file takes a fraction of a millisecond,
    and handing it to a thread and back cost the worker more CPU than the write: the two
    threads' hand-overs and their fight for the GIL (``bench/RESULTS.md``). The loop is then
    the one writer, in order, as SQLite wants. Such a write waits for a lock held elsewhere
    (another process, the publisher's short transactions) only
    ``SQLITE_INLINE_BUSY_TIMEOUT_MS``: then it fails and Temporal retries its activity, so a
    registry locked for minutes holds up no workflow of the worker.

    PostgreSQL: on writer threads, a few side by side; a round trip to the server is time the
    loop must not wait.
    """
    if engine.dialect.name == "sqlite":
        token = _ON_LOOP.set(True)
        try:
            return work(*args, **kwargs)
        finally:
            _ON_LOOP.reset(token)
    with _WRITERS_LOCK:
        writer = _WRITERS.get(engine)
        if writer is None:
            writer = ThreadPoolExecutor(
                POSTGRES_WRITER_THREADS, thread_name_prefix="registry-writer"
            )
            _WRITERS[engine] = writer
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(writer, functools.partial(work, *args, **kwargs))


_ON_LOOP: contextvars.ContextVar[bool] = contextvars.ContextVar("idri_on_loop", default=False)
"""Set while :func:`blocking` runs SQLite work on the event loop: its connections wait for the
write lock only ``SQLITE_INLINE_BUSY_TIMEOUT_MS``."""
_BUSY = "idri_busy_timeout_ms"


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
    opened_with_ms = round(connect_args["timeout"] * 1000)
    if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
        raise ValueError("the registry needs a SQLite file, not an in-memory database")
    # Pooled: opening a connection (and its PRAGMAs) per session cost more CPU than the writes;
    # closing the last one also checkpointed and deleted the WAL file every time.
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
        record.info[_BUSY] = opened_with_ms

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A pooled connection keeps the file it opened: if the path now names another file (the
        # database was deleted, restored from a backup, replaced), that connection would read and
        # write the old one. The pool drops it and connects again.
        if record.info.get(_FILE) != _file_identity(path):
            raise exc.DisconnectionError(f"{path} was replaced since the connection was opened")
        # A connection serves the loop's writes and threads' reads in turn: the busy timeout
        # follows who checks it out (a PRAGMA without I/O, run only when it changes).
        busy = (
            min(SQLITE_INLINE_BUSY_TIMEOUT_MS, opened_with_ms) if _ON_LOOP.get() else opened_with_ms
        )
        if record.info.get(_BUSY) != busy:
            dbapi_connection.execute(f"PRAGMA busy_timeout={busy}")
            record.info[_BUSY] = busy

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

    Cheaper than :func:`write_session` for statements that need no ORM objects. On SQLite it
    holds the write lock from its first statement (see the module docstring).
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


CORE_SQL = "idri_core_sql"
"""Engine execution option: :func:`write_statements` runs its statements through SQLAlchemy's
Core execution instead of the DB-API cursor (the reference the raw path is tested against)."""


@dataclass(frozen=True)
class Written:
    """What a statement run by :func:`write_statements` returned."""

    rows: list[tuple[Any, ...]]
    """RETURNING rows with the column types applied (aware datetimes); empty without RETURNING."""
    rowcount: int
    """Rows changed (summed over an executemany), or -1 when the driver cannot tell."""


class StatementWriter(Protocol):
    """Runs Core statements in one write transaction; ``values`` as for ``Connection.execute``:
    a dict, or a list of dicts (executemany, without RETURNING)."""

    def execute(self, statement: Executable, values: Mapping[str, Any] | list[Any]) -> Written: ...


@contextmanager
def write_statements(engine: Engine) -> Iterator[StatementWriter]:
    """Like :func:`write_transaction`, for the registry's hot writes: run on the DB-API cursor.

    SQLAlchemy's execution path (compiled-cache lookup, parameter and result objects, the
    ``begin`` event emitting ``BEGIN IMMEDIATE`` as a statement of its own) cost more CPU than
    SQLite or psycopg spent on the writes. Here SQLAlchemy compiles each statement once per
    dialect (:func:`_prepare`: the SQL and the type conversions still come from the tables) and
    the driver's cursor runs it. The connection still comes from the pool (checkout events,
    ``pool_pre_ping``, SQLite's replaced-file check), and driver errors go through SQLAlchemy's
    handling: the same wrapped exceptions, ``handle_error`` events, invalidation on a disconnect.
    """
    if engine.get_execution_options().get(CORE_SQL):
        with write_transaction(engine) as conn:
            yield _CoreWriter(conn)
        return
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        writer = _RawWriter(conn, driver.cursor())
        try:
            if conn.dialect.name == "sqlite":
                # The write lock up front, as in ``write_transaction`` (module docstring);
                # psycopg opens its transaction at the first statement by itself.
                writer.run("BEGIN IMMEDIATE", ())
            yield writer
            try:
                driver.commit()
            except conn.dialect.loaded_dbapi.Error as error:
                writer.fail(error, "COMMIT", ())
        except BaseException:
            # Rolled back already when the driver raised (SQLAlchemy's error handling), not when
            # the caller did. A connection found dead was invalidated: nothing to undo there.
            if not conn.invalidated:
                with contextlib.suppress(Exception):
                    driver.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                writer.cursor.close()


class _CoreWriter:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def execute(self, statement: Executable, values: Mapping[str, Any] | list[Any]) -> Written:
        result = self.conn.execute(statement, values)
        rows = [tuple(row) for row in result] if result.returns_rows else []
        return Written(rows, _count(result.rowcount))


class _RawWriter:
    def __init__(self, conn: Connection, cursor: Any) -> None:
        self.conn = conn
        self.cursor = cursor

    def execute(self, statement: Executable, values: Mapping[str, Any] | list[Any]) -> Written:
        if isinstance(values, list):
            prepared = _prepare(self.conn.dialect, statement, frozenset(values[0]))
            assert not prepared.results, "executemany with RETURNING is not supported here"
            self.run(prepared.sql, self.bind(prepared, values), many=True)
            return Written([], _count(self.cursor.rowcount))
        prepared = _prepare(self.conn.dialect, statement, frozenset(values))
        self.run(prepared.sql, self.bind(prepared, values))
        rows = prepared.convert(self.cursor.fetchall()) if prepared.results else []
        return Written(rows, _count(self.cursor.rowcount))

    def bind(self, prepared: _Prepared, values: Mapping[str, Any] | list[Any]) -> Any:
        try:
            if isinstance(values, list):
                return [prepared.bind(row) for row in values]
            return prepared.bind(values)
        except Exception as error:  # a value its column type refuses (a naive datetime)
            self.fail(error, prepared.sql, values)

    def run(self, sql: str, parameters: Any, *, many: bool = False) -> None:
        try:
            if many:
                self.cursor.executemany(sql, parameters)
            else:
                self.cursor.execute(sql, parameters)
        except self.conn.dialect.loaded_dbapi.Error as error:
            self.fail(error, sql, parameters)

    def fail(self, error: Exception, sql: str, parameters: Any) -> NoReturn:
        # SQLAlchemy's own handling of an error (what ``Connection.execute`` does): runs
        # ``handle_error`` (SQLite's moved-file check), invalidates the connection and the pool
        # on a disconnect, rolls back, and raises the error wrapped as ``sqlalchemy.exc`` (a driver
        # error as DBAPIError, a value the type refused as StatementError).
        self.conn._handle_dbapi_exception(error, sql, parameters, self.cursor, None)


def _count(rowcount: int | None) -> int:
    return rowcount if rowcount is not None and rowcount >= 0 else -1


@dataclass(frozen=True)
class _Prepared:
    """A Core statement compiled for one dialect and one set of parameter names."""

    sql: str
    positional: bool
    params: tuple[tuple[str, str | None, Callable[[Any], Any] | None, Any], ...]
    """Per parameter of ``sql``, in order: (its name in the SQL, the caller's key or None for a
    constant, the type's bind conversion, the converted constant)."""
    results: tuple[Callable[[Any], Any] | None, ...]
    """Per RETURNING column, the type's result conversion."""

    def bind(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        converted = [
            constant if key is None else values[key] if convert is None else convert(values[key])
            for _, key, convert, constant in self.params
        ]
        if self.positional:
            return tuple(converted)
        return dict(zip([name for name, *_ in self.params], converted, strict=True))

    def convert(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        if not any(self.results):
            return [tuple(row) for row in rows]
        return [
            tuple(v if f is None else f(v) for f, v in zip(self.results, row, strict=True))
            for row in rows
        ]


@functools.lru_cache(maxsize=256)
def _prepare(dialect: Dialect, statement: Executable, keys: frozenset[str]) -> _Prepared:
    """Compile ``statement`` as ``Connection.execute`` would for parameters named ``keys``.

    Refuses what the raw path does not do: columns filled by Python-side defaults (an insert
    must give every column that has one) and parameters rendered at execution (``IN`` lists).
    """
    compiled = cast(
        SQLCompiler,
        cast(ClauseElement, statement).compile(
            dialect=dialect, column_keys=sorted(keys), for_executemany=True
        ),
    )
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError(f"column defaults to compute for {compiled.string!r}: give all values")
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise ValueError(f"parameters expanded at execution in {compiled.string!r}")
    # Only tuple types (none here) have a sequence of conversions.
    converters = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)
    names = compiled.positiontup if compiled.positional else list(compiled.binds)
    params = []
    for name in names or ():
        bind = compiled.binds[name]
        key = bind.key if bind.key in keys else name if name in keys else None
        convert = converters.get(name)
        constant = None
        if key is None:
            if bind.required:
                raise ValueError(f"no value for parameter {name!r} of {compiled.string!r}")
            constant = bind.effective_value if convert is None else convert(bind.effective_value)
        params.append((compiled.escaped_bind_names.get(name, name), key, convert, constant))
    results = tuple(
        column.type._cached_result_processor(dialect, None)  # per column type, as SQLAlchemy does
        for column in compiled._result_columns
    )
    return _Prepared(compiled.string, compiled.positional, tuple(params), results)


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
