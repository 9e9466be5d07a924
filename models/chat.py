"""Chat channel state: inbound-message dedupe (first reply kept for retries) and dialog state.

Dialogs are explicit state machines stored here, never in one process's memory: several web
workers (and the DingTalk stream process) serve the same chat.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin, utcnow
from models.errors import ReplayedRequest
from models.types import UTCDateTime

#: How long a question ("确认吗？", "请选择…") waits for its answer.
DIALOG_TIMEOUT = timedelta(minutes=10)


class ChatInbound(IdMixin, CreatedMixin, Base):
    """One platform message or event, by its platform id; a redelivery gets ``reply`` back.

    Not tenant-scoped: an unbound user's message has no organisation yet.
    """

    __tablename__ = "chat_inbound"
    __table_args__ = (UniqueConstraint("channel", "msg_key"),)

    #: wechat | wecom | dingtalk | dingtalk_event
    channel: Mapped[str] = mapped_column(String(16))
    #: MsgId, or FromUserName+CreateTime for events, or DingTalk's msgId.
    msg_key: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(128), default="")
    reply: Mapped[str | None] = mapped_column(Text)


class CallbackSignature(IdMixin, Base):
    """A platform callback's signature, remembered while its timestamp is still accepted.

    WeChat's plain-mode signature and DingTalk's robot ``sign`` do not cover the body, so a
    captured one could carry another sender's message: each is accepted for one body only.
    In the database (not in memory) because several web workers share the callbacks.
    """

    __tablename__ = "callback_signatures"
    __table_args__ = (UniqueConstraint("channel", "sig_key"),)

    channel: Mapped[str] = mapped_column(String(16))
    #: timestamp + nonce (WeChat) or timestamp + sign (DingTalk robot).
    sig_key: Mapped[str] = mapped_column(String(200))
    #: SHA-256 of the body it first came with: the platform's own retry carries the same body.
    body_digest: Mapped[str] = mapped_column(String(64))
    #: After this the timestamp check refuses the signature anyway, so the row can go.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def claim_signature(session: Session, channel: str, sig_key: str, body_digest: str, ttl: timedelta) -> None:
    """Accept a signature for this body once; the same body again (a platform retry) passes.

    Raises ReplayedRequest when the signature already came with another body. Commits: the
    claim must stand even when handling the message fails, so the retry is recognised.
    """
    now = utcnow()
    session.execute(delete(CallbackSignature).where(CallbackSignature.expires_at < now))
    session.add(CallbackSignature(channel=channel, sig_key=sig_key[:200], body_digest=body_digest,
                                  expires_at=now + ttl))
    try:
        session.commit()
        return
    except IntegrityError:
        session.rollback()  # a concurrent or earlier claim holds the key: compare bodies
    first = session.scalar(select(CallbackSignature.body_digest).where(
        CallbackSignature.channel == channel, CallbackSignature.sig_key == sig_key[:200]))
    session.rollback()
    if first != body_digest:
        raise ReplayedRequest(channel=channel)


class DialogState(enum.StrEnum):
    #: A stock-changing intent was echoed back; waits for 确认 / 取消.
    CONFIRMING = "confirming"
    #: Asked back with numbered options; waits for a number.
    CHOOSING = "choosing"


class ChatDialog(IdMixin, OrgMixin, CreatedMixin, Base):
    """The one open question of a chat user in an organisation (no row: idle)."""

    __tablename__ = "chat_dialogs"
    __table_args__ = (UniqueConstraint("org_id", "channel", "external_id"),)

    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    state: Mapped[DialogState] = mapped_column(Enum(DialogState, native_enum=False, length=16))
    #: The pending intent: {"kind": ..., fields ...}, resolved ids included.
    intent: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: CHOOSING: {"field": ..., "options": [[id, label], ...]}.
    question: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Ids of the EvidencePhoto rows sent while the entry was pending (models.operations.evidence keeps
    #: them; confirming files them under the posted document).
    evidence: Mapped[list[int]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


def inbound_reply(session: Session, channel: str, msg_key: str) -> ChatInbound | None:
    """Return the record of an already-seen message, or None."""
    return session.scalar(select(ChatInbound).where(ChatInbound.channel == channel,
                                                    ChatInbound.msg_key == msg_key))


def claim_inbound(session: Session, channel: str, msg_key: str, external_id: str) -> ChatInbound:
    """Record a message as seen (flushes: a concurrent duplicate waits on the unique key)."""
    row = ChatInbound(channel=channel, msg_key=msg_key[:200], external_id=external_id[:128])
    session.add(row)
    session.flush()
    return row


def purge_inbound(session: Session, older_than: timedelta = timedelta(days=3)) -> int:
    """Forget dedupe records older than any platform's redelivery window."""
    result = session.execute(delete(ChatInbound).where(ChatInbound.created_at < utcnow() - older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def open_dialog(session: Session, org_id: int, channel: str, external_id: str) -> ChatDialog | None:
    """Return the user's open dialog (locked), dropping it when it has timed out."""
    row = session.scalar(select(ChatDialog).where(
        ChatDialog.org_id == org_id, ChatDialog.channel == channel, ChatDialog.external_id == external_id,
    ).with_for_update())
    if row is not None and row.expires_at <= utcnow():
        session.delete(row)
        session.flush()
        return None
    return row


def dialog_orgs(session: Session, channel: str, external_id: str) -> set[int]:
    """Organisations in which this chat user has a dialog open (to pick the org a reply belongs to)."""
    return set(session.scalars(select(ChatDialog.org_id).where(
        ChatDialog.channel == channel, ChatDialog.external_id == external_id, ChatDialog.expires_at > utcnow())))


def dialog_expired(session: Session, org_id: int, channel: str, external_id: str) -> bool:
    """Tell whether the user has a dialog that timed out (read before ``open_dialog`` drops it)."""
    expires = session.scalar(select(ChatDialog.expires_at).where(
        ChatDialog.org_id == org_id, ChatDialog.channel == channel, ChatDialog.external_id == external_id))
    return expires is not None and expires <= utcnow()


def save_dialog(session: Session, *, org_id: int, channel: str, external_id: str, member_id: int,
                state: DialogState, intent: dict[str, Any], question: dict[str, Any] | None = None,
                evidence: list[int] | None = None) -> ChatDialog:
    """Open or replace the user's dialog, with a fresh time-out."""
    row = open_dialog(session, org_id, channel, external_id)
    if row is None:
        row = ChatDialog(org_id=org_id, channel=channel, external_id=external_id, member_id=member_id)
        session.add(row)
        row.evidence = []
    row.member_id, row.state, row.intent, row.question = member_id, state, intent, question
    if evidence is not None:
        row.evidence = list(evidence)
    row.expires_at = utcnow() + DIALOG_TIMEOUT
    session.flush()
    return row


def close_dialog(session: Session, row: ChatDialog) -> None:
    """End a dialog (answered, cancelled or done)."""
    session.delete(row)
    session.flush()
