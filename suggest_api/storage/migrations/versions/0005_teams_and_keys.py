"""teams, API keys and audit events; every study belongs to a team, its name unique within the team

Studies made before teams existed join the team "default", the one SUGGEST_AUTH=off acts as.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DEFAULT_TEAM = "default"


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("max_studies", sa.Integer(), nullable=True),
        sa.Column("max_running_trials", sa.Integer(), nullable=True),
        sa.Column("max_trials_per_ask", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_api_keys_team_id_teams"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_index(op.f("ix_api_keys_team_id"), "api_keys", ["team_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_audit_events_team_id_teams"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_team_id_id", "audit_events", ["team_id", "id"])

    teams = sa.table("teams", sa.column("id", ID), sa.column("name", sa.String()),
                     sa.column("created_at", sa.DateTime()))
    bind = op.get_bind()
    now = sa.text("now() AT TIME ZONE 'UTC'" if bind.dialect.name == "postgresql"
                  else "strftime('%Y-%m-%d %H:%M:%f', 'now')")
    bind.execute(sa.insert(teams).values(name=DEFAULT_TEAM, created_at=now))
    default_id = bind.execute(sa.select(teams.c.id).where(teams.c.name == DEFAULT_TEAM)).scalar_one()

    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("team_id", ID, nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(length=32), nullable=True))
    op.execute(sa.text("UPDATE studies SET team_id = :team").bindparams(team=default_id))
    with op.batch_alter_table("studies") as batch:
        batch.alter_column("team_id", existing_type=ID, nullable=False)
        batch.drop_constraint("uq_studies_name", type_="unique")
        batch.create_unique_constraint(op.f("uq_studies_team_id"), ["team_id", "name"])
        batch.create_foreign_key(op.f("fk_studies_team_id_teams"), "teams", ["team_id"], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("asked_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("told_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("told_by")
        batch.drop_column("asked_by")
    with op.batch_alter_table("studies") as batch:
        batch.drop_constraint("fk_studies_team_id_teams", type_="foreignkey")
        batch.drop_constraint("uq_studies_team_id", type_="unique")
        batch.create_unique_constraint("uq_studies_name", ["name"])
        batch.drop_column("created_by")
        batch.drop_column("team_id")
    op.drop_table("audit_events")
    op.drop_table("api_keys")
    op.drop_table("teams")
