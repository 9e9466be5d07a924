"""Apply a queue of idempotent operations (an offline phone's) in one transaction, one savepoint each.

A phone that was offline sends its whole morning at once. One transaction per operation made a
200-entry queue pay 200 commits (and 200 fsyncs on SQLite); here the queue pays one. Each entry
still stands alone: it runs inside a SAVEPOINT, so a domain error or a constraint it breaks rolls
back only its own writes and becomes its conflict, and the entries around it are kept.

Replays are answered before anything is written: the member's idempotency records of all the
batch's keys are read in one query, and a key sent again with the same body gets its first answer
back without running the operation. A key sent again with another body, or a key another member
already used, is a conflict, as for a single request.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from models import group_commit
from models.actor import Actor
from models.errors import DomainError, IdempotencyConflict
from models.idempotency import KNOWN_NEW_KEYS, key_scope, request_hash
from models.infra import IdempotencyRecord
from models.uow import RETRY_CONSTRAINTS, as_conflict, run

log = logging.getLogger(__name__)

Status = Literal["applied", "already_applied", "conflict"]

#: Keys per IN (...) list: well below SQLite's bound-parameter limit whatever the batch size.
_KEYS_PER_QUERY = 500


@dataclass(frozen=True)
class BatchOp:
    """One queued operation: its idempotency key, an ``@idempotent`` operation and its command."""

    key: str
    operation: Callable[..., Any]
    command: object


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one queued operation.

    ``result`` is the operation's result (the first answer for ``already_applied``); ``error`` is set
    for a ``conflict``: a ``DomainError``, or, for a bug in one operation, the exception it raised
    (logged here; the caller reports it without details).
    """

    status: Status
    result: Any = None
    error: Exception | None = None


@functools.cache
def _result_adapter(operation: Callable[..., Any]) -> TypeAdapter[Any]:
    # The same adapter models.idempotency builds from the operation's return annotation, so a replay
    # answered here has the type and values a replay through the operation itself would have.
    result_type: Any = typing.get_type_hints(inspect.unwrap(operation))["return"]
    return TypeAdapter(result_type)


def _operation_name(operation: Callable[..., Any]) -> str:
    name = getattr(operation, "operation_name", None)
    if name is None:
        raise TypeError(f"{getattr(operation, '__name__', operation)!r} is not an @idempotent operation")
    return str(name)


def _chunks(keys: list[str]) -> list[list[str]]:
    return [keys[i:i + _KEYS_PER_QUERY] for i in range(0, len(keys), _KEYS_PER_QUERY)]


@dataclass(frozen=True)
class _Seen:
    """The part of an idempotency record a replay needs: plain values, never expired by a savepoint rollback."""

    operation: str
    request_hash: str
    result: Any


def _own_records(session: Session, actor: Actor, keys: list[str]) -> dict[str, _Seen]:
    """Return this member's records of ``keys`` (never another member's)."""
    found: dict[str, _Seen] = {}
    for chunk in _chunks(keys):
        rows = session.execute(select(
            IdempotencyRecord.key, IdempotencyRecord.operation, IdempotencyRecord.request_hash,
            IdempotencyRecord.result).where(
            IdempotencyRecord.org_id == actor.org_id, IdempotencyRecord.member_id == key_scope(actor),
            IdempotencyRecord.key.in_(chunk)))
        for key, operation, digest, result in cast("Iterable[tuple[str, str, str, Any]]", rows):
            found[key] = _Seen(operation, digest, result)
    return found


def _keys_of_others(session: Session, actor: Actor, keys: list[str]) -> set[str]:
    """Return which of ``keys`` another scope of the org already used (their answers are never read)."""
    taken: set[str] = set()
    for chunk in _chunks(keys):
        taken.update(session.scalars(select(IdempotencyRecord.key).where(
            IdempotencyRecord.org_id == actor.org_id, IdempotencyRecord.key.in_(chunk),
            IdempotencyRecord.member_id != key_scope(actor))))
    return taken


