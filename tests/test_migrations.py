"""The Alembic head creates exactly the tables the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from suggest_api.storage.database import make_engine
from suggest_api.storage.migrate import current_revision, head_revision, upgrade
from suggest_api.storage.models import Base


def test_models_match_the_migration_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)  # a second upgrade is a no-op
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision()
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()
