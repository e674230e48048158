"""studies.queued and studies.reaped_at: let ask skip the queue and the reaper when they have nothing to do

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("queued", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reaped_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE studies SET queued = (SELECT count(*) FROM queued_params q WHERE q.study_id = studies.id)")


def downgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("reaped_at")
        batch.drop_column("queued")
