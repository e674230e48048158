"""Accounts, as values: teams, their API keys and roles, their quotas, and the audit trail.

Who is calling (a `Principal`: a team, through a key, with a role), what they may do, what their team
may use. Storage reads and writes these (storage/accounts.py), the service authenticates and manages
them (service/accounts.py), the API serves them (api/accounts.py) and guards every endpoint with them
(api/access.py).

A key looks like `sapi_3f9a2b1c0d4e_<40 base62 characters>`: the fixed prefix lets secret scanners
find leaked keys, the 12 hex characters are the key's public id (shown in listings and audit
columns, used to revoke it), and the rest is the secret, 238 random bits. The service stores the
id and the SHA-256 digest of the whole key, never the key: a random key of that strength needs no
slow password hash, since nobody can guess an input for a given digest.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

KEY_PREFIX = "sapi_"
KEY_ID_LENGTH = 12
SECRET_LENGTH = 40
_BASE62 = string.digits + string.ascii_letters
KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}([0-9a-f]{{{KEY_ID_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH}}})$")

#: The team every request acts as when SUGGEST_AUTH=off (and that studies made before teams existed joined).
DEFAULT_TEAM = "default"
#: The actor recorded in audit columns for what the command line did.
CLI_ACTOR = "cli"


class Role(enum.StrEnum):
    """Ordered: each role may do everything the ones before it may."""

    READ = "read"
    MEMBER = "member"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True)
class NewKey:
    """A key just made: `secret` is the whole key, shown once and never stored."""

    key_id: str
    secret: str
    digest: str


def generate_key() -> NewKey:
    key_id = secrets.token_hex(KEY_ID_LENGTH // 2)
    secret = KEY_PREFIX + key_id + "_" + "".join(secrets.choice(_BASE62) for _ in range(SECRET_LENGTH))
    return NewKey(key_id, secret, digest(secret))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_key(text: str) -> str | None:
    """The key's public id when `text` has the shape of a key, else None."""
    match = KEY_PATTERN.match(text)
    return match.group(1) if match else None


#: The per-team quotas, by name (a column of the team, a CLI flag, a field of `Quotas`).
QUOTA_NAMES = ("max_studies", "max_running_trials", "max_trials_per_ask")


@dataclass(frozen=True, kw_only=True)
class Quotas:
    """What one team may use at once. Stored per team; a team without its own value uses the service's."""

    max_studies: int
    max_running_trials: int  # per study
    max_trials_per_ask: int


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who a request acts as: a team, with a role, through a key (None when SUGGEST_AUTH=off)."""

    team_id: int
    team_name: str
    role: Role
    key_id: str | None
    quotas: Quotas


@dataclass(frozen=True, kw_only=True)
class KeyInfo:
    """A key as its team's admins see it: everything but the secret."""

    key_id: str
    role: Role
    label: str | None
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
    revoked_by: str | None


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """Something done to a team's studies or keys that leaves no row of its own to say so."""

    at: datetime
    actor: str | None  # a key id, "cli", or None (SUGGEST_AUTH=off)
    action: str  # study.created, study.deleted, key.created, key.revoked
    target: str


@dataclass(frozen=True, kw_only=True)
class TrialAudit:
    """Which key asked for (or imported) a trial, and which told its result."""

    number: int
    state: str
    source: str
    asked_at: datetime
    asked_by: str | None
    finished_at: datetime | None
    told_by: str | None
