"""One-time codes that bind a chat or mini-program identity to a member."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import UTCDateTime


class BindingCode(IdMixin, OrgMixin, CreatedMixin, Base):
    """A six-digit code a member types into a chat ("绑定 123456") or the mini-program."""

    __tablename__ = "binding_codes"
    __table_args__ = (Index("ix_binding_codes_code_active", "code", "used_at"),)

    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    code: Mapped[str] = mapped_column(String(6))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issued_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    #: Which identity used it, for the audit trail.
    used_by: Mapped[str | None] = mapped_column(String(160))