def _is_race(exc: IntegrityError) -> bool:
    """Whether a constraint error is the claim race ``models.uow.run`` retries (not this entry's fault).

    Such an error must fail the whole transaction so that ``run`` retries it: the retry then finds the
    concurrent request's committed answer. Derived from uow's public pieces; models.uow keeps the
    authoritative rule private (``_retryable``).
    """
    details = as_conflict(exc).details
    return details.get("kind") == "unique" and details.get("constraint") in RETRY_CONSTRAINTS


def _replay(op: BatchOp, digest: str, record: _Seen) -> BatchOutcome:
    if record.request_hash != digest or record.result is None:
        return BatchOutcome("conflict", error=IdempotencyConflict(key=op.key, operation=record.operation))
    return BatchOutcome("already_applied", _result_adapter(op.operation).validate_python(record.result))


def _apply_one(session: Session, actor: Actor, op: BatchOp) -> BatchOutcome:
    """Run one entry inside a savepoint; its failure rolls back only its own writes."""
    try:
        with session.begin_nested():
            result = op.operation(session, actor, op.command, idempotency_key=op.key)
            session.flush()  # its constraint errors surface here, inside its own savepoint
    except DomainError as exc:
        return BatchOutcome("conflict", error=exc)
    except OperationalError:
        raise  # lock, serialization failure, deadlock: the whole transaction is retried or fails
    except IntegrityError as exc:
        if _is_race(exc):
            raise
        return BatchOutcome("conflict", error=as_conflict(exc))
    except Exception as exc:  # one broken entry must not stop the queue behind it
        log.exception("batch operation %s (%s) failed", op.key, _operation_name(op.operation))
        return BatchOutcome("conflict", error=exc)
    return BatchOutcome("applied", result)


def _only_groupable(actor: Actor, ops: Sequence[BatchOp]) -> bool:
    # Phones sending receipts at once commit together (models.group_commit): each entry keeps its
    # savepoint, so another batch's refusal is never this one's. A batch holding anything else (a
    # shipment locks balances) keeps a transaction of its own.
    return all(group_commit.wanted(op.operation, (actor, op.command), {}) for op in ops)


@group_commit.groupable(_only_groupable)
def _apply_all(session: Session, actor: Actor, ops: Sequence[BatchOp]) -> list[BatchOutcome]:
    counts = Counter(op.key for op in ops)
    keys, repeated = list(counts), {key for key, n in counts.items() if n > 1}
    records = _own_records(session, actor, keys)
    others = _keys_of_others(session, actor, [k for k in keys if k not in records])
    session.info[KNOWN_NEW_KEYS] = {k for k in keys if k not in records and k not in others and k not in repeated}
    outcomes: list[BatchOutcome] = []
    for op in ops:
        digest = request_hash(_operation_name(op.operation), op.command)
        record = records.get(op.key)
        if record is not None:
            outcomes.append(_replay(op, digest, record))
        elif op.key in others:
            # The key is also what the operation stores (an offline receipt's move id): it cannot be
            # a new request of this member.
            outcomes.append(BatchOutcome("conflict", error=IdempotencyConflict(
                "这个离线操作编号已被其他成员使用，请重新生成", key=op.key)))
        else:
            outcome = _apply_one(session, actor, op)
            if outcome.status == "applied" and op.key in repeated:
                # A later entry with the same key (a queue holding one operation twice) is its replay; the
                # record the operation claimed in this transaction answers it.
                records.update(_own_records(session, actor, [op.key]))
            outcomes.append(outcome)
    return outcomes


def apply_batch(
    session_factory: sessionmaker[Session], actor: Actor, ops: Sequence[BatchOp],
) -> list[BatchOutcome]:
    """Apply ``ops`` in order in one transaction, each in its own savepoint; return their outcomes in order.

    A lock, serialization failure or claim race of the transaction retries the whole batch (via
    ``models.uow.run``); replays found by the retry are then reported as ``already_applied``.
    """
    for op in ops:
        _operation_name(op.operation)  # refuse a non-idempotent operation before anything runs
    if not ops:
        return []
    return run(session_factory, _apply_all, actor, ops)
