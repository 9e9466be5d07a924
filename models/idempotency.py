"""Exactly-once operations: a replayed key returns the first answer, a changed body a 409."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import typing
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ParamSpec, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor
from models.errors import IdempotencyConflict
from models.infra import IdempotencyRecord
from models.posting_writer import COMMIT_FOLLOWS, table_of, writer_for

_records = table_of(IdempotencyRecord)

C = TypeVar("C")
R = TypeVar("R")
P = ParamSpec("P")


_PLAIN = (str, int, float, bool, type(None))


def _canonical(value: Any) -> Any:
    if type(value) in _PLAIN:  # most leaves: skip the checks below
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        # 23.5 and 23.50 are the same request.
        return format(value.normalize(), "f")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        # Uploaded files: the same bytes are the same request.
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, uuid.UUID):
        # Offline phones mint their own move ids (ReceiveGoods.move_id).
        return str(value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    return value


def request_hash(operation: str, command: object) -> str:
    """Return a stable sha256 of an operation's name and command."""
    body = json.dumps({"op": operation, "cmd": _canonical(command)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


#: ``session.info`` key: idempotency keys this transaction has already looked up and found unused
#: (models.operations.batch reads a whole queue's keys in one query). A concurrent request that
#: claims one meanwhile still meets the record's unique index, and the transaction is retried.
KNOWN_NEW_KEYS = "idempotency_known_new_keys"

#: Scope of keys that are not one member's: system actors (workers, devices, rules) and keys that
#: name a shared thing whose permission the caller has already checked.
SHARED_SCOPE = 0


def key_scope(actor: Actor, *, shared: bool = False) -> int:
    """Return the scope an actor's idempotency keys live in: the member, or SHARED_SCOPE."""
    if shared or actor.member_id is None:
        return SHARED_SCOPE
    return actor.member_id


def find_record(session: Session, actor: Actor, key: str, *, shared: bool = False) -> IdempotencyRecord | None:
    """Return the actor's own record for ``key`` (never another member's), or None."""
    return session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.org_id == actor.org_id,
        IdempotencyRecord.member_id == key_scope(actor, shared=shared),
        IdempotencyRecord.key == key,
    ))


def used_by_another(session: Session, actor: Actor, key: str) -> bool:
    """Whether another scope of the org already used ``key`` (its answer is never returned here)."""
    return session.scalar(select(IdempotencyRecord.id).where(
        IdempotencyRecord.org_id == actor.org_id, IdempotencyRecord.key == key,
        IdempotencyRecord.member_id != key_scope(actor)).limit(1)) is not None


def idempotent(
    operation: str,
) -> Callable[[Callable[[Session, Actor, C], R]], Callable[..., R]]:
    """Make ``fn(session, actor, command)`` accept ``idempotency_key=`` and replay by it.

    Keys are scoped to the member who sent them: a replay only ever returns what that same member
    was allowed to get the first time, and another member's key is simply a new key for this one
    (whose operation then checks his permissions). ``shared_key=True`` puts the key in the org's
    shared scope, for keys derived from a thing (``intake:<draft>``) after the caller's own check.

    The record is written with the answer, by the posting writer, in the operation's own
    transaction; every row the operation queued is sent when it returns (nothing when it raises).
    A concurrent request with the same key blocks on the record's unique index until the first
    commits, then fails; ``models.uow.run`` retries it, and the retry finds the first answer.
    """

    def decorate(fn: Callable[[Session, Actor, C], R]) -> Callable[..., R]:
        result_type = typing.get_type_hints(fn)["return"]
        adapter: TypeAdapter[Any] = TypeAdapter(result_type)

        @functools.wraps(fn)
        def wrapper(session: Session, actor: Actor, command: C, *, idempotency_key: str | None = None,
                    shared_key: bool = False) -> R:
            writer = writer_for(session)
            # Called by models.uow.run as the whole transaction (or as one request of a group,
            # models.group_commit): the rows go out with its COMMIT, in one round trip.
            last_in_transaction = session.info.get(COMMIT_FOLLOWS) is wrapper
            mark = writer.mark()
            try:
                if not idempotency_key:
                    result = fn(session, actor, command)
                else:
                    digest = request_hash(operation, command)
                    known_new = idempotency_key in session.info.get(KNOWN_NEW_KEYS, ())
                    record = None if known_new else find_record(session, actor, idempotency_key, shared=shared_key)
                    if record is not None:
                        if record.request_hash != digest or record.result is None:
                            raise IdempotencyConflict(key=idempotency_key, operation=record.operation)
                        return adapter.validate_python(record.result)
                    result = fn(session, actor, command)
                    writer.insert(
                        _records, org_id=actor.org_id, member_id=key_scope(actor, shared=shared_key),
                        key=idempotency_key, operation=operation, request_hash=digest,
                        result=adapter.dump_python(result, mode="json"))
                if last_in_transaction:
                    return result
                writer.flush()
            except BaseException:
                # Only this operation's rows: others queued before it in the transaction (a group of
                # receipts committed together, models.group_commit) stay.
                writer.undo_to(mark)
                raise
            return result

        wrapper.operation_name = operation  # type: ignore[attr-defined]
        return wrapper

    return decorate
