"""Approvals inbox: transfers awaiting this actor's decision, every chain's pending levels, approve/reject."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from miniprogram_api.apiutil import Id, Note, dec, dump, out_model
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from miniprogram_api.transfers import TransferOut
from models.actor import Actor, Permission
from models.approval_queries import ApprovalItem, approval_item, approvals_awaiting
from models.catalog import Item
from models.documents import DocKind, DocStatus, Document
from models.operations import DecideTransfer, decide_transfer
from models.operations.approvals import DecideApproval, decide_approval
from models.org import Member, Site

api = APIBlueprint("clerk_approvals", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="审批")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})


class ApprovalLine(BaseModel):
    item_id: int
    item_name: str
    quantity: str
    base_unit: str


class Approval(BaseModel):
    document_id: int
    number: str
    kind: str
    urgent: bool
    from_site: str
    to_site: str
    requested_by: str | None
    requested_at: datetime
    reason: str
    lines: list[ApprovalLine]


class ApprovalsOut(BaseModel):
    items: list[Approval]


class DocPath(BaseModel):
    document_id: Id


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    reason: Note = Field("", description="驳回须说明原因")


def pending_approvals(session: Session, actor: Actor) -> list[Approval]:
    """Return requested transfers whose current approval level this actor decides, urgent and oldest first.

    Who decides is the approval chain's answer (``approvals_awaiting``), so this list and the
    operation that takes the decision can never disagree.
    """
    mine = [a.document_id for a in approvals_awaiting(session, actor) if a.doc_kind == "transfer"]
    if not mine:
        return []
    stmt = select(Document).where(Document.org_id == actor.org_id, Document.kind == DocKind.TRANSFER,
                                  Document.status == DocStatus.REQUESTED, Document.id.in_(mine))
    allowed = actor.site_ids(Permission.TRANSFER_APPROVE)  # decide_transfer requires it at the source
    if allowed is not None:
        stmt = stmt.where(Document.site_id.in_(allowed))
    docs = list(session.scalars(stmt.order_by(Document.urgent.desc(), Document.id)))
    if not docs:
        return []
    sites = {s.id: s.name for s in session.scalars(select(Site).where(Site.org_id == actor.org_id))}
    items = {i.id: i for i in session.scalars(select(Item).where(Item.org_id == actor.org_id))}
    people = {m.id: m.name for m in session.scalars(select(Member).where(Member.org_id == actor.org_id))}
    return [Approval(
        document_id=d.id, number=d.number, kind="transfer", urgent=d.urgent,
        from_site=sites.get(d.site_id or 0, ""), to_site=sites.get(d.to_site_id or 0, ""),
        requested_by=people.get(d.created_by) if d.created_by else None, requested_at=d.created_at,
        reason=d.note, lines=[ApprovalLine(item_id=ln.item_id, item_name=items[ln.item_id].name,
                                           quantity=dec(ln.quantity), base_unit=items[ln.item_id].base_unit)
                              for ln in d.lines])
        for d in docs]


#: An inbox lists only what the approval chain puts before this member: empty for everyone else.
_INBOX = Anyone("列表只含审批链交给本人的待办，其他成员得到空列表")


@endpoint(api.get, "/approvals", permission=_INBOX, response=ApprovalsOut)
def inbox(ctx: Ctx) -> dict:
    """Return the transfers awaiting this actor's decision."""
    return ApprovalsOut(items=pending_approvals(ctx.session, ctx.actor)).model_dump(mode="json")


@endpoint(api.post, "/approvals/<int:document_id>", permission=Permission.TRANSFER_APPROVE, response=TransferOut)
def decide(ctx: Ctx, path: DocPath, body: DecisionIn) -> dict:
    """Approve or reject a requested transfer (the first decision wins)."""
    cmd = DecideTransfer(document_id=path.document_id, approve=body.decision == "approve", reason=body.reason)
    return dump(ctx.call(decide_transfer, cmd))


ApprovalItemOut = out_model(ApprovalItem)


class ApprovalItemsOut(BaseModel):
    items: list[ApprovalItemOut]  # type: ignore[valid-type]


class RequestPath(BaseModel):
    request_id: Id


@endpoint(api.get, "/approvals/requests", permission=_INBOX, response=ApprovalItemsOut)
def requests_inbox(ctx: Ctx) -> dict:
    """Return every pending approval (transfers, purchase orders, QC exceptions) at a level this actor decides."""
    return {"items": [dump(item) for item in approvals_awaiting(ctx.session, ctx.actor)]}


#: Purchase orders and QC exceptions are decided by the roles their chain names, not by one permission.
_CHAIN = Anyone("审批人由审批链逐级指定（采购单、质检例外不对应单一权限）；由 approval_item / decide_approval 检查")


@endpoint(api.get, "/approvals/requests/<int:request_id>", permission=_CHAIN, response=ApprovalItemOut)
def request_detail(ctx: Ctx, path: RequestPath) -> dict:
    """Return one approval with its chain and history (the WeChat subscribe message links here)."""
    return dump(approval_item(ctx.session, ctx.actor, path.request_id))


@endpoint(api.post, "/approvals/requests/<int:request_id>", permission=_CHAIN, response=ApprovalItemOut)
def request_decide(ctx: Ctx, path: RequestPath, body: DecisionIn) -> dict:
    """Decide the current level of an approval (the first decision on a level wins)."""
    cmd = DecideApproval(request_id=path.request_id, approve=body.decision == "approve", reason=body.reason)
    ctx.call(decide_approval, cmd)  # rolls the read session back: the answer below reads the decision
    return dump(approval_item(ctx.session, ctx.actor, path.request_id))
