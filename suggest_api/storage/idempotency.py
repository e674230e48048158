"""Remembered answers to requests made with an Idempotency-Key: found, stored, forgotten, purged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from suggest_api.storage.database import storable
from suggest_api.storage.models import IdempotencyRow


@dataclass(frozen=True)
class Remembered:
    """The first answer given under a key, as its caller rendered it."""

    id: int
    fingerprint: str
    status: int
    body: Any
    created_at: datetime


def find(session: Session, scope: str, key: str) -> Remembered | None:
    if not storable(scope):
        return None  # a path with NUL names nothing, so its request fails before a key would be stored
    row = session.scalars(select(IdempotencyRow).where(IdempotencyRow.scope == scope, IdempotencyRow.key == key)
                          ).one_or_none()
    return Remembered(row.id, row.fingerprint, row.status, row.body, row.created_at) if row is not None else None


def remember(session: Session, *, scope: str, key: str, fingerprint: str, status: int, body: Any,
             at: datetime) -> None:
    """Store an answer; a concurrent request with the same key fails here (IntegrityError) and replays this one."""
    session.add(IdempotencyRow(scope=scope, key=key, fingerprint=fingerprint, status=status, body=body,
                               created_at=at))
    session.flush()


def forget(session: Session, remembered: Remembered) -> None:
    """Drop an answer remembered past its time: a request with its key is a new request now."""
    session.execute(delete(IdempotencyRow).where(IdempotencyRow.id == remembered.id)
                    .execution_options(synchronize_session=False))


def purge(session: Session, oldest: datetime, batch: int) -> int:
    """Delete up to `batch` Idempotency-Keys created at or before `oldest`."""
    expired = select(IdempotencyRow.id).where(IdempotencyRow.created_at <= oldest).limit(batch).scalar_subquery()
    result = session.execute(delete(IdempotencyRow).where(IdempotencyRow.id.in_(expired))
                             .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
