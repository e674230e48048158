"""trials.lease_expires_at: a running trial's lease, set from the database's clock and renewed by heartbeats

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(), nullable=True))
    # Running trials keep the deadline they had: last heartbeat plus their study's timeout.
    studies = sa.table("studies", sa.column("id", sa.BigInteger()), sa.column("heartbeat_timeout", sa.Float()))
    trials = sa.table("trials", sa.column("id", sa.BigInteger()), sa.column("study_id", sa.BigInteger()),
                      sa.column("state", sa.String()), sa.column("created_at", sa.DateTime()),
                      sa.column("heartbeat_at", sa.DateTime()), sa.column("lease_expires_at", sa.DateTime()))
    bind = op.get_bind()
    running = bind.execute(sa.select(trials.c.id, trials.c.heartbeat_at, trials.c.created_at,
                                     studies.c.heartbeat_timeout)
                           .join(studies, studies.c.id == trials.c.study_id)
                           .where(trials.c.state == "running")).all()
    for trial_id, heartbeat_at, created_at, timeout in running:
        expires = (heartbeat_at or created_at) + timedelta(seconds=timeout)
        bind.execute(sa.update(trials).where(trials.c.id == trial_id).values(lease_expires_at=expires))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("lease_expires_at")
