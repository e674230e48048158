"""Team, API-key and audit rows: found, created, changed, listed. Rows become account values here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from suggest_api.accounts import QUOTA_NAMES, AuditEvent, KeyInfo, NewKey, Role, TrialAudit
from suggest_api.storage.database import storable
from suggest_api.storage.models import ApiKeyRow, AuditRow, Base, StudyRow, TeamRow, TrialRow


@dataclass(frozen=True)
class TeamRef:
    """The team columns a request needs: who it is, and its own quotas (None: the service's default)."""

    id: int
    name: str
    max_studies: int | None
    max_running_trials: int | None
    max_trials_per_ask: int | None


@dataclass(frozen=True)
class KeyRef:
    digest: str
    role: str
    revoked_at: datetime | None
    team: TeamRef


def _team_ref(row: TeamRow) -> TeamRef:
    return TeamRef(row.id, row.name, row.max_studies, row.max_running_trials, row.max_trials_per_ask)


def find_team(session: Session, name: str, *, lock: bool = False) -> TeamRef | None:
    if not storable(name):
        return None
    query = select(TeamRow).where(TeamRow.name == name)
    if lock:
        query = query.with_for_update(key_share=True)
    row = session.scalars(query).one_or_none()
    return _team_ref(row) if row is not None else None


def lock_team(session: Session, team_id: int) -> None:
    """Take the team's row lock, which makes its study creations take turns (PostgreSQL: FOR NO KEY
    UPDATE, which leaves foreign-key checks of trial and study inserts free; SQLite: BEGIN IMMEDIATE)."""
    session.scalars(select(TeamRow.id).where(TeamRow.id == team_id).with_for_update(key_share=True)).one()


def list_teams(session: Session) -> list[TeamRef]:
    return [_team_ref(row) for row in session.scalars(select(TeamRow).order_by(TeamRow.id))]


def insert_team(session: Session, name: str, at: datetime, quotas: dict[str, int | None]) -> TeamRef:
    """A new team; a concurrent create of the same name fails here (IntegrityError)."""
    row = TeamRow(name=name, created_at=at, **quotas)
    session.add(row)
    session.flush()
    return _team_ref(row)


def set_quotas(session: Session, team_id: int, quotas: dict[str, int | None]) -> TeamRef:
    """Set the named quotas (None: the service's default); the others stay as they are."""
    unknown = set(quotas) - set(QUOTA_NAMES)
    if unknown:
        raise ValueError(f"not quotas: {sorted(unknown)}")
    row = session.get_one(TeamRow, team_id)
    for name, value in quotas.items():
        setattr(row, name, value)
    session.flush()
    return _team_ref(row)


# Every request reads one of these (Core statements built once: the ORM would double the lookup's cost).
TEAMS = Base.metadata.tables["teams"]
KEYS = Base.metadata.tables["api_keys"]
_TEAM_COLUMNS = tuple(TEAMS.c[name] for name in TeamRef.__dataclass_fields__)
_TEAM_BY_NAME = select(*_TEAM_COLUMNS).where(TEAMS.c.name == bindparam("team_name"))
_KEY_WITH_TEAM = (select(KEYS.c.digest, KEYS.c.role, KEYS.c.revoked_at, *_TEAM_COLUMNS)
                  .join(TEAMS, TEAMS.c.id == KEYS.c.team_id).where(KEYS.c.key_id == bindparam("of_key")))


def team_ref(session: Session, name: str) -> TeamRef | None:
    row = session.connection().execute(_TEAM_BY_NAME, {"team_name": name}).one_or_none()
    return TeamRef(*row) if row is not None else None


def key_ref(session: Session, key_id: str) -> KeyRef | None:
    """One query per request: a revoked key is refused on its next request, on every worker."""
    if not storable(key_id):
        return None
    row = session.connection().execute(_KEY_WITH_TEAM, {"of_key": key_id}).one_or_none()
    return KeyRef(row[0], row[1], row[2], TeamRef(*row[3:])) if row is not None else None


def lock_key(session: Session, team_id: int, key_id: str) -> KeyInfo | None:
    """A key of the team, under its row lock (a revoke takes it, so two revokes take turns)."""
    if not storable(key_id):
        return None
    query = select(ApiKeyRow).where(ApiKeyRow.team_id == team_id, ApiKeyRow.key_id == key_id).with_for_update()
    row = session.scalars(query).one_or_none()
    return _key_info(row) if row is not None else None


def insert_key(session: Session, team_id: int, new: NewKey, role: Role, label: str | None, actor: str | None,
               at: datetime) -> KeyInfo:
    """Store a key's id and digest (never the key)."""
    row = ApiKeyRow(key_id=new.key_id, digest=new.digest, team_id=team_id, role=role.value, label=label,
                    created_at=at, created_by=actor)
    session.add(row)
    session.flush()
    return _key_info(row)


def page_keys(session: Session, team_id: int, after: int, limit: int) -> list[tuple[int, KeyInfo]]:
    rows = session.scalars(select(ApiKeyRow).where(ApiKeyRow.team_id == team_id, ApiKeyRow.id > after)
                           .order_by(ApiKeyRow.id).limit(limit)).all()
    return [(row.id, _key_info(row)) for row in rows]


def _key_info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(key_id=row.key_id, role=Role(row.role), label=row.label, created_at=row.created_at,
                   created_by=row.created_by, revoked_at=row.revoked_at, revoked_by=row.revoked_by)


def record(session: Session, team_id: int, actor: str | None, action: str, target: str, at: datetime) -> None:
    session.add(AuditRow(team_id=team_id, actor=actor, action=action, target=target, at=at))


def page_audit(session: Session, team_id: int, after: int, limit: int) -> list[tuple[int, AuditEvent]]:
    rows = session.scalars(select(AuditRow).where(AuditRow.team_id == team_id, AuditRow.id > after)
                           .order_by(AuditRow.id).limit(limit)).all()
    return [(row.id, AuditEvent(at=row.at, actor=row.actor, action=row.action, target=row.target)) for row in rows]


@dataclass(frozen=True)
class StudyHeader:
    """Who created a study, and when: the top of its audit trail."""

    id: int
    name: str
    created_by: str | None
    created_at: datetime


def study_header(session: Session, team_id: int, name: str) -> StudyHeader | None:
    if not storable(name):
        return None
    row = session.execute(select(StudyRow.id, StudyRow.name, StudyRow.created_by, StudyRow.created_at)
                          .where(StudyRow.team_id == team_id, StudyRow.name == name)).one_or_none()
    return StudyHeader(*row) if row is not None else None


def page_trial_audit(session: Session, study_id: int, after: int, limit: int) -> list[TrialAudit]:
    rows = session.execute(select(TrialRow.number, TrialRow.state, TrialRow.source, TrialRow.created_at,
                                  TrialRow.asked_by, TrialRow.finished_at, TrialRow.told_by)
                           .where(TrialRow.study_id == study_id, TrialRow.number > after)
                           .order_by(TrialRow.number).limit(limit)).all()
    return [TrialAudit(number=r.number, state=r.state, source=r.source, asked_at=r.created_at, asked_by=r.asked_by,
                       finished_at=r.finished_at, told_by=r.told_by) for r in rows]


def revoke(session: Session, team_id: int, key_id: str, actor: str | None, at: datetime) -> KeyInfo:
    """Mark the key revoked (unless it is already) and read it back."""
    session.execute(update(ApiKeyRow).where(ApiKeyRow.team_id == team_id, ApiKeyRow.key_id == key_id,
                                            ApiKeyRow.revoked_at.is_(None))
                    .values(revoked_at=at, revoked_by=actor).execution_options(synchronize_session=False))
    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.team_id == team_id, ApiKeyRow.key_id == key_id)
                          .execution_options(populate_existing=True)).one()
    return _key_info(row)
