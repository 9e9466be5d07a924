"""Run one operation as one transaction, retrying the conflicts a retry can cure."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from models import group_commit
from models.base import Base
from models.errors import DataConflict, PeriodClosed
from models.infra import IdempotencyRecord
from models.posting_writer import COMMIT_FOLLOWS

R = TypeVar("R")

#: PostgreSQL SQLSTATEs worth one more try: serialization failure, deadlock.
_RETRY_SQLSTATES = {"40001", "40P01"}


def _unique_name(table: Any) -> str:
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            return str(constraint.name)
    raise LookupError(table.name)


#: Unique constraints whose violation is a race a retry resolves: claims that an operation first looks up
#: and then inserts. Two requests with one idempotency key: the loser blocks on the key's index and fails;
#: its retry finds the first answer and replays it. The same holds for a device reading delivered twice at
#: once (its dedupe key) and an offline intake sent twice (its client id); a chat message redelivered while
#: the first delivery is still running; rows that two postings may both be first to create (a balance
#: row on a new (item, site, lot), a chat dialog, a login session); and the reactions' once-only markers
#: (handler runs, notifications, webhook deliveries). Master-data codes are not here: a duplicate code is
#: the user's mistake, answered once as CONFLICT.
RETRY_CONSTRAINTS = frozenset({
    _unique_name(IdempotencyRecord.__table__),
    "uq_device_readings_device_id_dedupe_key",
    "uq_intake_drafts_org_id_client_id",
    "uq_chat_inbound_channel_msg_key",
    "uq_chat_dialogs_org_id_channel_external_id",
    "uq_callback_signatures_channel_sig_key",
    "uq_platform_sessions_provider_external_id",
    "uq_balances_item_id_site_id_lot_id",
    "uq_lots_org_id_item_id_code",
    "uq_documents_org_id_number",
    "uq_vouchers_org_id_number",
    "uq_safety_stocks_org_id_item_id_site_id",
    "uq_handler_runs_event_id_handler",
    "uq_notifications_dedupe_key",
    "uq_webhook_deliveries_subscription_id_event_id",
})

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


def _sqlite_unique_constraint(message: str) -> tuple[str | None, str | None]:
    """Map SQLite's "UNIQUE constraint failed: t.a, t.b" to (table, constraint name) via the metadata."""
    match = _SQLITE_UNIQUE.search(message)
    if match is None:
        return None, None
    qualified = [c.strip() for c in match.group(1).split(",")]
    table_name = qualified[0].rsplit(".", 1)[0]
    columns = [c.rsplit(".", 1)[-1] for c in qualified]
    table = Base.metadata.tables.get(table_name)
    if table is None:
        return table_name, None
    candidates: list[Any] = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    candidates += [i for i in table.indexes if isinstance(i, Index) and i.unique]
    for candidate in candidates:
        if [c.name for c in candidate.columns] == columns:
            return table_name, str(candidate.name)
    return table_name, None


def _integrity_facts(exc: IntegrityError) -> tuple[str, str | None, str | None]:
    """Return (kind, table, constraint) of an integrity error on either database."""
    state = _sqlstate(exc)
    diag = getattr(exc.orig, "diag", None)
    if state is not None:  # PostgreSQL
        kind = {"23505": "unique", "23503": "foreign_key", "23502": "not_null", "23514": "check"}.get(state, "other")
        return kind, getattr(diag, "table_name", None), getattr(diag, "constraint_name", None)
    message = str(exc.orig)
    if "UNIQUE constraint failed" in message:
        table, constraint = _sqlite_unique_constraint(message)
        return "unique", table, constraint
    if "FOREIGN KEY constraint failed" in message:
        return "foreign_key", None, None
    if "NOT NULL constraint failed" in message:
        return "not_null", message.split(":", 1)[-1].strip().rsplit(".", 1)[0], None
    if "CHECK constraint failed" in message:
        return "check", None, message.split(":", 1)[-1].strip() or None
    return "other", None, None


def _retryable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        # The server dropped the connection (restart, idle timeout) before anything committed.
        return True
    if isinstance(exc, IntegrityError):
        kind, _table, constraint = _integrity_facts(exc)
        return kind == "unique" and constraint in RETRY_CONSTRAINTS
    if _sqlstate(exc) in _RETRY_SQLSTATES:
        return True
    # SQLite: another writer held the lock past the busy timeout.
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig).lower()


#: The closed period's voucher counter refused a number (models.documents.NumberSequence).
PERIOD_LOCK_CONSTRAINT = "ck_number_sequences_open"

_CONFLICT_MESSAGES = {
    "unique": "数据冲突：相同的记录已存在（编码或名称重复）",
    "foreign_key": "数据冲突：引用的记录不存在或已被删除",
}


def as_conflict(exc: IntegrityError) -> DataConflict:
    """Translate an integrity error a retry cannot cure into a stable CONFLICT domain error."""
    kind, table, constraint = _integrity_facts(exc)
    if constraint == PERIOD_LOCK_CONSTRAINT:
        # A posting that read its period as open just before a close committed (see models.posting.ensure_open).
        return PeriodClosed(kind=kind, table=table, constraint=constraint)
    return DataConflict(_CONFLICT_MESSAGES.get(kind, "数据冲突：数据不符合约束"),
                        kind=kind, table=table, constraint=constraint)


def run(
    session_factory: sessionmaker[Session],
    fn: Callable[..., R],
    /,
    *args: Any,
    attempts: int = 3,
    **kwargs: Any,
) -> R:
    """Call ``fn(session, *args, **kwargs)``, commit, and return its result.

    Domain errors roll back and propagate unchanged: nothing is half-written. Serialization failures,
    deadlocks, SQLite's "database is locked" and the idempotency-claim race are retried; any other
    integrity error becomes ``DataConflict`` (CONFLICT, 409) instead of a raw database error.
    A groupable operation (a receipt) may commit in one transaction with concurrent ones of this
    process (models.group_commit); its answer and its errors are its own all the same.
    """
    if attempts == 3 and group_commit.wanted(fn, args, kwargs):
        return group_commit.submit(session_factory, run_alone, fn, args, kwargs)
    return run_alone(session_factory, fn, *args, attempts=attempts, **kwargs)


def run_alone(
    session_factory: sessionmaker[Session],
    fn: Callable[..., R],
    /,
    *args: Any,
    attempts: int = 3,
    **kwargs: Any,
) -> R:
    """:func:`run` in a transaction of its own (never grouped)."""
    for attempt in range(1, attempts + 1):
        with session_factory() as session:
            try:
                session.info[COMMIT_FOLLOWS] = fn
                result = fn(session, *args, **kwargs)
                session.commit()
                return result
            except DBAPIError as exc:
                session.rollback()
                retry = attempt < attempts and _retryable(exc)
                if not retry and isinstance(exc, IntegrityError):
                    raise as_conflict(exc) from exc
                if not retry:
                    raise
            except BaseException:
                session.rollback()
                raise
        time.sleep(0.005 * attempt)  # back off a little before the next attempt
    raise AssertionError("unreachable")
