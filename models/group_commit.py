"""Postings that arrive together in one process commit together (application-level group commit).

Sixteen clerks receiving at once each paid a transaction of their own: a session, a connection
checkout, a BEGIN, the config-version read, a COMMIT and its WAL flush, on two cores shared with
the database. Here the first of several concurrent callers of :func:`models.uow.run` with a
*groupable* operation becomes the leader: it runs every request waiting at that moment (up to
:data:`MAX_GROUP`, one org at a time) in one transaction and commits once; the others wait for
their own answer. On PostgreSQL the group's up-front reads (the version, each request's freezes
and new ids) go in one round trip first, and its rows with the COMMIT in one more. Nothing waits
on purpose: a lone request is a group of one and runs exactly as before, and a group forms only
from requests that arrived while the previous one was in flight.

Each request still stands alone:

* its result or its domain error is its own. An operation that refuses (a frozen site, a price
  without permission) has written nothing yet: its queued rows and numbers are taken back
  (:meth:`models.posting_writer.PostingWriter.undo_to`) and the others go on;
* anything else — an operation that fails after something of it reached the database, a bug, a
  serialization failure, a constraint the commit breaks — rolls the whole group back, and every
  request of it runs again alone through ``run``'s own path (its retries, its CONFLICT answer), so
  no caller ever sees another's failure;
* the leader answers each request only after the group's COMMIT.

An operation is groupable when it carries ``group_when`` (set by :func:`groupable`): a predicate
over its arguments that admits only the shape whose reads take no row lock (a receipt of a new
lot, not against a purchase order): two groups then cannot wait for each other's rows.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from models.errors import DomainError
from models.posting_writer import COMMIT_FOLLOWS, Read, writer_for
from models.unit_of_work import READ_AHEAD, read_ahead

log = logging.getLogger(__name__)

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

#: Most requests committed together. A group of receipts goes out as one statement of at most this
#: many rows per table (models.posting_writer._ONE_STATEMENT_MAX_ROWS).
MAX_GROUP = 16

#: session.info key: ORM flushes so far (an operation that flushed cannot be taken back alone).
_FLUSHES = "group_commit_flushes"


def groupable(when: Callable[..., bool], *, reads: Callable[..., list[Read]] | None = None) -> Callable[[F], F]:
    """Mark an operation ``fn(session, actor, command, **kw)`` as one that may commit with others
    when ``when(actor, command, **kw)`` holds. ``reads(session, actor, command, **kw)``, if given,
    are the reads the operation will ask ``unit_of_work.begin`` for: on PostgreSQL a group runs
    every request's in one round trip before the first runs."""

    def mark(fn: F) -> F:
        cast(Any, fn).group_when = when
        cast(Any, fn).group_reads = reads
        return fn

    return mark


