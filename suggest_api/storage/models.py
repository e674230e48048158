"""Tables. The study row doubles as the ask lock and the trial-number counter (`next_number`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from suggest_api.pruners.base import MAX_REASON

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Plain JSON, also on PostgreSQL: JSONB would reorder keys, and params read best in the space's order.
JSONType = JSON()
# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONType, datetime: DateTime(), float: Double()}


class TeamRow(Base):
    """A tenant. A quota left NULL is the service's default (SUGGEST_QUOTA_*), so raising that raises it."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[datetime]
    max_studies: Mapped[int | None] = mapped_column(Integer)
    max_running_trials: Mapped[int | None] = mapped_column(Integer)
    max_trials_per_ask: Mapped[int | None] = mapped_column(Integer)


class ApiKeyRow(Base):
    """A key: its public id and the digest of the whole key (the key itself is never stored)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(32))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(32))


class AuditRow(Base):
    """What cannot live in a column of the thing it is about: a deleted study, a created or revoked key."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_team_id_id", "team_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(1024))


class StudyRow(Base):
    __tablename__ = "studies"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024))
    space: Mapped[dict[str, Any]]
    objective_name: Mapped[str] = mapped_column(String(1024))
    goal: Mapped[str] = mapped_column(String(16))
    #: With several objectives: all of them, [{name, goal}, ...] (the first is also in objective_name/goal);
    #: NULL for a study with one.
    objectives: Mapped[list[Any] | None] = mapped_column(JSONType)
    #: Outcome constraints, [{name, op, bound}, ...]; NULL when there are none.
    constraints: Mapped[list[Any] | None] = mapped_column(JSONType)
    #: The hypervolume's reference point given at creation, one number per objective; NULL: derived.
    reference_point: Mapped[list[Any] | None] = mapped_column(JSONType)
    suggester: Mapped[dict[str, Any]]
    pruner: Mapped[dict[str, Any] | None]
    seed: Mapped[int] = mapped_column(BigInteger)
    heartbeat_timeout: Mapped[float]
    next_number: Mapped[int] = mapped_column(Integer, default=0)
    #: Length of the study's queue, so an ask with nothing queued skips the queue table.
    queued: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When an ask last failed stale trials; asks reap at most every few seconds, not every time.
    reaped_at: Mapped[datetime | None]
    #: Trials the suggester has made (not enqueued or imported ones): where a grid or a Sobol design goes on.
    suggested: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime]
    #: The key that created the study (audit; NULL when SUGGEST_AUTH=off).
    created_by: Mapped[str | None] = mapped_column(String(32))
    user_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata")


class TrialRow(Base):
    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        # Serves best (completed, ordered by value), counts by state and the stale-trial reaper.
        Index("ix_trials_study_state_value", "study_id", "state", "value"),
        # Serve a study's last activity (its newest created and finished trial) by one descent each.
        Index("ix_trials_study_created", "study_id", "created_at"),
        Index("ix_trials_study_finished", "study_id", "finished_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]]
    value: Mapped[float | None]
    #: Every objective and constraint metric told, {name: number}: for a study with several objectives
    #: (whose `value` stays NULL) or with constraints; NULL otherwise.
    metrics: Mapped[dict[str, Any] | None]
    #: Whether `metrics` satisfy every constraint (NULL: the study has none, or no result yet).
    feasible: Mapped[bool | None]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    #: While running: when the trial fails as stale unless a heartbeat renews it (database clock).
    lease_expires_at: Mapped[datetime | None]
    fail_reason: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(1024))
    source: Mapped[str] = mapped_column(String(16))
    user_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    #: Audit: the key that asked for (or imported) the trial, and the one that told its result.
    asked_by: Mapped[str | None] = mapped_column(String(32))
    told_by: Mapped[str | None] = mapped_column(String(32))


class ReportRow(Base):
    """One intermediate value and the pruner's answer to it; its own table so a report never rewrites the
    trial's JSON. `study_id` is the trial's, kept here so a pruner reads one step of a whole study from
    the (study, step) index, not every report of every trial."""

    __tablename__ = "trial_reports"
    __table_args__ = (UniqueConstraint("trial_id", "step"),
                      Index("ix_trial_reports_study_step", "study_id", "step"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float]
    #: The trial's best value up to this step, by the study's goal.
    best: Mapped[float]
    #: The pruner's answer and why (NULL: the study has no pruner).
    prune: Mapped[bool | None]
    reason: Mapped[str | None] = mapped_column(String(MAX_REASON))
    #: The highest successive-halving rung this report entered (NULL: none).
    rung: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class RungRow(Base):
    """A trial entered a successive-halving rung with this value: what later trials at the rung compete with.

    A per-rung summary, so a rung decision reads the rung's few entries instead of every trial's reports.
    """

    __tablename__ = "trial_rungs"
    __table_args__ = (UniqueConstraint("trial_id", "rung"),
                      Index("ix_trial_rungs_study_rung", "study_id", "rung"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    rung: Mapped[int] = mapped_column(Integer)
    value: Mapped[float]
    created_at: Mapped[datetime]


class QueuedRow(Base):
    """Parameters a user enqueued; the next ask hands them out, oldest first, before the suggester runs."""

    __tablename__ = "queued_params"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    params: Mapped[dict[str, Any]]
    user_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    created_at: Mapped[datetime]


class IdempotencyRow(Base):
    """The first answer to a request made with an Idempotency-Key, replayed to every retry."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    scope: Mapped[str] = mapped_column(String(2048))
    key: Mapped[str] = mapped_column(String(256))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
