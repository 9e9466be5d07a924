"""One-time sign-in codes for the manager console, sent to a member's bound chat (the QR logins' fallback).

Only a salted SHA-256 of each code is kept; a code lives five minutes, survives five wrong tries and is
spent on first use (models.operations.console_login).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, CreatedMixin, IdMixin
from models.types import UTCDateTime


class ConsoleLoginCode(IdMixin, CreatedMixin, Base):
    """A code issued for a phone number. A row exists for every request, known phone or not, so that
    the answer and the send rate never tell whether the phone is registered."""

    __tablename__ = "console_login_codes"
    __table_args__ = (Index("ix_console_login_codes_phone_created_at", "phone", "created_at"),)

    phone: Mapped[str] = mapped_column(String(20))
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Wrong tries so far; at MAX_TRIES the code is dead.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Set when the code signed someone in, or when a newer code for the phone replaced it.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
