"""Relay outbox events to their handlers after commit, at most once per (event, handler).

Handlers register by event kind (``registry.register(kind, name)(fn)``, ``fn(session, event)``).
Each handler runs in a savepoint of the relay's transaction and its :class:`HandlerRun` row is
written in the same savepoint, so a handler's database work and its "done" mark commit together:
a crash before commit re-runs it, a crash after commit never does. A failing handler is rolled
back alone, retried with exponential backoff by :func:`retry_due`, and after ``MAX_ATTEMPTS``
lands in the dead letters, which :func:`replay_dead` puts back in line.

A :class:`NetworkHandler` (an HTTP call: webhooks, DingTalk cards and WeChat messages through
:mod:`workflows.outbound`, the bots' pushes) never calls out inside a transaction: the
batch's transaction only records its run as due (the intent) and commits; then, per run, one
short transaction leases it (attempt counted, due again after ``LEASE`` should the process die)
and prepares the request, the call runs with no transaction open, and a second short transaction
records the outcome (done, or retry with backoff / dead letter). Its bookkeeping stays once per
(event, handler); the call itself is at least once (webhook receivers dedupe by the delivery id; a
card keeps its outTrackId). What ``prepare`` wrote commits with the lease whatever becomes of the call,
so a retry's ``prepare`` must recognise its own earlier work (workflows.outbound: pending notifications).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from models.base import utcnow
from models.event_log import HandlerRun, RunStatus
from models.infra import OutboxEvent
from models.outbox import pending_events

log = logging.getLogger(__name__)

Handler = Callable[[Session, OutboxEvent], None]

MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(hours=1)
#: How long a leased network run is left alone before another relay may take it over (the
#: process died mid-call): well above the HTTP timeouts.
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class NetworkHandler:
    """A handler whose slow part, a network call, runs outside any database transaction.

    ``prepare(session, event)`` reads what to send (None: nothing left to do); ``call(request)``
    talks to the network with no session and raises on failure; ``finish(session, event, outcome)``
    records the outcome. ``finish`` may return a further request (a reply that depends on what the
    call brought back and on the database): it is called and finished the same way, each call with
    no transaction open. Called as a plain handler it runs them all in the caller's transaction.
    """

    prepare: Callable[[Session, OutboxEvent], Any]
    call: Callable[[Any], Any]
    finish: Callable[[Session, OutboxEvent, Any], Any]

    def __call__(self, session: Session, event: OutboxEvent) -> None:
        request = self.prepare(session, event)
        while request is not None:
            request = self.finish(session, event, self.call(request))


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

    def find(self, kind: str, name: str) -> Handler | None:
        """Return the handler called ``name`` for ``kind``, if still registered."""
        return next((fn for n, fn in self.for_kind(kind) if n == name), None)


registry = HandlerRegistry()


def backoff(attempts: int) -> timedelta:
    """Return the wait before attempt ``attempts + 1``: 5 s, 10 s, 20 s … capped at an hour."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def _run_one(session: Session, event: OutboxEvent, name: str, fn: Handler | None,
             run: HandlerRun | None, now: datetime, fixed_clock: bool = False) -> HandlerRun:
    if run is None:
        run = HandlerRun(org_id=event.org_id, event_id=event.id, handler=name, kind=event.kind,
                         status=RunStatus.RETRY, attempts=0, event_created_at=event.created_at)
    error = ""
    savepoint = session.begin_nested()
    try:
        if fn is None:
            raise LookupError(f"handler {name!r} is no longer registered for {event.kind}")
        fn(session, event)
        savepoint.commit()
        # A new run row joins the session after the batch (one multi-row INSERT), in the same
        # transaction as the handler's writes: at most once still holds.
        # Real completion time for the health figures, unless the caller fixed the clock (tests).
        run.status, run.handled_at, run.next_attempt_at = RunStatus.DONE, now if fixed_clock else utcnow(), None
        run.attempts += 1
        return run
    except Exception as exc:
        savepoint.rollback()
        error = f"{type(exc).__name__}: {exc}"
        log.warning("handler %s failed on event %s: %s", name, event.id, error)
    run.attempts += 1
    run.last_error = error[:2000]
    if run.attempts >= MAX_ATTEMPTS or fn is None:
        run.status, run.next_attempt_at = RunStatus.DEAD, None
    else:
        run.status, run.next_attempt_at = RunStatus.RETRY, now + backoff(run.attempts)
    session.add(run)
    session.flush()
    return run


