"""Alembic environment: always handed a live connection by imagine.db.migrate."""

from __future__ import annotations

from alembic import context

from imagine.db.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through imagine.db.migrate.upgrade()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
