"""Per-(event, handler) runs: the dedupe key, attempts, retry schedule and dead letters."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import UTCDateTime


class RunStatus(enum.StrEnum):
    DONE = "done"
    RETRY = "retry"
    DEAD = "dead"


class HandlerRun(IdMixin, OrgMixin, CreatedMixin, Base):
    """One handler's work on one event: at most one DONE row per (event, handler)."""

    __tablename__ = "handler_runs"
    __table_args__ = (
        UniqueConstraint("event_id", "handler"),
        Index("ix_handler_runs_due", "status", "next_attempt_at"),
        #: Event health reads one organisation's runs of the last day or two weeks.
        Index("ix_handler_runs_org_created", "org_id", "created_at"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("outbox_events.id"))
    handler: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(48))
    status: Mapped[RunStatus] = mapped_column(Enum(RunStatus, native_enum=False, length=8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When a RETRY run is due again (exponential backoff).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: The event's commit time, copied so latency needs no join.
    event_created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Notification(IdMixin, OrgMixin, CreatedMixin, Base):
    """A message sent (or to send) to a member on a channel: card, subscribe message, text."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("dedupe_key"),)

    channel: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(48))
    title: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text, default="")
    #: "<event id>:<handler>:<recipient>" so a re-run never notifies twice.
    dedupe_key: Mapped[str] = mapped_column(String(160))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsistencyCheckRun(IdMixin, OrgMixin, CreatedMixin, Base):
    """One run of an organisation's consistency checks (hourly, by the beat): the pass rate over time."""

    __tablename__ = "consistency_check_runs"
    __table_args__ = (Index("ix_consistency_check_runs_org_created", "org_id", "created_at"),)

    checks_total: Mapped[int] = mapped_column(Integer)
    checks_passed: Mapped[int] = mapped_column(Integer)
    #: {check name: problems found}; only the failing checks.
    problems: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
