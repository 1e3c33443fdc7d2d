"""Alembic environment and revisions of the registry schema (run by ``activities.db.migrate``)."""
