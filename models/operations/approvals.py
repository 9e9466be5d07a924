"""Approval chains: open a request for a document, and walk it one decision at a time.

Transfers keep ``decide_transfer`` as their entry point; it asks :func:`consult_chain` whether
this decision is final. Other kinds (purchase orders, QC exceptions) are decided with
:func:`decide_approval`. The first decision on a level wins; a later tap sees the outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.approvals import ApprovalChain, ApprovalRequest, ApprovalStatus
from models.audit import record_audit
from models.base import utcnow
from models.documents import Document
from models.errors import ApprovalNotOpened, InvalidState, PermissionDenied, SelfApproval, ValidationError
from models.idempotency import idempotent
from models.lookup import get_owned
from models.operations.common import positive_setting
from models.operations.offline_guard import check_offline
from models.org import ROLE_LABELS, OfflineKind, Org, Role
from models.outbox import emit
from models.planning import ReplenishmentSuggestion
from models.posting_writer import Read

#: Used when an organisation has configured no chain of that kind.
DEFAULT_CHAINS: dict[str, list[dict[str, Any]]] = {
    "transfer": [{"role": "manager", "timeout_hours": 24}],
    "transfer.urgent": [{"role": "manager", "timeout_hours": 2}, {"role": "director", "timeout_hours": 2}],
    "purchase_order": [{"role": "manager", "timeout_hours": 24}, {"role": "director", "timeout_hours": 48}],
    #: A sales order over the customer's credit limit or under the margin threshold (models.queries.margin_preview).
    "sales_order": [{"role": "manager", "timeout_hours": 24}, {"role": "director", "timeout_hours": 48}],
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


#: Bounds of a chain's configuration, checked when a chain is saved.
MAX_CHAIN_STEPS = 10
MAX_TIMEOUT_HOURS = 720
#: Roles that may hold a level of a chain: staff, never a farmer or an outside party.
APPROVER_ROLES = frozenset(r.value for r in Role if r != Role.FARMER)
DOC_KINDS = ("transfer", "purchase_order", "qc_exception", "sales_order")
KIND_LABELS = {"transfer": "调拨单", "purchase_order": "采购订单", "qc_exception": "质检异常",
               "sales_order": "销售订单"}


def _valid_hours(hours: Any) -> bool:
    # bool is an int in Python, and JSON's Infinity/NaN parse to floats: refuse all three.
    return (not isinstance(hours, bool) and isinstance(hours, int | float) and math.isfinite(hours)
            and 0 < hours <= MAX_TIMEOUT_HOURS)


def validate_steps(steps: Any) -> list[dict[str, Any]]:
    """Check a chain's steps (known roles, finite bounded timeouts, at most ten); return them normalised."""
    if not isinstance(steps, list | tuple) or not steps:
        raise ValidationError("审批链至少要有一级", field="steps")
    if len(steps) > MAX_CHAIN_STEPS:
        raise ValidationError(f"审批链最多 {MAX_CHAIN_STEPS} 级", field="steps")
    out = []
    for n, step in enumerate(steps):
        if not isinstance(step, dict) or set(step) - {"role", "timeout_hours"}:
            raise ValidationError(f"第 {n + 1} 级的格式无效，只能包含 role 和 timeout_hours", field="steps")
        role = step.get("role")
        if not isinstance(role, str) or role not in APPROVER_ROLES:
            raise ValidationError(f"第 {n + 1} 级的角色无效", field="steps")
        hours = step.get("timeout_hours", 24)
        if not _valid_hours(hours):
            raise ValidationError(f"第 {n + 1} 级的时限无效：须大于 0 且不超过 {MAX_TIMEOUT_HOURS} 小时",
                                  field="steps")
        out.append({"role": role, "timeout_hours": hours})
    return out


def _snapshot(steps: Any) -> list[dict[str, Any]]:
    """Copy a chain's steps into a request; a row saved before validation existed is made safe, never weaker."""
    if not isinstance(steps, list) or not steps:
        return [{"role": Role.DIRECTOR.value, "timeout_hours": 48}]
    out = []
    for step in steps:
        role = step.get("role") if isinstance(step, dict) else None
        hours = step.get("timeout_hours", 24) if isinstance(step, dict) else None
        out.append({"role": role if role in APPROVER_ROLES else Role.DIRECTOR.value,
                    "timeout_hours": hours if _valid_hours(hours) else MAX_TIMEOUT_HOURS})
    return out


