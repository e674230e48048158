"""trial activity: indexes for a study's newest created and finished trial (its `last_activity_at`)

Why: a study's last activity is read on every GET of the study and every page of the list (a dashboard
polls it). With these indexes it is two index descents per study, however many trials the study has;
without them, a scan of the study's trials.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trials_study_created", "trials", ["study_id", "created_at"])
    op.create_index("ix_trials_study_finished", "trials", ["study_id", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_trials_study_finished", table_name="trials")
    op.drop_index("ix_trials_study_created", table_name="trials")
