"""The retention job: delete expired transport rows in bounded batches (beat: workflows/schedule.py)."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from sqlalchemy.orm import Session, sessionmaker

from app.settings import current
from models.operations.retention import RetentionPolicy, purge_batch
from models.uow import run
from workflows.clock import clock
from workflows.tasks import session_factory


def purge_expired(session_factory: sessionmaker[Session], policy: RetentionPolicy, now: datetime,
                  *, max_batches: int = 100) -> dict[str, int]:
    """Delete expired rows one short transaction per batch, until a batch comes back short; return totals.

    ``max_batches`` bounds one run; the next beat tick carries on where it stopped.
    """
    totals: dict[str, int] = {}
    for _ in range(max_batches):
        counts = run(session_factory, purge_batch, policy, now)
        for table, deleted in counts.items():
            totals[table] = totals.get(table, 0) + deleted
        if max(counts.values()) < policy.batch_size:
            break
    return totals


@shared_task(acks_late=True)
def purge_old_rows(max_batches: int = 100) -> dict[str, int]:
    """Beat task: apply the configured retention (RETENTION_* settings)."""
    return purge_expired(session_factory(), current().retention, clock.now(), max_batches=max_batches)
