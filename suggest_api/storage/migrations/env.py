"""Alembic environment: always handed a live connection by suggest_api.storage.migrate."""

from __future__ import annotations

from alembic import context

from suggest_api.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
