"""Console sign-in sessions: started after the channel has verified who the member is, ended on
sign-out. The cookie holds a random token; the table holds its hash and whether it has ended."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from models.base import utcnow
from models.errors import NotFound
from models.identity import ConsoleSession
from models.org import Member


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StartConsoleSession:
    member_id: int
    org_id: int
    method: str


def start_console_session(session: Session, cmd: StartConsoleSession) -> str:
    """Record a new session for an active member of ``org_id``; return the token for the cookie."""
    member = session.get(Member, cmd.member_id)
    if member is None or not member.active or member.org_id != cmd.org_id:
        raise NotFound("找不到该成员或已停用", member_id=cmd.member_id)
    token = secrets.token_urlsafe(32)
    session.add(ConsoleSession(org_id=cmd.org_id, member_id=cmd.member_id, token_hash=token_hash(token),
                               method=cmd.method[:20]))
    return token


def end_console_session(session: Session, token: str) -> bool:
    """End the session of this token (sign-out); True if it was live."""
    result = session.execute(update(ConsoleSession).where(
        ConsoleSession.token_hash == token_hash(token), ConsoleSession.ended_at.is_(None)).values(ended_at=utcnow()))
    return bool(getattr(result, "rowcount", 0))
