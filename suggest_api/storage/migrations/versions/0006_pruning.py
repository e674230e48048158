"""pruning: each report keeps its study, the trial's best value so far and the pruner's answer; rung entries

Reports made before this keep their values; their `best` is computed from the trial's earlier reports
and their answer is NULL (no pruner shipped before this revision).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("trial_reports") as batch:
        batch.add_column(sa.Column("study_id", ID, nullable=True))
        batch.add_column(sa.Column("best", sa.Double(), nullable=True))
        batch.add_column(sa.Column("prune", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("reason", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("rung", sa.Integer(), nullable=True))
    reports = sa.table("trial_reports", sa.column("trial_id", ID), sa.column("study_id", ID),
                       sa.column("step", sa.BigInteger()), sa.column("value", sa.Double()),
                       sa.column("best", sa.Double()))
    earlier = reports.alias("earlier")
    trials = sa.table("trials", sa.column("id", ID), sa.column("study_id", ID))
    studies = sa.table("studies", sa.column("id", ID), sa.column("goal", sa.String()))
    goal = (sa.select(studies.c.goal).join(trials, trials.c.study_id == studies.c.id)
            .where(trials.c.id == reports.c.trial_id).scalar_subquery())

    def best_by(aggregate: Any) -> Any:
        return (sa.select(aggregate(earlier.c.value))
                .where(earlier.c.trial_id == reports.c.trial_id, earlier.c.step <= reports.c.step).scalar_subquery())

    op.execute(reports.update().values(
        study_id=sa.select(trials.c.study_id).where(trials.c.id == reports.c.trial_id).scalar_subquery(),
        best=sa.case((goal == "maximize", best_by(sa.func.max)), else_=best_by(sa.func.min))))
    with op.batch_alter_table("trial_reports") as batch:
        batch.alter_column("study_id", existing_type=ID, nullable=False)
        batch.alter_column("best", existing_type=sa.Double(), nullable=False)
        batch.create_foreign_key(op.f("fk_trial_reports_study_id_studies"), "studies", ["study_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_index("ix_trial_reports_study_step", ["study_id", "step"])
    op.create_table(
        "trial_rungs",
        sa.Column("id", ID, nullable=False),
        sa.Column("trial_id", ID, nullable=False),
        sa.Column("study_id", ID, nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], name=op.f("fk_trial_rungs_trial_id_trials"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name=op.f("fk_trial_rungs_study_id_studies"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_rungs")),
        sa.UniqueConstraint("trial_id", "rung", name=op.f("uq_trial_rungs_trial_id")),
    )
    op.create_index("ix_trial_rungs_study_rung", "trial_rungs", ["study_id", "rung"])


def downgrade() -> None:
    op.drop_index("ix_trial_rungs_study_rung", table_name="trial_rungs")
    op.drop_table("trial_rungs")
    with op.batch_alter_table("trial_reports") as batch:
        batch.drop_index("ix_trial_reports_study_step")
        batch.drop_constraint(op.f("fk_trial_reports_study_id_studies"), type_="foreignkey")
        for column in ("rung", "reason", "prune", "best", "study_id"):
            batch.drop_column(column)
