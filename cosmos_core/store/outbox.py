"""The webhook's outbox (`models.Notification`): every query on it.

A row is written in the transaction of a run's terminal transition, already claimed by the process
that applied it; claims are compare-and-set updates, so two processes never post the same row at
once, on SQLite or PostgreSQL alike. Policy (when to retry, what to post) is in notify.py.
"""

from __future__ import annotations

import json

from peewee import Expression

from cosmos_core.store.tables import Notification, Prompt, Run

PENDING = "pending"
SENT = "sent"
GAVE_UP = "gave_up"


def finished_run(run_id: str) -> Run:
    """The run with its prompt (one query), as the transition being written has left it."""
    return Run.select(Run, Prompt).join(Prompt).where(Run.id == run_id).get()


def add(run_id: str, payload: dict, claimant: str, now: float, lease_seconds: float) -> None:
    """The run's row, claimed by `claimant` for `lease_seconds`. Inside the transition's transaction:
    it exists if and only if the transition does. A second row for one run is ignored (the primary key)."""
    Notification.insert(run_id=run_id, payload=json.dumps(payload), claimed_by=claimant,
                        due_at=now + lease_seconds, created_at=now).on_conflict_ignore().execute()


def due(claimant: str, now: float, limit: int) -> list[str]:
    """Run ids of pending rows `claimant` holds or anyone may claim now, oldest first."""
    query = (Notification.select(Notification.run_id)
             .where((Notification.state == PENDING) & _claimable(claimant, now))
             .order_by(Notification.created_at, Notification.run_id).limit(limit))
    return [row.run_id for row in query]


def claim(run_id: str, claimant: str, now: float, lease_seconds: float) -> Notification | None:
    """Take (or renew) the row for `lease_seconds`; None when another process holds it, its back-off
    has not run out, or it is no longer pending."""
    taken = Notification.update(claimed_by=claimant, due_at=now + lease_seconds).where(
        (Notification.run_id == run_id) & (Notification.state == PENDING) & _claimable(claimant, now)).execute()
    return Notification.get_by_id(run_id) if taken == 1 else None


def mark_sent(run_id: str, now: float) -> None:
    Notification.update(state=SENT, sent_at=now, claimed_by=None, last_error=None).where(
        (Notification.run_id == run_id) & (Notification.state == PENDING)).execute()


def mark_failed(run_id: str, attempts: int, error: str, retry_at: float | None) -> None:
    """A post failed: claimable by anyone again at `retry_at`, or given up (None), the reason kept."""
    state = PENDING if retry_at is not None else GAVE_UP
    Notification.update(state=state, attempts=attempts, last_error=error, claimed_by=None,
                        due_at=retry_at or 0.0).where(
        (Notification.run_id == run_id) & (Notification.state == PENDING)).execute()


def release(claimant: str, now: float) -> None:
    """Give up the claims `claimant` still holds: anyone may take them now."""
    Notification.update(claimed_by=None, due_at=now).where(
        (Notification.claimed_by == claimant) & (Notification.state == PENDING)).execute()


def _claimable(claimant: str, now: float) -> Expression:
    return (Notification.claimed_by == claimant) | (Notification.due_at <= now)
