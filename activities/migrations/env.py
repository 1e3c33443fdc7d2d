"""Alembic environment of the registry.

``activities.db.migrate`` passes an open connection in ``config.attributes["connection"]`` so the
migration runs with the same engine settings (SQLite pragmas) as the activities. Used from the
``alembic`` command line instead, it connects to ``sqlalchemy.url``.

On PostgreSQL a transaction-scoped advisory lock serialises workers that start together: the
second waits, then finds the schema current and does nothing.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from activities.tables import SQLModel

MIGRATION_LOCK = 0x1D1_2E61
"""Arbitrary advisory lock id reserved for registry migrations."""

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE via copy on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from activities.db import create_registry_engine

    engine = create_registry_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run activities.db.migrate")
run_online()
