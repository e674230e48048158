"""Persistence: SQLAlchemy tables, engine set-up, repository functions, Alembic migrations."""
