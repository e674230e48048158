"""objectives: a study may have several objectives and outcome constraints; a trial keeps every metric told

Studies made before this have one objective (its columns stay as they were, the new ones NULL); their trials
keep their `value`, and `metrics`/`feasible` stay NULL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("objectives", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("constraints", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("reference_point", sa.JSON(), nullable=True))
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("metrics", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("feasible", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("feasible")
        batch.drop_column("metrics")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("reference_point")
        batch.drop_column("constraints")
        batch.drop_column("objectives")