@dataclass(frozen=True)
class ChainRow:
    """An active approval chain as a lean posting reads it."""

    id: int
    min_value: Decimal
    urgent: bool | None
    steps: list[dict[str, Any]]


_CHAINS = Read("approval.chains", lambda: select(
    ApprovalChain.id, ApprovalChain.min_value, ApprovalChain.urgent, ApprovalChain.steps,
).where(ApprovalChain.org_id == bindparam("org_id"), ApprovalChain.doc_kind == bindparam("doc_kind"),
        ApprovalChain.active.is_(True)), {}, {})


def chains_read(org_id: int, doc_kind: str) -> Read:
    """The org's active chains of a kind, as a writer read (rows for :class:`ChainRow`)."""
    return Read(_CHAINS.key, _CHAINS.build, {"org_id": org_id, "doc_kind": doc_kind}, {})


def choose_steps(session: Session, org_id: int, doc_kind: str, value: Decimal,
                 urgent: bool = False) -> tuple[int | None, list[dict[str, Any]]]:
    """Return (chain id, steps) for a document: the most specific active chain, else the default."""
    rows = session.execute(select(ApprovalChain.id, ApprovalChain.min_value, ApprovalChain.urgent,
                                  ApprovalChain.steps).where(
        ApprovalChain.org_id == org_id, ApprovalChain.doc_kind == doc_kind, ApprovalChain.active.is_(True)))
    return steps_from([ChainRow(r.id, r.min_value, r.urgent, r.steps) for r in rows], doc_kind, value, urgent)


def steps_from(chains: list[ChainRow], doc_kind: str, value: Decimal,
               urgent: bool = False) -> tuple[int | None, list[dict[str, Any]]]:
    """:func:`choose_steps` over the chains read."""
    # Thresholds are stored with two decimals; a quantity may carry six (13.805 kg). Flooring to cents
    # keeps every comparison with a two-decimal threshold exact.
    value = value.quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    fitting = [c for c in chains if c.min_value <= value and (c.urgent is None or c.urgent == urgent)]
    if fitting:
        best = max(fitting, key=lambda c: (c.urgent is not None, c.min_value, c.id))
        return best.id, list(best.steps)
    key = f"{doc_kind}.urgent" if urgent and f"{doc_kind}.urgent" in DEFAULT_CHAINS else doc_kind
    return None, list(DEFAULT_CHAINS.get(key, DEFAULT_CHAINS["transfer"]))


