"""Who may call: authenticating a key, managing teams and keys, reading the audit trail.

Authentication reads the key's row on every request (one indexed query joined with its team), so a
revoked key is refused on its very next request on every worker and replica, and a quota an
operator changes applies at once. No worker caches a key.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from suggest_api.config import Limits, Settings
from suggest_api.errors import Conflict, InvalidInput, NotFound, Unauthorized
from suggest_api.names import check_name
from suggest_api.paging import Page, cut, decode_cursor
from suggest_api.storage import accounts, repository
from suggest_api.storage.database import database_now, transaction
from suggest_api.storage.models import ApiKeyRow, TeamRow
from suggest_api.teams import (
    CLI_ACTOR,
    DEFAULT_TEAM,
    AuditEvent,
    KeyInfo,
    Principal,
    Quotas,
    Role,
    TrialAudit,
    digest,
    generate_key,
    parse_key,
)

BEARER = "bearer "
HOW_TO_AUTHENTICATE = ("send `Authorization: Bearer <key>` with a key of your team "
                       "(an operator makes one with `suggest-api keys create --team TEAM --role member`)")


def quotas_of(team: TeamRow | accounts.TeamRef, settings: Settings) -> Quotas:
    return Quotas(
        max_studies=team.max_studies if team.max_studies is not None else settings.quota_max_studies,
        max_running_trials=(team.max_running_trials if team.max_running_trials is not None
                            else settings.quota_max_running_trials),
        max_trials_per_ask=(team.max_trials_per_ask if team.max_trials_per_ask is not None
                            else settings.quota_max_trials_per_ask))


def authenticate(sessions: sessionmaker[Session], settings: Settings, authorization: str | None) -> Principal:
    """The caller of a request with this Authorization header, or Unauthorized saying what to send."""
    if authorization is None:
        raise Unauthorized(f"this endpoint needs an API key: {HOW_TO_AUTHENTICATE}")
    if not authorization.lower().startswith(BEARER):
        raise Unauthorized(f"the Authorization header must use the Bearer scheme: {HOW_TO_AUTHENTICATE}")
    key = authorization[len(BEARER):].strip()
    key_id = parse_key(key)
    if key_id is None:
        raise Unauthorized("the bearer token is not an API key of this service (they start with `sapi_`); "
                           + HOW_TO_AUTHENTICATE)
    with transaction(sessions, write=False) as session:
        row = accounts.key_ref(session, key_id)
    if row is None or not hmac.compare_digest(row.digest, digest(key)):
        raise Unauthorized("this API key is not valid here; check that it was copied whole")
    team = row.team
    if row.revoked_at is not None:
        raise Unauthorized(f"API key {key_id} was revoked; ask an admin of your team for a new one")
    return Principal(team_id=team.id, team_name=team.name, role=Role(row.role), key_id=key_id,
                     quotas=quotas_of(team, settings))


def implicit_principal(sessions: sessionmaker[Session], settings: Settings) -> Principal:
    """SUGGEST_AUTH=off: every request acts as an admin of the team "default" (made on first use)."""
    team = _read_team(sessions, DEFAULT_TEAM)
    if team is None:
        try:
            with transaction(sessions, write=True) as session:
                session.add(TeamRow(name=DEFAULT_TEAM, created_at=database_now(session)))
        except IntegrityError:
            pass  # another worker made it first
        team = _read_team(sessions, DEFAULT_TEAM)
        assert team is not None
    return Principal(team_id=team.id, team_name=team.name, role=Role.ADMIN, key_id=None,
                     quotas=quotas_of(team, settings))


def _read_team(sessions: sessionmaker[Session], name: str) -> accounts.TeamRef | None:
    with transaction(sessions, write=False) as session:
        return accounts.team_ref(session, name)


# --- teams (the command line: a service-wide operator) -----------------------------------------

@dataclass(frozen=True, kw_only=True)
class QuotaChange:
    """Per-team quotas to set: None leaves one as it is, 0 resets it to the service's default."""

    max_studies: int | None = None
    max_running_trials: int | None = None
    max_trials_per_ask: int | None = None


def create_team(session: Session, name: str, limits: Limits, quotas: QuotaChange) -> TeamRow:
    check_name("team", name, limits)
    if accounts.find_team(session, name) is not None:
        raise Conflict(f"a team named {name!r} exists already")
    team = TeamRow(name=name, created_at=database_now(session))
    session.add(team)
    _apply(team, quotas)
    try:
        session.flush()
    except IntegrityError:  # a concurrent create of the same name committed first
        raise Conflict(f"a team named {name!r} exists already") from None
    return team


