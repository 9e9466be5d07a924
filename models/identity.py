"""One-time codes that bind a chat or mini-program identity to a member, and the attempts to use them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin, utcnow
from models.types import UTCDateTime


class BindingCode(IdMixin, OrgMixin, CreatedMixin, Base):
    """A twelve-digit code a member types into a chat ("绑定 1234 5678 9012") or the mini-program.

    Only its SHA-256 is stored: a leaked table (or backup) hands out no live codes.
    """

    __tablename__ = "binding_codes"
    __table_args__ = (Index("ix_binding_codes_code_hash", "code_hash", unique=True),)

    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    #: hex SHA-256 of the normalised code (twelve ASCII digits).
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issued_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    #: Which identity used it, for the audit trail.
    used_by: Mapped[str | None] = mapped_column(String(160))


class BindingAttempt(IdMixin, Base):
    """One try at binding with a code, written (and committed) before the code is checked.

    A try counts as failed until the binding succeeds in the same transaction that marks it; so a
    refused guess leaves exactly this row, and parallel guesses cannot outrun the throttle. No
    org_id of its own: an unbound identity belongs to no organisation yet (``org_id`` is the one
    the client named, if any).
    """

    __tablename__ = "binding_attempts"
    __table_args__ = (
        Index("ix_binding_attempts_identity_created", "identity", "created_at"),
        Index("ix_binding_attempts_org_created", "org_id", "created_at"),
    )

    #: "<provider>:<external id>" of the platform user trying to bind.
    identity: Mapped[str] = mapped_column(String(160))
    org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("orgs.id"))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ConsoleSession(IdMixin, OrgMixin, CreatedMixin, Base):
    """A member's sign-in to the manager console. The browser's cookie carries the token; only its
    SHA-256 is kept here, so signing out (or an administrator ending it) ends it for every copy of
    the cookie, not only the browser's own."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_token_hash", "token_hash", unique=True),)

    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    #: hex SHA-256 of the random token in the cookie.
    token_hash: Mapped[str] = mapped_column(String(64))
    #: How the member proved who they were: dev, dingtalk_qr, wechat_qr, chat_code.
    method: Mapped[str] = mapped_column(String(20))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
