"""Approval chains per organisation and the approval requests that walk them."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import Money, UTCDateTime


class ApprovalChain(IdMixin, OrgMixin, CreatedMixin, Base):
    """Document kind + threshold (+ urgent flag) → roles that approve, in order."""

    __tablename__ = "approval_chains"

    #: "transfer", "purchase_order", "qc_exception".
    doc_kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    #: The chain applies when the document's amount or quantity is at least this.
    min_value: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: None: any; True/False: only urgent / only ordinary documents.
    urgent: Mapped[bool | None] = mapped_column(Boolean)
    #: [{"role": "manager", "timeout_hours": 2}, {"role": "director"}]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalRequest(IdMixin, OrgMixin, CreatedMixin, Base):
    """One document going through one chain; ``step`` is the level now deciding."""

    __tablename__ = "approval_requests"
    __table_args__ = (UniqueConstraint("doc_kind", "document_id"),
                      Index("ix_approval_requests_document_id", "document_id"))

    doc_kind: Mapped[str] = mapped_column(String(32))
    document_id: Mapped[int] = mapped_column(BigId, ForeignKey("documents.id"))
    chain_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("approval_chains.id"))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    step: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ApprovalStatus] = mapped_column(Enum(ApprovalStatus, native_enum=False, length=16))
    #: [{"step": 0, "member_id": 3, "name": "赵经理", "approve": true, "reason": "", "at": "..."}]
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decided_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: DingTalk card outTrackId: one card, updated for every viewer.
    card_track_id: Mapped[str] = mapped_column(String(64), default="")
    #: Monotonic version of the card content; the callback sends it back.
    card_version: Mapped[int] = mapped_column(Integer, default=0)
