"""The unit of work a posting runs in: session, actor, catalog snapshot and posting writer.

cosmicpython's shape, fitted to our operations (which take a session so that every channel, the
relay and the tests can call them alike): :func:`begin` returns the transaction's UnitOfWork,
made once per transaction and kept in ``session.info``. Its first call reads the org's config
version (together with whatever the operation asks to read up front, in one round trip) and takes
the cached :class:`~models.catalog_snapshot.CatalogSnapshot` for that version. Queued rows are sent
by the writer when the operation ends (``models.idempotency.idempotent`` does it), or at the
latest before the next ORM flush or the commit; a rollback, whole or to a savepoint, drops them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import ORMExecuteState, Session

from models.actor import Actor
from models.catalog_snapshot import CatalogSnapshot, install_version_bump, snapshot_for
from models.org import Org
from models.posting_writer import PostingWriter, Read, writer_for

_VERSION = Read("org.config_version", lambda: select(Org.config_version).where(Org.id == bindparam("org_id")),
                {}, {"org_id": Org.__table__.c.id.type})
#: A posting's version read. FOR SHARE (PostgreSQL; SQLite's one writer needs nothing) holds the org
#: row until the posting commits, so whatever changes the org's config version (a month-end close
#: first of all, which takes the row FOR NO KEY UPDATE before anything else; a master-data edit by
#: its version bump) waits for every posting that read the older snapshot, and a posting that begins
#: meanwhile waits for it and then reads the new version (models.operations.closing). Postings do
#: not wait for each other, and foreign-key checks (FOR KEY SHARE) never wait for a close.
_POSTING_VERSION = Read(
    "org.config_version.posting",
    lambda: select(Org.config_version).where(Org.id == bindparam("org_id")).with_for_update(read=True),
    {}, {"org_id": Org.__table__.c.id.type})
#: session.info key: the org whose row this transaction holds (see _POSTING_VERSION).
_HELD = "posting_org_held"


def _version_with(ids: Read, org_id: int) -> Read:
    """The one-row read ``ids`` with the org's config version (held FOR SHARE, as _POSTING_VERSION
    holds it) as its last column."""

    def build() -> Any:
        return ids.build().add_columns(_POSTING_VERSION.build().scalar_subquery())

    return Read(f"{ids.key}+{_POSTING_VERSION.key}", build, {**ids.params, "org_id": org_id},
                {**ids.types, **_POSTING_VERSION.types})


@dataclass
class UnitOfWork:
    """One transaction's posting context (see the module docstring)."""

    session: Session
    actor: Actor
    catalog: CatalogSnapshot
    writer: PostingWriter

    def fetch(self, reads: Sequence[Read]) -> list[list[tuple[Any, ...]]]:
        """Run reads together (one round trip on PostgreSQL)."""
        return self.writer.fetch(reads) if reads else []


def begin(session: Session, actor: Actor, reads: Sequence[Read] = ()) -> tuple[UnitOfWork, list[list[tuple[Any, ...]]]]:
    """The transaction's unit of work for ``actor``, and the results of ``reads`` (run with the
    config-version read when this is the transaction's first posting)."""
    writer = writer_for(session)
    if reads and (session.new or session.deleted or session.dirty):
        # The reads go past the ORM: they must see what this transaction changed through it (an
        # order's reservations, a freeze), as an ORM query would after its autoflush.
        session.flush()
    found = session.info.get("unit_of_work")
    if isinstance(found, UnitOfWork) and found.actor.org_id == actor.org_id:
        uow = found if found.actor is actor else UnitOfWork(session, actor, found.catalog, writer)
        ahead = session.info.pop(READ_AHEAD, None)
        if ahead is not None and ahead[0] == _signature(reads):
            return uow, ahead[1]
        return uow, uow.fetch(reads)
    if reads and reads[-1].one_row and writer.dialect_name == "postgresql":
        # The version rides as one more column of the id allocation's row: one statement less
        # (each costs psycopg's pipeline a cursor and a socket write). Still read first.
        ids = reads[-1]
        found = writer.fetch([_version_with(ids, actor.org_id), *reads[:-1]])
        version = found[0][0][-1] or ""
        results = [*found[1:], [found[0][0][:-1]]]
    else:
        version_read = Read(_POSTING_VERSION.key, _POSTING_VERSION.build, {"org_id": actor.org_id},
                            _POSTING_VERSION.types)
        found = writer.fetch([version_read, *reads])
        version = found[0][0][0] if found[0] else ""
        results = found[1:]
    uow = UnitOfWork(session, actor, snapshot_for(session, actor.org_id, version), writer)
    session.info["unit_of_work"] = uow
    session.info[_HELD] = actor.org_id
    return uow, results


#: session.info key: (signature, results) of the reads the next operation will ask :func:`begin`
#: for, run ahead together with the other operations' of a group (:func:`read_ahead`).
READ_AHEAD = "uow_read_ahead"


def _signature(reads: Sequence[Read]) -> list[tuple[str, dict[str, Any]]]:
    return [(read.key, dict(read.params)) for read in reads]