def set_quotas(session: Session, name: str, quotas: QuotaChange) -> TeamRow:
    team = _team(session, name, lock=True)
    _apply(team, quotas)
    session.flush()
    return team


def _apply(team: TeamRow, quotas: QuotaChange) -> None:
    for field in ("max_studies", "max_running_trials", "max_trials_per_ask"):
        value = getattr(quotas, field)
        if value is None:
            continue
        if value < 0:
            raise InvalidInput(f"{field} must be 0 (the service's default) or more",
                               errors={field: ["must be 0 or more"]})
        setattr(team, field, value or None)


def _team(session: Session, name: str, *, lock: bool = False) -> TeamRow:
    team = accounts.find_team(session, name, lock=lock)
    if team is None:
        raise NotFound(f"no team named {name!r}; create it with `suggest-api teams create {name}`")
    return team


# --- keys ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CreatedKey:
    info: KeyInfo
    secret: str  # the whole key: shown once, never stored


def create_key(session: Session, team_id: int, role: Role, label: str | None, actor: str | None,
               limits: Limits) -> CreatedKey:
    if label is not None:
        check_name("label", label, limits)
    new = generate_key()
    now = database_now(session)
    row = ApiKeyRow(key_id=new.key_id, digest=new.digest, team_id=team_id, role=role.value, label=label,
                    created_at=now, created_by=actor)
    session.add(row)
    accounts.record(session, team_id, actor, "key.created", f"{new.key_id} ({role.value})", now)
    session.flush()
    return CreatedKey(accounts.key_info(row), new.secret)


def create_key_for_team(session: Session, team_name: str, role: Role, label: str | None,
                        limits: Limits) -> CreatedKey:
    """The command line's way in: any team, by name."""
    return create_key(session, _team(session, team_name).id, role, label, CLI_ACTOR, limits)


def list_keys(session: Session, who: Principal, limit: int, cursor: str | None) -> Page[KeyInfo]:
    page = cut(accounts.page_keys(session, who.team_id, decode_cursor(cursor), limit + 1), limit, lambda r: r[0])
    return Page([info for _, info in page.items], page.next_cursor)


def revoke_key(session: Session, team_id: int, key_id: str, actor: str | None) -> KeyInfo:
    """Revoke a key of the team. Revoking a revoked key answers it again (a retry is harmless)."""
    row = accounts.find_key(session, team_id, key_id, lock=True)
    if row is None:
        raise NotFound(f"no API key {key_id!r} in your team; GET /v1/keys lists them")
    if row.revoked_at is None:
        now = database_now(session)
        accounts.revoke(session, row, actor, now)
        accounts.record(session, team_id, actor, "key.revoked", key_id, now)
        session.flush()
        session.refresh(row)
    return accounts.key_info(row)


def revoke_any_key(session: Session, key_id: str) -> KeyInfo:
    """The command line revokes any team's key."""
    found = accounts.key_ref(session, key_id)
    if found is None:
        raise NotFound(f"no API key {key_id!r}")
    return revoke_key(session, found.team.id, key_id, CLI_ACTOR)


def list_team_keys(session: Session, team_name: str) -> list[KeyInfo]:
    team = _team(session, team_name)
    return [info for _, info in accounts.page_keys(session, team.id, -1, 1_000_000)]


# --- audit --------------------------------------------------------------------------------------

def audit(session: Session, who: Principal, limit: int, cursor: str | None) -> Page[AuditEvent]:
    page = cut(accounts.page_audit(session, who.team_id, decode_cursor(cursor), limit + 1), limit, lambda r: r[0])
    return Page([event for _, event in page.items], page.next_cursor)


@dataclass(frozen=True, kw_only=True)
class StudyAudit:
    name: str
    created_by: str | None
    created_at: datetime
    trials: list[TrialAudit]
    next_cursor: str | None


def study_audit(session: Session, who: Principal, name: str, limit: int, cursor: str | None) -> StudyAudit:
    row = repository.find_study(session, who.team_id, name)
    if row is None:
        raise NotFound(f"no study named {name!r}; create it with POST /v1/studies")
    page = cut(accounts.page_trial_audit(session, row.id, decode_cursor(cursor), limit + 1), limit,
               lambda trial: trial.number)
    return StudyAudit(name=row.name, created_by=row.created_by, created_at=row.created_at, trials=page.items,
                      next_cursor=page.next_cursor)


def list_teams(session: Session) -> list[TeamRow]:
    return list(accounts.list_teams(session))