def request_values(org_id: int, doc_kind: str, document_id: int, chain_id: int | None,
                   steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The columns of a new approval request (pending at its first level; the steps copied)."""
    return {"org_id": org_id, "doc_kind": doc_kind, "document_id": document_id, "chain_id": chain_id,
            "steps": _snapshot(steps), "step": 0, "status": ApprovalStatus.PENDING, "history": [],
            "card_track_id": f"appr-{doc_kind}-{document_id}"}


#: Purchase orders at or above this total (yuan) need approval; org setting ``po_approval_threshold``.
PO_APPROVAL_THRESHOLD = Decimal(10_000)


def purchase_order_needs_approval(session: Session, org_id: int, document_id: int, total: Decimal) -> bool:
    """Tell whether a confirmed purchase order goes through its approval chain.

    Orders at or above the organisation's threshold do, and so does every order drafted from a
    replenishment suggestion, whatever its total: a forecast's suggestion never becomes a live order
    on one planner's tap alone.
    """
    threshold = positive_setting((session.get_one(Org, org_id).settings or {}).get("po_approval_threshold"),
                                 PO_APPROVAL_THRESHOLD)
    if total >= threshold:
        return True
    return session.scalar(select(ReplenishmentSuggestion.id).where(
        ReplenishmentSuggestion.org_id == org_id, ReplenishmentSuggestion.document_id == document_id)) is not None


def open_approval(session: Session, org_id: int, doc_kind: str, document_id: int, value: Decimal,
                  urgent: bool = False, *, new_document: bool = False) -> ApprovalRequest:
    """Start (or return the already started) approval of a document; emit ``approval.opened``.

    Called by the operation that creates the document, in its transaction: a document that needs
    approval never exists without its request, so nobody can decide it before its chain is known.
    The chain's steps are copied, so editing a chain later does not change a running approval.
    ``new_document``: the document was created in this transaction, so it has no request yet.
    """
    if not new_document:
        req = session.scalar(select(ApprovalRequest).where(
            ApprovalRequest.doc_kind == doc_kind, ApprovalRequest.document_id == document_id))
        if req is not None:
            return req
    chain_id, steps = choose_steps(session, org_id, doc_kind, value, urgent)
    req = ApprovalRequest(**request_values(org_id, doc_kind, document_id, chain_id, steps))
    session.add(req)
    session.flush()
    emit(session, org_id, "approval.opened", {"request_id": req.id, "doc_kind": doc_kind,
                                              "document_id": document_id, "step": 0, "urgent": urgent},
         document_id=document_id)
    return req


def approval_status(session: Session, org_id: int, doc_kind: str, document_id: int) -> ApprovalStatus | None:
    """The status of a document's approval; None when it never needed one (it may go ahead)."""
    return session.scalar(select(ApprovalRequest.status).where(
        ApprovalRequest.org_id == org_id, ApprovalRequest.doc_kind == doc_kind,
        ApprovalRequest.document_id == document_id))


def may_decide(actor: Actor, role: str) -> bool:
    """Tell whether ``actor`` may decide a level that belongs to ``role``."""
    return actor.system or actor.can(Permission.ROLES) or any(r.value == role for r, _ in actor.roles)


def consult_chain(session: Session, actor: Actor, doc_kind: str, document_id: int, approve: bool,
                  reason: str = "") -> bool:
    """Record a decision on the document's chain; return True when the document is now decided.

    No request: refused (``APPROVAL_NOT_OPENED``), never decided directly. The document's creator
    never decides any level of it (``SELF_APPROVAL``). A rejection or the last level's approval:
    True. An approval with levels left: the chain moves on (``approval.advanced``) and False.
    """
    req = session.scalar(select(ApprovalRequest).where(
        ApprovalRequest.doc_kind == doc_kind, ApprovalRequest.document_id == document_id,
        ApprovalRequest.org_id == actor.org_id).with_for_update())
    label = KIND_LABELS.get(doc_kind, "单据")
    if req is not None:  # at an edge node: only where the site's offline policy lets a local person decide
        check_offline(session, session.scalar(select(Document.site_id).where(Document.id == document_id)),
                      OfflineKind.APPROVE)
    if req is None:
        raise ApprovalNotOpened(f"该{label}的审批流程尚未开启，不能审批", doc_kind=doc_kind,
                                document_id=document_id)
    if req.status != ApprovalStatus.PENDING:
        raise InvalidState(f"该审批{STATUS_LABELS[req.status]}", status=req.status.value)
    creator = session.scalar(select(Document.created_by).where(Document.id == document_id))
    if not actor.system and creator is not None and creator == actor.member_id:
        raise SelfApproval(f"不能审批自己提交的{label}", document_id=document_id)
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
    steps = check_chain(spec)
    chain = ApprovalChain(org_id=actor.org_id, doc_kind=spec.doc_kind, name=spec.name.strip(),
                          min_value=spec.min_value, urgent=spec.urgent, steps=steps, active=True)
    session.add(chain)
    session.flush()
    record_audit(session, actor, "approval_chain.create", "approval_chain", chain.id, before=None,
                 after={"doc_kind": spec.doc_kind, "min_value": str(spec.min_value), "urgent": spec.urgent,
                        "steps": chain.steps})
    return chain


def check_chain(spec: ChainSpec) -> list[dict[str, Any]]:
    """Raise ValidationError naming the first problem of a chain; return its steps normalised."""
    if spec.doc_kind not in DOC_KINDS:
        raise ValidationError("单据类型无效", field="doc_kind")
    if not isinstance(spec.name, str) or not spec.name.strip() or len(spec.name) > 64:
        raise ValidationError("审批链名称须为 1 到 64 个字", field="name")
    if not isinstance(spec.min_value, Decimal) or not spec.min_value.is_finite() or spec.min_value < 0 \
            or spec.min_value >= Decimal(10) ** 12:
        raise ValidationError("门槛须为不小于 0 的有限金额", field="min_value")
    if spec.urgent is not None and not isinstance(spec.urgent, bool):
        raise ValidationError("加急标志须为 true、false 或不填", field="urgent")
    return validate_steps(spec.steps)
