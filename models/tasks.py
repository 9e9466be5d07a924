"""To-dos with an assignee, a due time, reminders and an escalation chain."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import UTCDateTime


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Todo(IdMixin, OrgMixin, CreatedMixin, Base):
    """A to-do for a member or a role; beat escalates it along ``chain`` when it is overdue."""

    __tablename__ = "todos"
    __table_args__ = (Index("ix_todos_scan", "status", "next_check_at"),)

    #: "approval", "qc", "rule" or "manual".
    kind: Mapped[str] = mapped_column(String(16), default="manual")
    title: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text, default="")
    assignee_member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    assignee_role: Mapped[str | None] = mapped_column(String(16))
    #: A party (supplier, farmer) the to-do is addressed to, if any.
    party_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("parties.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Minutes before ``due_at`` to remind the assignee, e.g. [60, 10].
    remind_before: Mapped[list[int]] = mapped_column(JSON, default=list)
    reminders_sent: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: [{"after_hours": 4, "role": "manager"}, {"after_hours": 48, "role": "director"}], hours from creation.
    chain: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    level: Mapped[int] = mapped_column(Integer, default=0)
    #: Earliest time beat must look at this to-do again (reminder or escalation).
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[TaskStatus] = mapped_column(Enum(TaskStatus, native_enum=False, length=16))
    #: [{"at": "...", "what": "escalated", "to_role": "director", "level": 1}]
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    source_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    document_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"))
    lot_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("lots.id"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