def _failed(run: HandlerRun, error: str, now: datetime) -> None:
    """Record a failed (already counted) attempt of a network run: retry with backoff, or dead letter."""
    log.warning("handler %s failed on event %s: %s", run.handler, run.event_id, error)
    run.last_error = error[:2000]
    if run.attempts >= MAX_ATTEMPTS:
        run.status, run.next_attempt_at = RunStatus.DEAD, None
    else:
        run.status, run.next_attempt_at = RunStatus.RETRY, now + backoff(run.attempts)


def _run_network(session_factory: sessionmaker[Session], run_id: int, fn: NetworkHandler, now: datetime,
                 fixed_clock: bool = False) -> None:
    """Lease and prepare (short transaction), then call (no transaction) and record the outcome (short
    transaction), again for each further request the outcome leads to."""
    with session_factory() as session:
        run = session.get(HandlerRun, run_id, with_for_update=True)
        if (run is None or run.status != RunStatus.RETRY or run.next_attempt_at is None
                or run.next_attempt_at > now):
            return  # done, dead, or leased by another relay meanwhile
        event = session.get_one(OutboxEvent, run.event_id)
        run.attempts += 1
        run.next_attempt_at = now + LEASE
        lease = (run.attempts, run.next_attempt_at)
        request, error = None, ""
        savepoint = session.begin_nested()
        try:
            request = fn.prepare(session, event)
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            error = f"{type(exc).__name__}: {exc}"
            _failed(run, error, now)
        if request is None and not error:  # nothing to send: done with the lease, no second transaction
            run.status, run.handled_at, run.next_attempt_at = RunStatus.DONE, now if fixed_clock else utcnow(), None
        session.commit()
    while request is not None and not error:
        request, error = _call_and_finish(session_factory, run_id, fn, request, lease, now, fixed_clock)


def _call_and_finish(session_factory: sessionmaker[Session], run_id: int, fn: NetworkHandler, request: Any,
                     lease: tuple[int, datetime | None], now: datetime, fixed_clock: bool) -> tuple[Any, str]:
    """Call (no transaction), then record the outcome (short transaction); return a further request."""
    outcome: Any = None
    error = ""
    try:
        outcome = fn.call(request)  # no transaction is open here: nothing waits on this call
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    follow_up: Any = None
    with session_factory() as session:
        run = session.get(HandlerRun, run_id, with_for_update=True)
        if run is None or (run.attempts, run.next_attempt_at) != lease:
            log.warning("handler run %s was taken over while calling out; outcome dropped", run_id)
            return None, "taken over"
        if not error:
            event = session.get_one(OutboxEvent, run.event_id)
            savepoint = session.begin_nested()
            try:
                follow_up = fn.finish(session, event, outcome)
                savepoint.commit()
            except Exception as exc:
                savepoint.rollback()
                error = f"{type(exc).__name__}: {exc}"
        if error:
            _failed(run, error, now)
        elif follow_up is None:
            run.status, run.handled_at, run.next_attempt_at = RunStatus.DONE, now if fixed_clock else utcnow(), None
        session.commit()  # with a follow-up the run stays leased: its finish's writes are kept meanwhile
    return follow_up, error


def _run_network_all(session_factory: sessionmaker[Session], runs: list[tuple[int, NetworkHandler]],
                     now: datetime, fixed_clock: bool) -> None:
    for run_id, fn in runs:
        try:
            _run_network(session_factory, run_id, fn, now, fixed_clock)
        except Exception:  # bookkeeping failed (database away): the run stays due, retry_due takes it up
            log.exception("network handler run %s could not be recorded", run_id)


def _existing_runs(session: Session, event_ids: Iterable[uuid.UUID]) -> dict[tuple[uuid.UUID, str], HandlerRun]:
    ids = list(event_ids)
    if not ids:
        return {}
    runs = session.scalars(select(HandlerRun).where(HandlerRun.event_id.in_(ids)))
    return {(r.event_id, r.handler): r for r in runs}


