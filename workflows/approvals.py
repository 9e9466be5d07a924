"""Approval reactions: send cards per level, update them on decisions, cancel a rejected purchase order.

The approval request itself is opened by the operation that creates the document, in its
transaction (``open_approval``); nothing here decides whether a document needs approval.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from cards.approval import KIND_LABELS, ApprovalCard, Decision, dingtalk_card, wechat_subscribe
from models.actor import Actor
from models.approvals import ApprovalRequest
from models.documents import DocStatus, Document, DocumentLine
from models.errors import DomainError
from models.infra import OutboxEvent
from models.operations import CancelOrder, cancel_order
from models.operations.common import STATUS_LABELS
from models.operations.todos import CreateTodo, close_todos_for, create_todo
from models.org import IdentityProvider, Member
from workflows.notify import claim, identity, members_with_role, notify_role
from workflows.outbound import deferred, outbound
from workflows.relay import registry

WECHAT_TEMPLATE_ID = "approval-pending"


def card_for(session: Session, req: ApprovalRequest) -> ApprovalCard:
    """Build the card's input from an approval and its document."""
    from datetime import datetime

    doc = session.get_one(Document, req.document_id)
    requester = session.get(Member, doc.created_by) if doc.created_by else None
    lines = session.execute(select(DocumentLine).where(DocumentLine.document_id == doc.id)).scalars().all()
    summary = "，".join(f"{(ln.entered_quantity if ln.entered_quantity is not None else ln.quantity).normalize():f}"
                        f"{ln.entered_unit or ''}" for ln in lines) or doc.note or ""
    history = tuple(Decision(h["step"], h["name"], h["approve"], h.get("reason", ""),
                             datetime.fromisoformat(h["at"])) for h in req.history)
    preview = (doc.extra or {}).get("margin_preview") or {}  # snapshot taken when the sales order was created
    return ApprovalCard(
        request_id=req.id, doc_kind=req.doc_kind, number=doc.number, summary=summary[:60],
        requested_by=requester.name if requester else "系统", urgent=bool(doc.urgent), status=req.status.value,
        step=req.step, step_roles=tuple(s["role"] for s in req.steps), created_at=req.created_at,
        history=history, version=req.card_version, preview=tuple(preview.get("lines", ())),
        preview_brief=_brief(preview))


def _brief(preview: dict) -> str:
    """毛利率 3.2% 超额度: a sales order's preview in a WeChat field's 20 characters."""
    if not preview:
        return ""
    over = "超额度" if preview.get("over_limit") else ""
    return f"毛利{preview.get('margin', '')}元 {preview.get('margin_pct', '')}% {over}".strip()


def level_track_id(req: ApprovalRequest, step: int) -> str:
    return f"{req.card_track_id}-L{step}"


@registry.register("approval.opened", "approvals.notify_level")
@registry.register("approval.advanced", "approvals.notify_level")
@deferred
def notify_level(session: Session, event: OutboxEvent) -> None:
    """Send the current level's approvers their cards, unless that level was already sent."""
    req = session.get_one(ApprovalRequest, int(event.payload["request_id"]))
    send_level(session, req, int(event.payload["step"]), event)


def send_level(session: Session, req: ApprovalRequest, step: int, event: OutboxEvent) -> None:
    """Send one level's approvers a card (DingTalk) and a subscribe message (WeChat); add a to-do. Once.

    The level's marker is logged with the sends and marked sent after them; a retry after a failed send
    finds it unsent and sends again (same outTrackId: the card is updated in place).
    """
    claimed = claim(session, req.org_id, channel="card", member_id=None, kind="approval.level", title=f"L{step}",
                    body="", dedupe_key=f"approval:{req.id}:L{step}")
    if claimed is None:
        return
    level = claimed[0]
    role = req.steps[step]["role"]
    card = card_for(session, req)
    members = members_with_role(session, req.org_id, role)
    user_ids = [uid for m in members if (uid := identity(m, IdentityProvider.DINGTALK_USERID))]
    with outbound(session, event) as out:
        if user_ids:  # first, so the card is on phones before the bookkeeping below (the level marker dedupes)
            out.send_card(level_track_id(req, step), user_ids, dingtalk_card(card))
        for member in members:
            mine = claim(session, req.org_id, channel="card", member_id=member.id, kind=event.kind,
                         title=card.number, body=f"第 {step + 1} 级审批",
                         dedupe_key=f"approval:{req.id}:L{step}:{member.id}")
            if mine is None:
                continue
            if openid := identity(member, IdentityProvider.WECHAT_OPENID):
                out.send_subscribe(openid, wechat_subscribe(card, template_id=WECHAT_TEMPLATE_ID))
            out.deliver(mine[0])
        if step > 0:  # earlier levels' cards now show the progress
            for earlier in range(step):
                out.update_card(level_track_id(req, earlier), dingtalk_card(card))
        # The to-do follows the sends, in the transaction that marks them sent: a failure here retries
        # the level (the card is resent, which updates it) rather than leaving a to-do without a card.
        out.after(partial(_level_todo, req.id, step))
        out.deliver(level)


