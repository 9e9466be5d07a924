"""Celery tasks: thin wrappers that load, call one function, commit."""

from __future__ import annotations

from functools import cache

from celery import current_app, shared_task
from sqlalchemy.orm import Session, sessionmaker

import workflows.handlers  # noqa: F401  (register relay handlers)
from app.settings import current
from models.db import make_engine, make_session_factory
from models.operations.alerts import scan_all_orgs
from models.operations.cash import check_cash_threshold, orgs_with_threshold
from models.operations.health_checks import org_ids, record_consistency_checks
from models.operations.todos import scan_todos
from models.uow import run
from workflows.clock import clock
from workflows.kick import celery_kick, install_relay_kick
from workflows.relay import relay_pending, retry_due


@cache
def _session_factory(database_url: str) -> sessionmaker[Session]:
    factory = make_session_factory(make_engine(database_url))
    install_relay_kick(factory, celery_kick(current_app))
    return factory


def session_factory() -> sessionmaker[Session]:
    """Return this worker's session factory (events its handlers write kick the relay again)."""
    return _session_factory(current().database_url)


@shared_task(acks_late=True)
def relay_outbox(limit: int = 500) -> int:
    """Dispatch pending outbox events to their handlers, then retry failed handlers that are due."""
    factory = session_factory()
    return relay_pending(factory, limit=limit) + retry_due(factory)


@shared_task(acks_late=True)
def scan_due_todos() -> int:
    """Send due reminders and escalate overdue to-dos."""
    return len(run(session_factory(), scan_todos, clock.now()))


@shared_task(acks_late=True)
def scan_stock_alerts() -> int:
    """Emit low-stock, near-expiry and slow-mover alerts (at most once a day each)."""
    return run(session_factory(), scan_all_orgs, clock.now())


@shared_task(acks_late=True)
def scan_cash_threshold() -> int:
    """Queue the check of each organisation's 72-hour cash projection against its threshold."""
    ids = run(session_factory(), orgs_with_threshold)
    for org_id in ids:
        check_org_cash.delay(org_id)
    return len(ids)


@shared_task(acks_late=True)
def check_org_cash(org_id: int) -> bool:
    """One organisation's cash check, in its own transaction (alerts once per crossing): a slow or
    failing organisation holds up no other's alert. True when it emitted an event."""
    checked = run(session_factory(), check_cash_threshold, org_id, clock.now())
    return checked is not None and checked.event is not None


@shared_task(acks_late=True)
def scan_consistency_checks() -> int:
    """Queue each organisation's consistency checks (their pass rate over time feeds the health board)."""
    ids = run(session_factory(), org_ids)
    for org_id in ids:
        check_org_consistency.delay(org_id)
    return len(ids)


@shared_task(acks_late=True)
def check_org_consistency(org_id: int) -> int:
    """One organisation's checks in its own transaction; returns how many passed."""
    return run(session_factory(), record_consistency_checks, org_id, clock.now()).checks_passed
