"""Approval chains: open a request for a document, and walk it one decision at a time.

Transfers keep ``decide_transfer`` as their entry point; it asks :func:`consult_chain` whether
this decision is final. Other kinds (purchase orders, QC exceptions) are decided with
:func:`decide_approval`. The first decision on a level wins; a later tap sees the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.approvals import ApprovalChain, ApprovalRequest, ApprovalStatus
from models.audit import record_audit
from models.base import utcnow
from models.errors import InvalidState, PermissionDenied, ValidationError
from models.idempotency import idempotent
from models.lookup import get_owned
from models.org import ROLE_LABELS, Org, Role
from models.outbox import emit
from models.planning import ReplenishmentSuggestion

#: Used when an organisation has configured no chain of that kind.
DEFAULT_CHAINS: dict[str, list[dict[str, Any]]] = {
    "transfer": [{"role": "manager", "timeout_hours": 24}],
    "transfer.urgent": [{"role": "manager", "timeout_hours": 2}, {"role": "director", "timeout_hours": 2}],
    "purchase_order": [{"role": "manager", "timeout_hours": 24}, {"role": "director", "timeout_hours": 48}],
    "qc_exception": [{"role": "qa", "timeout_hours": 4}, {"role": "director", "timeout_hours": 48}],
}
STATUS_LABELS = {ApprovalStatus.PENDING: "待审批", ApprovalStatus.APPROVED: "已同意", ApprovalStatus.REJECTED: "已驳回"}


@dataclass(frozen=True)
class ApprovalView:
    request_id: int
    doc_kind: str
    document_id: int
    status: str
    step: int
    steps: list[dict[str, Any]]
    history: list[dict[str, Any]]
    final: bool


def view(req: ApprovalRequest) -> ApprovalView:
    """Return the result object for an approval request."""
    return ApprovalView(req.id, req.doc_kind, req.document_id, req.status.value, req.step, list(req.steps),
                        list(req.history), req.status != ApprovalStatus.PENDING)


def validate_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check a chain's steps: known roles, positive timeouts; return them normalised."""
    if not steps:
        raise ValidationError("审批链至少要有一级", field="steps")
    out = []
    for n, step in enumerate(steps):
        try:
            role = Role(step.get("role"))
        except ValueError:
            raise ValidationError(f"第 {n + 1} 级的角色无效", field="steps") from None
        hours = step.get("timeout_hours", 24)
        if not isinstance(hours, int | float) or hours <= 0:
            raise ValidationError(f"第 {n + 1} 级的时限无效", field="steps")
        out.append({"role": role.value, "timeout_hours": hours})
    return out


def choose_steps(session: Session, org_id: int, doc_kind: str, value: Decimal,
                 urgent: bool = False) -> tuple[int | None, list[dict[str, Any]]]:
    """Return (chain id, steps) for a document: the most specific active chain, else the default."""
    chains = session.scalars(select(ApprovalChain).where(
        ApprovalChain.org_id == org_id, ApprovalChain.doc_kind == doc_kind, ApprovalChain.active.is_(True),
        ApprovalChain.min_value <= value,
    ))
    fitting = [c for c in chains if c.urgent is None or c.urgent == urgent]
    if fitting:
        best = max(fitting, key=lambda c: (c.urgent is not None, c.min_value, c.id))
        return best.id, list(best.steps)
    key = f"{doc_kind}.urgent" if urgent and f"{doc_kind}.urgent" in DEFAULT_CHAINS else doc_kind
    return None, list(DEFAULT_CHAINS.get(key, DEFAULT_CHAINS["transfer"]))


#: Purchase orders at or above this total (yuan) need approval; org setting ``po_approval_threshold``.
PO_APPROVAL_THRESHOLD = Decimal(10_000)


def purchase_order_needs_approval(session: Session, org_id: int, document_id: int, total: Decimal) -> bool:
    """Tell whether a confirmed purchase order goes through its approval chain.

    Orders at or above the organisation's threshold do, and so does every order drafted from a
    replenishment suggestion, whatever its total: a forecast's suggestion never becomes a live order
    on one planner's tap alone.
    """
    threshold = Decimal(str((session.get_one(Org, org_id).settings or {}).get(
        "po_approval_threshold", PO_APPROVAL_THRESHOLD)))
    if total >= threshold:
        return True
    return session.scalar(select(ReplenishmentSuggestion.id).where(
        ReplenishmentSuggestion.org_id == org_id, ReplenishmentSuggestion.document_id == document_id)) is not None


