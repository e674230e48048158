"""Accounts: authenticating a key, managing teams and keys, reading the audit trail.

Authentication reads the key's row on every request (one indexed query joined with its team), so a
revoked key is refused on its very next request on every worker and replica, and a quota an
operator changes applies at once. No worker caches a key.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from suggest_api.accounts import (
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
from suggest_api.config import Limits, Settings
from suggest_api.errors import Conflict, InvalidInput, NotFound, Unauthorized
from suggest_api.names import check_name
from suggest_api.paging import Page, cut, decode_cursor
from suggest_api.service.lookup import no_study
from suggest_api.service.transactions import Transactions
from suggest_api.storage import accounts, studies
from suggest_api.storage.accounts import TeamRef
from suggest_api.storage.database import database_now
from suggest_api.storage.trials import MAX_TRIAL_NUMBER

BEARER = "bearer "
HOW_TO_AUTHENTICATE = ("send `Authorization: Bearer <key>` with a key of your team "
                       "(an operator makes one with `suggest-api keys create --team TEAM --role member`)")


def quotas_of(team: TeamRef, settings: Settings) -> Quotas:
    return Quotas(
        max_studies=team.max_studies if team.max_studies is not None else settings.quota_max_studies,
        max_running_trials=(team.max_running_trials if team.max_running_trials is not None
                            else settings.quota_max_running_trials),
        max_trials_per_ask=(team.max_trials_per_ask if team.max_trials_per_ask is not None
                            else settings.quota_max_trials_per_ask))


def authenticate(transactions: Transactions, settings: Settings, authorization: str | None) -> Principal:
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
    row = transactions.read(lambda session: accounts.key_ref(session, key_id))
    if row is None or not hmac.compare_digest(row.digest, digest(key)):
        raise Unauthorized("this API key is not valid here; check that it was copied whole")
    team = row.team
    if row.revoked_at is not None:
        raise Unauthorized(f"API key {key_id} was revoked; ask an admin of your team for a new one")
    return Principal(team_id=team.id, team_name=team.name, role=Role(row.role), key_id=key_id,
                     quotas=quotas_of(team, settings))


def implicit_principal(transactions: Transactions, settings: Settings) -> Principal:
    """SUGGEST_AUTH=off: every request acts as an admin of the team "default" (made on first use)."""
    team = transactions.read(lambda session: accounts.team_ref(session, DEFAULT_TEAM))
    if team is None:
        # Another worker may make it at the same moment: the loser's retry finds the winner's.
        team = transactions.write(lambda session: accounts.team_ref(session, DEFAULT_TEAM) or accounts.insert_team(
            session, DEFAULT_TEAM, database_now(session), {}))
    return Principal(team_id=team.id, team_name=team.name, role=Role.ADMIN, key_id=None,
                     quotas=quotas_of(team, settings))


def team_principal(transactions: Transactions, settings: Settings, team_name: str = DEFAULT_TEAM) -> Principal:
    """The operator at the command line, acting on one team's studies (`suggest-api export`, `import`): an admin
    of the team, audited as "cli". The team "default" is made on first use, as SUGGEST_AUTH=off makes it."""
    if team_name == DEFAULT_TEAM:
        team = implicit_principal(transactions, settings)
        return Principal(team_id=team.team_id, team_name=team.team_name, role=Role.ADMIN, key_id=CLI_ACTOR,
                         quotas=team.quotas)
    found = transactions.read(lambda session: _team(session, team_name))
    return Principal(team_id=found.id, team_name=found.name, role=Role.ADMIN, key_id=CLI_ACTOR,
                     quotas=quotas_of(found, settings))


# --- teams (the command line: a service-wide operator) -----------------------------------------

@dataclass(frozen=True, kw_only=True)
class QuotaChange:
    """Per-team quotas to set: None leaves one as it is, 0 resets it to the service's default."""

    max_studies: int | None = None
    max_running_trials: int | None = None
    max_trials_per_ask: int | None = None


def create_team(session: Session, name: str, limits: Limits, quotas: QuotaChange) -> TeamRef:
    check_name("team", name, limits)
    if accounts.find_team(session, name) is not None:
        raise Conflict(f"a team named {name!r} exists already")
    try:
        return accounts.insert_team(session, name, database_now(session), _quota_columns(quotas))
    except IntegrityError:  # a concurrent create of the same name committed first
        raise Conflict(f"a team named {name!r} exists already") from None


def set_quotas(session: Session, name: str, quotas: QuotaChange) -> TeamRef:
    return accounts.set_quotas(session, _team(session, name, lock=True).id, _quota_columns(quotas))


def _quota_columns(quotas: QuotaChange) -> dict[str, int | None]:
    """The quotas to set, as stored: 0 becomes None (the service's default); those not given are left out."""
    columns: dict[str, int | None] = {}
    for field in fields(quotas):
        value = getattr(quotas, field.name)
        if value is None:
            continue
        if value < 0:
            raise InvalidInput(f"{field.name} must be 0 (the service's default) or more",
                               errors={field.name: ["must be 0 or more"]})
        columns[field.name] = value or None
    return columns


def _team(session: Session, name: str, *, lock: bool = False) -> TeamRef:
    team = accounts.find_team(session, name, lock=lock)
    if team is None:
        raise NotFound(f"no team named {name!r}; create it with `suggest-api teams create {name}`")
    return team


def list_teams(session: Session) -> list[TeamRef]:
    return accounts.list_teams(session)


def count_studies(session: Session, who: Principal) -> int:
    return studies.count(session, who.team_id)


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
    info = accounts.insert_key(session, team_id, new, role, label, actor, now)
    accounts.record(session, team_id, actor, "key.created", f"{new.key_id} ({role.value})", now)
    return CreatedKey(info, new.secret)


def create_key_for_team(session: Session, team_name: str, role: Role, label: str | None,
                        limits: Limits) -> CreatedKey:
    """The command line's way in: any team, by name."""
    return create_key(session, _team(session, team_name).id, role, label, CLI_ACTOR, limits)


def list_keys(session: Session, who: Principal, limit: int, cursor: str | None) -> Page[KeyInfo]:
    page = cut(accounts.page_keys(session, who.team_id, decode_cursor(cursor), limit + 1), limit, lambda r: r[0])
    return page.with_items([info for _, info in page.items])


def revoke_key(session: Session, team_id: int, key_id: str, actor: str | None) -> KeyInfo:
    """Revoke a key of the team. Revoking a revoked key answers it again (a retry is harmless)."""
    info = accounts.lock_key(session, team_id, key_id)
    if info is None:
        raise NotFound(f"no API key {key_id!r} in your team; GET /v1/keys lists them")
    if info.revoked_at is None:
        now = database_now(session)
        info = accounts.revoke(session, team_id, key_id, actor, now)
        accounts.record(session, team_id, actor, "key.revoked", key_id, now)
    return info


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
    return page.with_items([event for _, event in page.items])


@dataclass(frozen=True, kw_only=True)
class StudyAudit:
    name: str
    created_by: str | None
    created_at: datetime
    trials: list[TrialAudit]
    next_cursor: str | None


def study_audit(session: Session, who: Principal, name: str, limit: int, cursor: str | None) -> StudyAudit:
    header = accounts.study_header(session, who.team_id, name)
    if header is None:
        raise no_study(name)
    after = decode_cursor(cursor, last=MAX_TRIAL_NUMBER)
    page = cut(accounts.page_trial_audit(session, header.id, after, limit + 1), limit, lambda trial: trial.number)
    return StudyAudit(name=header.name, created_by=header.created_by, created_at=header.created_at,
                      trials=page.items, next_cursor=page.next_cursor)
