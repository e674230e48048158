"""Leases: a running trial stays its trainer's while heartbeats (or reports) renew it before it ends.

Every time here is the database's clock (naive UTC), read inside the statement that needs it, so a
lease ends at the same moment for every worker and replica.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from suggest_api.storage.rows import StudyRef

#: An ask reaps stale trials at most this often (and at most every quarter heartbeat timeout), so
#: a busy study does not pay for the reaper's UPDATE on every ask.
REAP_EVERY_S = 5.0


def lease_end(study: StudyRef, now: datetime) -> datetime:
    """When a lease taken or renewed at `now` ends."""
    return now + timedelta(seconds=study.heartbeat_timeout)


def reap_due(study: StudyRef, now: datetime) -> bool:
    """Whether an ask at `now` should fail the study's expired trials first."""
    interval = min(study.heartbeat_timeout / 4, REAP_EVERY_S)
    return study.reaped_at is None or (now - study.reaped_at).total_seconds() >= interval