def read_ahead(session: Session, actor: Actor, reads: Sequence[Sequence[Read]]) -> list[tuple[Any, Any]]:
    """Run the reads of several operations about to run in this transaction in one round trip
    (with the version read if it is the first): a group of receipts (models.group_commit) waits for
    one answer instead of one per receipt. Returns, per operation, what to put in
    ``session.info[READ_AHEAD]`` just before it runs; its :func:`begin` takes it when its reads match
    (any other reads fall through)."""
    flat = [read for op_reads in reads for read in op_reads]
    _uow, results = begin(session, actor, flat)
    ahead = []
    start = 0
    for op_reads in reads:
        ahead.append((_signature(op_reads), results[start:start + len(op_reads)]))
        start += len(op_reads)
    return ahead


def catalog_of(session: Session, org_id: int) -> CatalogSnapshot:
    """The org's catalog snapshot for this transaction (the unit of work's, else read by version)."""
    found = session.info.get("unit_of_work")
    if isinstance(found, UnitOfWork) and found.actor.org_id == org_id:
        return found.catalog
    cached = session.info.get("catalog")
    if isinstance(cached, CatalogSnapshot) and cached.org.id == org_id:
        return cached
    # The version is read without an autoflush (as begin() reads it): in a long batch session an
    # autoflush is the costliest part of a small read.
    read = Read(_VERSION.key, _VERSION.build, {"org_id": org_id}, _VERSION.types)
    rows = writer_for(session).fetch([read])[0]
    snap = snapshot_for(session, org_id, rows[0][0] if rows else "")
    session.info["catalog"] = snap
    return snap


def posting_catalog(session: Session, org_id: int) -> CatalogSnapshot:
    """The org's catalog snapshot for a posting outside :func:`begin` (an ORM operation's voucher):
    read with the org row held as :func:`begin` holds it, so it cannot be older than a close."""
    found = session.info.get("unit_of_work")
    if session.info.get(_HELD) == org_id and isinstance(found, UnitOfWork) and found.actor.org_id == org_id:
        return found.catalog
    cached = session.info.get("catalog")
    if session.info.get(_HELD) == org_id and isinstance(cached, CatalogSnapshot) and cached.org.id == org_id:
        return cached
    read = Read(_POSTING_VERSION.key, _POSTING_VERSION.build, {"org_id": org_id}, _POSTING_VERSION.types)
    rows = writer_for(session).fetch([read])[0]
    snap = snapshot_for(session, org_id, rows[0][0] if rows else "")
    session.info["catalog"] = snap
    session.info[_HELD] = org_id
    return snap


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop("unit_of_work", None)
    session.info.pop("catalog", None)
    session.info.pop(_HELD, None)  # a lock taken inside a savepoint goes with its rollback
    writer = session.info.get("posting_writer")
    if writer is not None:
        writer.discard()


def _end_of_transaction(session: Session, *_args: Any) -> None:
    session.info.pop("unit_of_work", None)
    session.info.pop("catalog", None)
    session.info.pop(_HELD, None)
    writer = session.info.get("posting_writer")
    if writer is not None:
        writer.transaction_committed()


def _transaction_ended(session: Session, transaction: Any) -> None:
    writer = session.info.get("posting_writer")
    if transaction.parent is None:
        session.info.pop(_HELD, None)
    if writer is not None and transaction.parent is None:
        writer.forget_connection()
        writer.transaction_ended()  # after a rollback: its numbers are handed out again


def _send_before_flush(session: Session, *_args: Any) -> None:
    # ORM rows about to be flushed may refer to queued ones (a lot, a document).
    writer = session.info.get("posting_writer")
    if writer is not None and writer.pending:
        writer.send()


def _send_before_commit(session: Session) -> None:
    writer = session.info.get("posting_writer")
    if writer is not None and writer.pending:
        session.flush()  # the ORM's rows first (ours may refer to them, or they to ours)
        # COMMIT rides in the rows' round trip only when nothing is left for SQLAlchemy to flush.
        writer.send(commit=not (session.new or session.dirty or session.deleted))


def _send_before_orm_statement(state: ORMExecuteState) -> None:
    # An ORM read after a posting queued its rows must see them.
    writer = state.session.info.get("posting_writer")
    if writer is not None and writer.pending and not state.execution_options.get("config_version_bump"):
        writer.send()


def install() -> None:
    """Register the session hooks (idempotent): send before flush/commit, drop on rollback, new
    config version when master data changes."""
    install_version_bump()
    if not event.contains(Session, "before_commit", _send_before_commit):
        event.listen(Session, "before_commit", _send_before_commit)
        event.listen(Session, "before_flush", _send_before_flush)
        event.listen(Session, "after_soft_rollback", _forget)
        event.listen(Session, "after_commit", _end_of_transaction)
        event.listen(Session, "do_orm_execute", _send_before_orm_statement)
        event.listen(Session, "after_transaction_end", _transaction_ended)


install()