def wanted(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether this call may join a group."""
    when = getattr(fn, "group_when", None)
    if when is None or getattr(_local, "leading", False):
        return False
    try:
        return bool(when(*args, **kwargs))
    except TypeError:  # arguments the operation itself will refuse, alone
        return False


class _Apart(Exception):
    """The group cannot commit as one: every request runs alone."""


@dataclass(eq=False)
class _Request:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    org_id: int
    done: threading.Event = field(default_factory=threading.Event)
    #: Set instead of an answer: this waiter leads the next group.
    lead: bool = False
    answered: bool = False
    result: Any = None
    error: BaseException | None = None

    def answer(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.answered = result, error, True
        self.done.set()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


_local = threading.local()

Alone = Callable[..., Any]


class _Combiner:
    """The waiting requests of one session factory (one database) in this process. It keeps no
    reference to the factory (the leader is handed it): the registry's weak key would otherwise
    never die, and with it the engine and its pooled connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[_Request] = deque()
        #: Whether a caller is leading now. One at a time: only the leader takes from the queue, so a
        #: waiter's request is never in two places (one group in flight per process; its reads are
        #: one round trip, so it is short).
        self._leading = False
        #: Size of the last group: that many callers may be about to send again.
        self._last = 0

    def submit(self, factory: sessionmaker[Session], alone: Alone, fn: Callable[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
        own = _Request(fn, args, kwargs, args[0].org_id)
        with self._lock:
            self._queue.append(own)
            lead = not self._leading
            self._leading = True
        if not lead:
            own.done.wait()
            if own.answered:
                return own.outcome()
            own.done.clear()  # promoted: lead from here
        self._lead(factory, alone, own)
        return own.outcome()

    def _take(self) -> list[_Request]:
        """The next group: the oldest request and those of its org behind it, in order."""
        org_id = self._queue[0].org_id
        group: list[_Request] = []
        kept: deque[_Request] = deque()
        while self._queue:
            request = self._queue.popleft()
            if request.org_id == org_id and len(group) < MAX_GROUP:
                group.append(request)
            else:
                kept.append(request)
        self._queue = kept
        return group

    def _lead(self, factory: sessionmaker[Session], alone: Alone, own: _Request) -> None:
        """Commit groups until ``own`` is answered, then hand the lead to the oldest waiter."""
        try:
            while not own.answered:
                # The callers the last group answered are about to send their next requests: let
                # them queue first, or every other group is a group of one. Only thread switches,
                # no sleep, and only while each switch brings another request.
                waiting = len(self._queue)
                while waiting < self._last:
                    time.sleep(0)
                    if len(self._queue) == waiting:
                        break
                    waiting = len(self._queue)
                with self._lock:
                    group = self._take()
                    self._last = len(group)
                _apply(factory, alone, group)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._leading = False


def _apply(factory: sessionmaker[Session], alone: Alone, group: list[_Request]) -> None:
    """Answer every request of ``group``: together if it can, else each alone."""
    try:
        if len(group) > 1:
            try:
                outcomes = _together(factory, group)
            except Exception as exc:  # whatever it was, each request runs alone and meets it there
                log.info("a group of %d ran apart: %s", len(group), type(exc.__cause__ or exc).__name__)
                outcomes = None
            if outcomes is not None:
                for request, (result, error) in zip(group, outcomes, strict=True):
                    request.answer(result, error)
                return
        for request in group:
            try:
                request.answer(alone(factory, request.fn, *request.args, **request.kwargs))
            except Exception as exc:  # the caller's own error, raised in its thread
                request.answer(error=exc)
    finally:
        for request in group:
            if not request.answered:  # the leader itself was interrupted (KeyboardInterrupt, …)
                request.answer(error=RuntimeError("group commit interrupted"))


def _together(factory: sessionmaker[Session], group: list[_Request]) -> list[tuple[Any, DomainError | None]]:
    """Run the group in one transaction, each request's rows waiting for the one COMMIT."""
    _local.leading = True
    try:
        with factory() as session:
            writer = writer_for(session)
            ahead = _read_ahead(session, group) if writer.dialect_name == "postgresql" else None
            outcomes: list[tuple[Any, DomainError | None]] = []
            for n, request in enumerate(group):
                session.info[COMMIT_FOLLOWS] = request.fn  # its rows may wait for the commit
                mark, flushes = writer.mark(), session.info.get(_FLUSHES, 0)
                if ahead is not None:
                    session.info[READ_AHEAD] = ahead[n]
                try:
                    outcomes.append((request.fn(session, *request.args, **request.kwargs), None))
                except DomainError as exc:
                    untouched = writer.undo_to(mark) and session.info.get(_FLUSHES, 0) == flushes
                    if not untouched or session.new or session.dirty or session.deleted:
                        raise _Apart from exc
                    outcomes.append((None, exc))
                finally:
                    session.info.pop(READ_AHEAD, None)
            session.commit()
            return outcomes
    finally:
        _local.leading = False


def _read_ahead(session: Session, group: list[_Request]) -> list[tuple[Any, Any]] | None:
    """Every request's up-front reads in one round trip, when each operation declares them."""
    readers = [getattr(request.fn, "group_reads", None) for request in group]
    if not all(readers):
        return None
    reads = [reader(session, *request.args, **request.kwargs)
             for reader, request in zip(readers, group, strict=True) if reader is not None]
    return read_ahead(session, group[0].args[0], reads)


_combiners: weakref.WeakKeyDictionary[sessionmaker[Session], _Combiner] = weakref.WeakKeyDictionary()
_combiners_lock = threading.Lock()


def submit(session_factory: sessionmaker[Session], alone: Alone, fn: Callable[..., R], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> R:
    """Run ``fn(session, *args, **kwargs)`` committed, possibly together with concurrent requests;
    ``alone(session_factory, fn, *args, **kwargs)`` runs one request in a transaction of its own."""
    combiner = _combiners.get(session_factory)
    if combiner is None:
        with _combiners_lock:
            combiner = _combiners.get(session_factory)
            if combiner is None:
                combiner = _combiners[session_factory] = _Combiner()
    result: R = combiner.submit(session_factory, alone, fn, args, kwargs)
    return result


def _count_flush(session: Session, _context: Any) -> None:
    session.info[_FLUSHES] = session.info.get(_FLUSHES, 0) + 1


if not event.contains(Session, "after_flush", _count_flush):
    event.listen(Session, "after_flush", _count_flush)
