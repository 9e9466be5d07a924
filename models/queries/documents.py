"""Document lookups for the channels that name a document without knowing its id.

The bot's 同意/驳回 <单号> finds a transfer by its human number; a DingTalk card callback finds
the approval request (and the document behind it) by the card's track id and the tapping user.
Both answer a ``DocumentRef`` scoped to the organisation, so the same document is the same ref
whichever channel found it. The decision itself (and its permission per site) stays in
``decide_transfer`` / ``decide_approval``. Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission, load_actor
from models.approvals import ApprovalRequest
from models.documents import DocKind, Document
from models.errors import NotFound, PermissionDenied
from models.org import IdentityProvider, MemberIdentity

#: Who may look a transfer up: anyone who may take part in one (request, approve, dispatch, receive).
TRANSFER_PERMISSIONS = (Permission.TRANSFER_REQUEST, Permission.TRANSFER_APPROVE, Permission.TRANSFER_DISPATCH,
                        Permission.TRANSFER_RECEIVE)


@dataclass(frozen=True)
class DocumentRef:
    id: int
    org_id: int
    kind: str
    number: str
    status: str


@dataclass(frozen=True)
class CardTarget:
    """What a card tap is about, and who tapped."""

    request_id: int
    document: DocumentRef
    actor: Actor


def _ref(doc: Document) -> DocumentRef:
    return DocumentRef(doc.id, doc.org_id, doc.kind.value, doc.number, doc.status.value)


def transfer_by_number(session: Session, actor: Actor, number: str) -> DocumentRef:
    """The organisation's transfer with this number.

    NotFound for an unknown number or another organisation's (never a hint that it exists);
    PermissionDenied for a member with no transfer permission at either of its sites."""
    doc = session.scalar(select(Document).where(
        Document.org_id == actor.org_id, Document.number == number.strip().upper(),
        Document.kind == DocKind.TRANSFER))
    if doc is None:
        raise NotFound(f"找不到调拨单 {number}，请核对单号", number=number)
    if not any(actor.can(p, site) for p in TRANSFER_PERMISSIONS for site in (doc.site_id, doc.to_site_id)):
        raise PermissionDenied("没有权限：查看该调拨单", document_id=doc.id)
    return _ref(doc)


def card_target(session: Session, track_id: str, dingtalk_user_id: str) -> CardTarget:
    """The approval request behind a DingTalk card and the member who tapped it.

    A card callback carries no signed-in member: the actor comes out of this lookup (the DingTalk
    user bound in the request's organisation), so there is no actor to pass in. The decision then
    checks that actor's permission. NotFound for an unknown card or an unbound user."""
    req = session.scalar(select(ApprovalRequest).where(ApprovalRequest.card_track_id == track_id))
    if req is None:
        raise NotFound("找不到该审批卡片")
    member_id = session.scalar(select(MemberIdentity.member_id).where(
        MemberIdentity.org_id == req.org_id, MemberIdentity.provider == IdentityProvider.DINGTALK_USERID,
        MemberIdentity.external_id == dingtalk_user_id))
    if member_id is None:
        raise NotFound("钉钉账号未绑定成员")
    doc = session.get_one(Document, req.document_id)
    return CardTarget(req.id, _ref(doc), load_actor(session, member_id))
