"""Whether a console cookie's session is still live (signed in, not ended, not past its lifetime)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.identity import ConsoleSession
from models.operations.console_sessions import token_hash

#: A console session ends this long after sign-in, whatever happens (a shared desk computer).
ABSOLUTE_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class LiveSession:
    member_id: int
    org_id: int


def live_console_session(session: Session, token: str) -> LiveSession | None:
    """The member and org of a live (not ended, not past its lifetime) session, or None."""
    row = session.execute(select(ConsoleSession.member_id, ConsoleSession.org_id).where(
        ConsoleSession.token_hash == token_hash(token), ConsoleSession.ended_at.is_(None),
        ConsoleSession.created_at > utcnow() - ABSOLUTE_LIFETIME)).first()
    return LiveSession(int(row[0]), int(row[1])) if row else None
