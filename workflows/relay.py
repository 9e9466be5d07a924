"""Relay outbox events to their handlers after commit, at most once per (event, handler).

Handlers register by event kind. The relay is the one place that reads the outbox; issue 5's
approvals, rules, notifications and webhooks plug in here as handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from models.base import utcnow
from models.infra import OutboxEvent
from models.outbox import mark_dispatched, pending_events

log = logging.getLogger(__name__)

Handler = Callable[[Session, OutboxEvent], None]


@dataclass
class HandlerRegistry:
    """Event kind → handlers; "*" receives every event."""

    handlers: dict[str, list[tuple[str, Handler]]] = field(default_factory=dict)

    def register(self, kind: str, name: str) -> Callable[[Handler], Handler]:
        """Register ``fn`` under a stable ``name`` for events of ``kind``."""

        def decorate(fn: Handler) -> Handler:
            self.handlers.setdefault(kind, []).append((name, fn))
            return fn

        return decorate

    def for_kind(self, kind: str) -> list[tuple[str, Handler]]:
        return self.handlers.get(kind, []) + self.handlers.get("*", [])


registry = HandlerRegistry()


@registry.register("*", "log")
def log_event(_session: Session, event: OutboxEvent) -> None:
    """Leave a trace of every event in the worker log."""
    log.info("event %s %s org=%s", event.kind, event.id, event.org_id)


def relay_pending(session_factory: sessionmaker[Session], *, limit: int = 500,
                  handlers: HandlerRegistry = registry) -> int:
    """Dispatch up to ``limit`` pending events; return how many were dispatched.

    Each event's handlers run in the transaction that marks it dispatched, so a crash
    before commit leaves it pending and the next sweep runs it again (handlers are
    idempotent by event id).
    """
    with session_factory() as session:
        events = pending_events(session, limit)
        for event in events:
            for name, handler in handlers.for_kind(event.kind):
                try:
                    handler(session, event)
                except Exception:
                    log.exception("handler %s failed on event %s", name, event.id)
                    raise
            mark_dispatched(event, utcnow())
        session.commit()
        return len(events)
