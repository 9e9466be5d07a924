"""Retention: forget transport records once nothing can ask for them again (issue 11, housekeeping).

Only rows that exist for delivery mechanics are deleted: inbound-message dedupe records, device
readings, relayed outbox events with their finished handler runs, binding attempts and callback
signatures. Business rows (documents, moves, vouchers, audit) are never touched here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from models.chat import CallbackSignature, ChatInbound
from models.console_login import ConsoleLoginCode
from models.devices import DeviceReading
from models.errors import ValidationError
from models.event_log import HandlerRun, RunStatus
from models.identity import BindingAttempt, ConsoleSession
from models.infra import OutboxEvent
from models.operations.devices import MAX_READING_AGE_DAYS


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind of row is kept, and the largest number of rows one batch deletes per kind."""

    chat_inbound_days: int = 30
    device_readings_days: int = 90
    #: Counted from dispatch; events with a handler still to retry or dead (replayable) are kept.
    outbox_days: int = 14
    #: Far longer than the binding throttle's windows (minutes to an hour).
    binding_attempts_days: int = 7
    #: Counted from the signature's expiry, after which the timestamp check refuses it anyway.
    callback_signatures_days: int = 2
    batch_size: int = 1000
    #: Console sign-ins (who signed in, how, until when), counted from sign-in: long past their 12 hours.
    console_sessions_days: int = 90

    def __post_init__(self) -> None:
        for name in ("chat_inbound_days", "device_readings_days", "outbox_days", "binding_attempts_days",
                     "callback_signatures_days", "console_sessions_days"):
            if not 1 <= getattr(self, name) <= 3650:
                raise ValidationError(f"保留天数须在 1 到 3650 之间（{name}）", field=name)
        if self.device_readings_days <= MAX_READING_AGE_DAYS:  # else a purged reading could be replayed
            raise ValidationError(f"设备读数须保留超过 {MAX_READING_AGE_DAYS} 天（去重依赖它们）",
                                  field="device_readings_days")
        if not 1 <= self.batch_size <= 100_000:
            raise ValidationError("每批删除条数须在 1 到 100000 之间", field="batch_size")


#: Console sign-in codes: kept a day (for a look at recent sign-in attempts), then deleted.
LOGIN_CODES_KEPT = timedelta(days=1)


def _delete_ids(session: Session, model: Any, ids: list[Any]) -> int:
    if not ids:
        return 0
    session.execute(delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False))
    return len(ids)


def _oldest(session: Session, model: Any, column: Any, cutoff: datetime, limit: int) -> list[Any]:
    return list(session.scalars(select(model.id).where(column < cutoff).order_by(model.id).limit(limit)))


def purge_batch(session: Session, policy: RetentionPolicy, now: datetime) -> dict[str, int]:
    """Delete at most ``policy.batch_size`` expired rows of each kind; return counts by table.

    The caller commits (``models.uow.run``); the job repeats until a batch comes back short, so each
    transaction stays small and never holds a long write lock.
    """
    n = policy.batch_size
    counts: dict[str, int] = {}
    counts["chat_inbound"] = _delete_ids(session, ChatInbound, _oldest(
        session, ChatInbound, ChatInbound.created_at, now - timedelta(days=policy.chat_inbound_days), n))
    counts["device_readings"] = _delete_ids(session, DeviceReading, _oldest(
        session, DeviceReading, DeviceReading.created_at, now - timedelta(days=policy.device_readings_days), n))
    counts["binding_attempts"] = _delete_ids(session, BindingAttempt, _oldest(
        session, BindingAttempt, BindingAttempt.created_at, now - timedelta(days=policy.binding_attempts_days), n))
    counts["console_sessions"] = _delete_ids(session, ConsoleSession, _oldest(
        session, ConsoleSession, ConsoleSession.created_at, now - timedelta(days=policy.console_sessions_days), n))
    # Console sign-in codes are dead after minutes and only the last minute's rows rate-limit a phone.
    counts["console_login_codes"] = _delete_ids(session, ConsoleLoginCode, _oldest(
        session, ConsoleLoginCode, ConsoleLoginCode.created_at, now - LOGIN_CODES_KEPT, n))
    counts["callback_signatures"] = _delete_ids(session, CallbackSignature, _oldest(
        session, CallbackSignature, CallbackSignature.expires_at,
        now - timedelta(days=policy.callback_signatures_days), n))

    # Outbox: relayed long ago and every handler finished; a RETRY or DEAD run keeps its event (the
    # dead-letter replay needs it).
    unfinished = exists().where(HandlerRun.event_id == OutboxEvent.id, HandlerRun.status != RunStatus.DONE)
    events = list(session.scalars(
        select(OutboxEvent.id)
        .where(OutboxEvent.dispatched_at.is_not(None),
               OutboxEvent.dispatched_at < now - timedelta(days=policy.outbox_days), ~unfinished)
        .order_by(OutboxEvent.dispatched_at).limit(n)))
    runs = 0
    if events:
        result = session.execute(delete(HandlerRun).where(HandlerRun.event_id.in_(events))
                                 .execution_options(synchronize_session=False))
        runs = int(getattr(result, "rowcount", 0) or 0)
    counts["handler_runs"] = runs
    counts["outbox_events"] = _delete_ids(session, OutboxEvent, events)
    return counts
