"""Shared delivery-note links: when a link stops working (expiry, revocation) and who may revoke one.

A link is a signed token naming (org, document, issued at, expires at); the channel signs and checks
the signature. This module owns the business side: links issued up to a revocation are dead, and
revoking needs the receive permission at the note's site or being the one who entered it (audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.documents import DocKind, Document
from models.errors import DomainError, NotFound, PermissionDenied
from models.idempotency import idempotent
from models.intake import NoteLinkRevocation
from models.lookup import get_owned


class NoteLinkExpired(DomainError):
    code = "NOTE_LINK_EXPIRED"
    http_status = 410
    default_message = "交货单链接已过期，请向收购点索取新链接"


class NoteLinkRevoked(DomainError):
    code = "NOTE_LINK_REVOKED"
    http_status = 410
    default_message = "交货单链接已被撤销，请向收购点索取新链接"


@dataclass(frozen=True)
class RevokeNoteLinks:
    document_id: int
    reason: str = ""


@dataclass(frozen=True)
class NoteLinksRevoked:
    document_id: int
    number: str
    revoked_at: datetime


def check_note_link(session: Session, org_id: int, document_id: int, issued_at: datetime, expires_at: datetime,
                    *, now: datetime | None = None) -> None:
    """Raise 410 when a link issued at ``issued_at`` has expired or was revoked since."""
    if (now or utcnow()) >= expires_at:
        raise NoteLinkExpired(document_id=document_id)
    revoked_at = session.scalar(select(NoteLinkRevocation.revoked_at).where(
        NoteLinkRevocation.org_id == org_id, NoteLinkRevocation.document_id == document_id))
    if revoked_at is not None and issued_at <= revoked_at.astimezone(UTC):
        raise NoteLinkRevoked(document_id=document_id)


@idempotent("delivery_note.revoke")
def revoke_note_links(session: Session, actor: Actor, cmd: RevokeNoteLinks) -> NoteLinksRevoked:
    """Kill every link of a delivery note issued so far (a new link may be shared afterwards)."""
    doc = get_owned(session, Document, cmd.document_id, actor.org_id)
    if doc.kind != DocKind.RECEIPT:
        raise NotFound("找不到这张交货单", entity="Document", id=cmd.document_id)
    is_creator = actor.member_id is not None and actor.member_id == doc.created_by
    if not (is_creator or actor.can(Permission.RECEIVE, doc.site_id)):
        raise PermissionDenied("没有权限：撤销交货单链接（需收货权限或本人录入）", document_id=doc.id)
    row = session.scalar(select(NoteLinkRevocation).where(
        NoteLinkRevocation.org_id == actor.org_id, NoteLinkRevocation.document_id == doc.id).with_for_update())
    before = {"revoked_at": row.revoked_at.isoformat()} if row is not None else None
    now = utcnow()
    if row is None:
        row = NoteLinkRevocation(org_id=actor.org_id, document_id=doc.id, revoked_at=now)
        session.add(row)
    row.revoked_at, row.revoked_by, row.reason = now, actor.member_id, cmd.reason[:256]
    record_audit(session, actor, "delivery_note.revoke_links", "Document", doc.id, before=before,
                 after={"revoked_at": now.isoformat()}, reason=cmd.reason[:256])
    session.flush()
    return NoteLinksRevoked(document_id=doc.id, number=doc.number, revoked_at=now)
