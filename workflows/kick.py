"""Kick the relay right after a commit that wrote outbox events (the beat sweep is the safety net)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from models.infra import OutboxEvent
from models.outbox import OUTBOX_WRITTEN

log = logging.getLogger(__name__)

_FLAG = OUTBOX_WRITTEN


def install_relay_kick(session_factory: sessionmaker[Session], kick: Callable[[], None]) -> None:
    """Call ``kick()`` after each commit of a session from ``session_factory`` that added events."""

    @event.listens_for(session_factory, "after_flush")
    def _note(session: Session, _ctx: Any) -> None:
        if any(isinstance(obj, OutboxEvent) for obj in session.new):
            session.info[_FLAG] = True

    @event.listens_for(session_factory, "after_commit")
    def _kick(session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint was released (SQLAlchemy 2.1 says after_commit); nothing is committed yet
        if session.info.pop(_FLAG, False):
            try:
                kick()
            except Exception:
                log.warning("could not kick the relay; the sweep will pick the events up", exc_info=True)


def celery_kick(celery_app: Any) -> Callable[[], None]:
    """Return a kick that sends the relay task through ``celery_app``'s broker."""

    def kick() -> None:
        celery_app.send_task("workflows.tasks.relay_outbox", kwargs={"limit": 500})

    return kick
