"""Read side of approval chains: what waits for whom, for the mini-program's approvals inbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from models.actor import Actor, Permission
from models.approvals import ApprovalRequest, ApprovalStatus
from models.documents import Document
from models.errors import PermissionDenied
from models.lookup import get_owned
from models.operations.approvals import STATUS_LABELS, may_decide
from models.org import ROLE_LABELS

KIND_LABELS = {"transfer": "调拨", "purchase_order": "采购订单", "qc_exception": "质检异常", "sales_order": "销售订单"}


@dataclass(frozen=True)
class ApprovalItem:
    request_id: int
    doc_kind: str
    kind_label: str
    document_id: int
    number: str
    #: The document's amount (purchase orders); zero where a document has none (transfers).
    amount: Decimal
    note: str
    status: str
    status_label: str
    #: Level now deciding (0-based) and the role it belongs to, e.g. "director" / "总监".
    step: int
    awaiting_role: str
    awaiting_label: str
    #: Whether the signed-in member may decide the current level.
    may_decide: bool
    steps: list[dict[str, Any]]
    history: list[dict[str, Any]]
    requested_at: datetime
    #: A sales order's margin preview when it was sent for approval (margin, %, exposure vs limit).
    preview: list[str] = field(default_factory=list)


def _roles(actor: Actor) -> set[str]:
    return {role.value for role, _site in actor.roles}


def _may_decide(actor: Actor, req: ApprovalRequest, doc: Document) -> bool:
    # The creator of a document never decides its approval (consult_chain refuses SELF_APPROVAL).
    own = not actor.system and doc.created_by is not None and doc.created_by == actor.member_id
    return req.status == ApprovalStatus.PENDING and not own and may_decide(actor, req.steps[req.step]["role"])


def _item(req: ApprovalRequest, doc: Document, actor: Actor) -> ApprovalItem:
    role = req.steps[min(req.step, len(req.steps) - 1)]["role"]
    return ApprovalItem(
        request_id=req.id, doc_kind=req.doc_kind, kind_label=KIND_LABELS.get(req.doc_kind, req.doc_kind),
        document_id=doc.id, number=doc.number, amount=doc.total_amount, note=doc.note or "",
        status=req.status.value, status_label=STATUS_LABELS[req.status], step=req.step, awaiting_role=role,
        awaiting_label=ROLE_LABELS.get(role, role), may_decide=_may_decide(actor, req, doc), steps=list(req.steps),
        history=list(req.history), requested_at=req.created_at,
        preview=list(((doc.extra or {}).get("margin_preview") or {}).get("lines", ())),
    )


def approvals_awaiting(session: Session, actor: Actor) -> list[ApprovalItem]:
    """Return the pending approvals whose current level this member may decide, oldest first."""
    reqs = session.scalars(select(ApprovalRequest).where(
        ApprovalRequest.org_id == actor.org_id, ApprovalRequest.status == ApprovalStatus.PENDING,
    ).order_by(ApprovalRequest.id).limit(500))
    mine = [r for r in reqs if may_decide(actor, r.steps[r.step]["role"])]
    if not mine:
        return []
    # Their lines are not needed here (up to 500 documents' worth of objects, loaded for nothing).
    docs = {d.id: d for d in session.scalars(select(Document).options(lazyload(Document.lines))
                                             .where(Document.id.in_([r.document_id for r in mine])))}
    return [_item(r, docs[r.document_id], actor) for r in mine if _may_decide(actor, r, docs[r.document_id])]


def approval_item(session: Session, actor: Actor, request_id: int) -> ApprovalItem:
    """Return one approval for someone on its chain (or its requester); others get NotFound or refused."""
    req = get_owned(session, ApprovalRequest, request_id, actor.org_id)
    doc = session.get_one(Document, req.document_id)
    on_chain = {step["role"] for step in req.steps} & _roles(actor)
    if not (on_chain or actor.can(Permission.ROLES) or (doc.created_by is not None
                                                         and doc.created_by == actor.member_id)):
        raise PermissionDenied("没有权限查看该审批", request_id=request_id)
    return _item(req, doc, actor)
