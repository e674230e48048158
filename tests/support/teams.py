"""Teams and keys for tests, made the way an operator makes them (the `access` functions the CLI calls).

`TeamKeys` holds one key per role for a team, so a test can call as any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from suggest_api.accounts import Role
from suggest_api.config import Limits
from suggest_api.service import accounts
from suggest_api.storage.database import transaction


@dataclass(frozen=True)
class TeamKeys:
    team: str
    admin: str
    member: str
    read: str

    def of(self, role: Role) -> str:
        return {Role.ADMIN: self.admin, Role.MEMBER: self.member, Role.READ: self.read}[role]


def make_team(sessions: sessionmaker[Session], name: str, quotas: accounts.QuotaChange | None = None) -> None:
    with transaction(sessions, write=True) as session:
        accounts.create_team(session, name, Limits(), quotas or accounts.QuotaChange())


def make_key(sessions: sessionmaker[Session], team: str, role: Role) -> str:
    with transaction(sessions, write=True) as session:
        return accounts.create_key_for_team(session, team, role, f"{role.value} key of {team}", Limits()).secret


def make_team_with_keys(sessions: sessionmaker[Session], name: str,
                        quotas: accounts.QuotaChange | None = None) -> TeamKeys:
    make_team(sessions, name, quotas)
    return TeamKeys(name, *(make_key(sessions, name, role) for role in (Role.ADMIN, Role.MEMBER, Role.READ)))


def revoke(sessions: sessionmaker[Session], key: str) -> None:
    from suggest_api.accounts import parse_key

    key_id = parse_key(key)
    assert key_id is not None
    with transaction(sessions, write=True) as session:
        accounts.revoke_any_key(session, key_id)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
