"""The registry database: one engine per process, SQLite by default, PostgreSQL in production.

SQLite is tuned for a worker with many concurrent activities: WAL lets readers run beside the one
writer, ``busy_timeout`` makes a second writer wait instead of failing, and every transaction that
writes starts with ``BEGIN IMMEDIATE`` so it takes the write lock up front (a deferred transaction
that reads first and writes later can fail with "database is locked" without waiting at all).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
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
    # Activities run in worker threads; each session checks a connection out for itself.
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
        raise ValueError("the registry needs a SQLite file, not an in-memory database")
    # NullPool: a file connection is cheap to open and nothing stays open between activities.
    kwargs.setdefault("poolclass", NullPool)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's own transaction handling defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


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
    session: Session, table: Table, values: dict[str, Any], keys: list[str]
) -> bool:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING``; True when this call inserted the row.

    False means the row already existed: a retried, replayed or concurrent write of the same key.
    On PostgreSQL a concurrent insert of the same key waits for the first transaction and then
    does nothing, so exactly one caller sees True.
    """
    dialect = session.get_bind().dialect.name
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    else:
        raise NotImplementedError(f"the registry supports SQLite and PostgreSQL, not {dialect}")
    # RETURNING says whether a row was written; rowcount is unreliable here (psycopg gives -1).
    returning = statement.values(**values).returning(*(table.c[k] for k in keys))
    return session.exec(returning).first() is not None


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