def _level_todo(request_id: int, step: int, session: Session, event: OutboxEvent) -> None:
    """Replace the approval's open to-do by this level's (with its reminder and escalation chain)."""
    req = session.get_one(ApprovalRequest, request_id)
    role = req.steps[step]["role"]
    doc = session.get_one(Document, req.document_id)
    hours = float(req.steps[step].get("timeout_hours", 24))
    chain = tuple({"after_hours": hours, "role": s["role"]} for s in req.steps[step + 1:step + 2])
    close_todos_for(session, req.org_id, kind="approval", document_id=req.document_id)
    create_todo(session, req.org_id, CreateTodo(
        title=f"审批 {doc.number}", due_in_hours=hours, assignee_role=role, kind="approval",
        remind_before_minutes=(30,) if hours > 1 else (), chain=chain or ({"after_hours": hours, "role": "director"},),
        document_id=req.document_id, source_event_id=event.id))


@registry.register("approval.decided", "approvals.update_cards")
@deferred
def update_cards(session: Session, event: OutboxEvent) -> None:
    """Show the outcome on every level's card, for every viewer; close the approval to-dos."""
    req = session.get_one(ApprovalRequest, int(event.payload["request_id"]))
    params = dingtalk_card(card_for(session, req))
    with outbound(session, event) as out:
        for step in range(req.step + 1):
            out.update_card(level_track_id(req, step), params)
        out.after(partial(_close_approval_todos, req.id))


def _close_approval_todos(request_id: int, session: Session, _event: OutboxEvent) -> None:
    req = session.get_one(ApprovalRequest, request_id)
    close_todos_for(session, req.org_id, kind="approval", document_id=req.document_id)


@registry.register("approval.decided", "approvals.reject_purchase_order")
@deferred
def reject_purchase_order(session: Session, event: OutboxEvent) -> None:
    """Cancel a rejected purchase or sales order if it still can be; otherwise tell the approvers, once.

    Goods may already have been received against it (an order approved before receipts were
    gated, or received on paper): cancelling it then is refused for good, so retrying would fail
    forever. The managers and directors are told to sort it out instead.
    """
    p = event.payload
    if p.get("doc_kind") not in ("purchase_order", "sales_order") or p.get("status") != "rejected":
        return
    doc = session.get(Document, int(p["document_id"]))
    if doc is None or doc.org_id != event.org_id or doc.status == DocStatus.CANCELLED:
        return
    reason = f"审批驳回：{p.get('reason', '')}"
    if doc.status == DocStatus.CONFIRMED:
        try:
            with session.begin_nested():  # a refused cancel leaves nothing half-done
                cancel_order(session, Actor.system_actor(event.org_id, "审批"), CancelOrder(doc.id, reason))
            return
        except DomainError as exc:  # the same answer on every retry: report it instead
            problem = exc.message
    else:
        received = doc.status in (DocStatus.PARTIAL, DocStatus.DONE)
        problem = f"当前{STATUS_LABELS[doc.status]}{'，已有收货' if received else ''}，不能自动取消"
    for role in ("manager", "director"):
        notify_role(session, event, "approvals.reject_purchase_order", role,
                    f"{KIND_LABELS[p['doc_kind']]} {doc.number} 已被驳回但未能取消",
                    f"{problem}。{reason}，请人工处理。")
