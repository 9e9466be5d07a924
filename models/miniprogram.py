"""Platform login sessions: the mini-program ``session_key`` stays here, never with the client."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, CreatedMixin, IdMixin, utcnow
from models.org import IdentityProvider
from models.types import UTCDateTime


class PlatformSession(IdMixin, CreatedMixin, Base):
    """The latest platform session of one identity (not per organisation: one person, one key)."""

    __tablename__ = "platform_sessions"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    provider: Mapped[IdentityProvider] = mapped_column(Enum(IdentityProvider, native_enum=False, length=24))
    external_id: Mapped[str] = mapped_column(String(128))
    unionid: Mapped[str | None] = mapped_column(String(128))
    #: WeChat's session_key (decrypts wx.getUserInfo data); a secret, never returned by the API.
    session_key: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