def open_approval(session: Session, org_id: int, doc_kind: str, document_id: int, value: Decimal,
                  urgent: bool = False) -> ApprovalRequest:
    """Start (or return the already started) approval of a document; emit ``approval.opened``."""
    req = session.scalar(select(ApprovalRequest).where(
        ApprovalRequest.doc_kind == doc_kind, ApprovalRequest.document_id == document_id))
    if req is not None:
        return req
    chain_id, steps = choose_steps(session, org_id, doc_kind, value, urgent)
    req = ApprovalRequest(org_id=org_id, doc_kind=doc_kind, document_id=document_id, chain_id=chain_id,
                          steps=steps, step=0, status=ApprovalStatus.PENDING, history=[],
                          card_track_id=f"appr-{doc_kind}-{document_id}")
    session.add(req)
    session.flush()
    emit(session, org_id, "approval.opened", {"request_id": req.id, "doc_kind": doc_kind,
                                              "document_id": document_id, "step": 0, "urgent": urgent},
         document_id=document_id)
    return req


def may_decide(actor: Actor, role: str) -> bool:
    """Tell whether ``actor`` may decide a level that belongs to ``role``."""
    return actor.system or actor.can(Permission.ROLES) or any(r.value == role for r, _ in actor.roles)


def consult_chain(session: Session, actor: Actor, doc_kind: str, document_id: int, approve: bool,
                  reason: str = "") -> bool:
    """Record a decision on the document's chain; return True when the document is now decided.

    No chain: True (decide directly). A rejection or the last level's approval: True. An
    approval with levels left: the chain moves on (``approval.advanced``) and False.
    """
    req = session.scalar(select(ApprovalRequest).where(
        ApprovalRequest.doc_kind == doc_kind, ApprovalRequest.document_id == document_id,
        ApprovalRequest.org_id == actor.org_id).with_for_update())
    if req is None:
        return True
    if req.status != ApprovalStatus.PENDING:
        raise InvalidState(f"该审批{STATUS_LABELS[req.status]}", status=req.status.value)
    role = req.steps[req.step]["role"]
    if not may_decide(actor, role):
        raise PermissionDenied(f"本级应由{ROLE_LABELS.get(role, role)}审批", role=role)
    now = utcnow()
    final_by_rank = actor.system or actor.can(Permission.ROLES)
    req.history = [*req.history, {"step": req.step, "member_id": actor.member_id, "name": actor.name,
                                  "approve": approve, "reason": reason, "at": now.isoformat()}]
    req.card_version += 1
    payload = {"request_id": req.id, "doc_kind": doc_kind, "document_id": document_id, "step": req.step,
               "decided_by": actor.member_id, "name": actor.name, "approve": approve, "reason": reason}
    if approve and req.step + 1 < len(req.steps) and not final_by_rank:
        req.step += 1
        emit(session, actor.org_id, "approval.advanced", {**payload, "step": req.step}, document_id=document_id)
        return False
    req.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    req.decided_by, req.decided_at = actor.member_id, now
    emit(session, actor.org_id, "approval.decided", {**payload, "status": req.status.value}, document_id=document_id)
    return True


@dataclass(frozen=True)
class DecideApproval:
    request_id: int
    approve: bool
    reason: str = ""


@idempotent("approval.decide")
def decide_approval(session: Session, actor: Actor, cmd: DecideApproval) -> ApprovalView:
    """Decide the current level of an approval; transfers go through ``decide_transfer``."""
    req = get_owned(session, ApprovalRequest, cmd.request_id, actor.org_id)
    if not cmd.approve and not cmd.reason.strip():
        raise ValidationError("驳回须说明原因", field="reason")
    if req.doc_kind == "transfer":
        from models.operations.transfers import DecideTransfer, decide_transfer

        decide_transfer(session, actor, DecideTransfer(req.document_id, cmd.approve, cmd.reason))
    else:
        consult_chain(session, actor, req.doc_kind, req.document_id, cmd.approve, cmd.reason)
    session.flush()
    return view(req)


@dataclass(frozen=True)
class ChainSpec:
    doc_kind: str
    name: str
    steps: tuple[dict[str, Any], ...]
    min_value: Decimal = Decimal(0)
    urgent: bool | None = None


def create_chain(session: Session, actor: Actor, spec: ChainSpec) -> ApprovalChain:
    """Add an approval chain for a document kind (audited); more specific chains win."""
    actor.require(Permission.ROLES)
    if spec.doc_kind not in ("transfer", "purchase_order", "qc_exception"):
        raise ValidationError("单据类型无效", field="doc_kind")
    if spec.min_value < 0:
        raise ValidationError("门槛不能为负", field="min_value")
    chain = ApprovalChain(org_id=actor.org_id, doc_kind=spec.doc_kind, name=spec.name, min_value=spec.min_value,
                          urgent=spec.urgent, steps=validate_steps(list(spec.steps)), active=True)
    session.add(chain)
    session.flush()
    record_audit(session, actor, "approval_chain.create", "approval_chain", chain.id, before=None,
                 after={"doc_kind": spec.doc_kind, "min_value": str(spec.min_value), "urgent": spec.urgent,
                        "steps": chain.steps})
    return chain
