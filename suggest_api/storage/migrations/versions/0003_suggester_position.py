"""studies.suggested: how many trials the suggester made, so a grid or a Sobol design goes on from there

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("suggested", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE studies SET suggested = (SELECT count(*) FROM trials t "
               "WHERE t.study_id = studies.id AND t.source = 'suggester')")


def downgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("suggested")