def relay_pending(session_factory: sessionmaker[Session], *, limit: int = 500,
                  handlers: HandlerRegistry = registry, now: datetime | None = None) -> int:
    """Hand up to ``limit`` undispatched events to their handlers; return how many were relayed.

    A handler that already ran for an event (DONE, RETRY or DEAD row) is not run again here;
    failed ones are retried by :func:`retry_due`.
    """
    with session_factory() as session:
        events = pending_events(session, limit)
        if not events:
            return 0
        when = now or utcnow()
        seen = _existing_runs(session, (e.id for e in events))
        new_runs = []
        intents: list[tuple[HandlerRun, NetworkHandler]] = []
        for event in events:
            log.debug("event %s %s org=%s", event.kind, event.id, event.org_id)
            for name, fn in handlers.for_kind(event.kind):
                if (event.id, name) in seen:
                    continue
                if isinstance(fn, NetworkHandler):  # only its intent here: due now, called after commit
                    intents.append((HandlerRun(
                        org_id=event.org_id, event_id=event.id, handler=name, kind=event.kind,
                        status=RunStatus.RETRY, attempts=0, next_attempt_at=when,
                        event_created_at=event.created_at), fn))
                    continue
                run = _run_one(session, event, name, fn, None, when, now is not None)
                if run.status == RunStatus.DONE:
                    new_runs.append(run)
        if intents:
            session.add_all([run for run, _fn in intents])
        if new_runs:  # Core executemany: the ORM's per-row bookkeeping dominated relay time
            session.execute(insert(HandlerRun), [
                {"org_id": r.org_id, "event_id": r.event_id, "handler": r.handler, "kind": r.kind,
                 "status": r.status, "attempts": r.attempts, "last_error": "", "next_attempt_at": None,
                 "event_created_at": r.event_created_at, "handled_at": r.handled_at, "created_at": when}
                for r in new_runs])
        session.execute(update(OutboxEvent).where(OutboxEvent.id.in_([e.id for e in events]))
                        .values(dispatched_at=when, attempts=OutboxEvent.attempts + 1)
                        .execution_options(synchronize_session=False))
        session.commit()
    _run_network_all(session_factory, [(run.id, fn) for run, fn in intents], when, now is not None)
    return len(events)


def retry_due(session_factory: sessionmaker[Session], *, limit: int = 200,
              handlers: HandlerRegistry = registry, now: datetime | None = None) -> int:
    """Run the failed handler runs whose backoff has elapsed; return how many were tried."""
    when = now or utcnow()
    with session_factory() as session:
        runs = list(session.scalars(
            select(HandlerRun)
            .where(HandlerRun.status == RunStatus.RETRY, HandlerRun.next_attempt_at <= when)
            .order_by(HandlerRun.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
        ))
        network: list[tuple[int, NetworkHandler]] = []
        for run in runs:
            event = session.get_one(OutboxEvent, run.event_id)
            fn = handlers.find(event.kind, run.handler)
            if isinstance(fn, NetworkHandler):
                network.append((run.id, fn))
                continue
            _run_one(session, event, run.handler, fn, run, when, now is not None)
        session.commit()
    _run_network_all(session_factory, network, when, now is not None)
    return len(runs)


def dead_letters(session: Session, org_id: int | None = None, limit: int = 100) -> list[HandlerRun]:
    """Return dead handler runs, newest first (all organisations when ``org_id`` is None)."""
    stmt = select(HandlerRun).where(HandlerRun.status == RunStatus.DEAD)
    if org_id is not None:
        stmt = stmt.where(HandlerRun.org_id == org_id)
    return list(session.scalars(stmt.order_by(HandlerRun.id.desc()).limit(limit)))


def replay_dead(session: Session, run_ids: Iterable[int], *, org_id: int | None = None,
                now: datetime | None = None) -> int:
    """Put dead runs back in line (due now, attempts reset); the caller commits."""
    stmt = select(HandlerRun).where(HandlerRun.id.in_(list(run_ids)), HandlerRun.status == RunStatus.DEAD)
    if org_id is not None:
        stmt = stmt.where(HandlerRun.org_id == org_id)
    runs = list(session.scalars(stmt))
    for run in runs:
        run.status, run.attempts, run.next_attempt_at = RunStatus.RETRY, 0, now or utcnow()
    return len(runs)
