"""Approval cards: pure functions from an approval to a DingTalk card and a WeChat subscribe message."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.org import ROLE_LABELS
from models.timeutil import SHANGHAI

KIND_LABELS = {"transfer": "调拨申请", "purchase_order": "采购订单", "qc_exception": "质检异常",
               "sales_order": "销售订单"}
STATUS_LABELS = {"pending": "待审批", "approved": "已同意", "rejected": "已驳回"}


@dataclass(frozen=True)
class Decision:
    step: int
    name: str
    approve: bool
    reason: str
    at: datetime


@dataclass(frozen=True)
class ApprovalCard:
    """What an approver needs to see; built by workflows/ from the approval and its document."""

    request_id: int
    doc_kind: str
    number: str
    summary: str
    requested_by: str
    urgent: bool
    status: str
    step: int
    step_roles: tuple[str, ...]
    created_at: datetime
    history: tuple[Decision, ...] = field(default_factory=tuple)
    version: int = 0
    #: A sales order's margin preview (经营推演): margin and %, exposure vs limit, alternatives.
    preview: tuple[str, ...] = ()
    #: The same in at most 20 characters (a WeChat subscribe message's field).
    preview_brief: str = ""


def _local(when: datetime) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _progress(card: ApprovalCard) -> str:
    parts = []
    for n, role in enumerate(card.step_roles):
        label = ROLE_LABELS.get(role, role)
        done = next((d for d in reversed(card.history) if d.step == n), None)
        mark = ("✔" if done.approve else "✘") if done else ("●" if n == card.step and card.status == "pending" else "○")
        parts.append(f"{mark}{label}")
    return " → ".join(parts)


def dingtalk_card(card: ApprovalCard) -> dict[str, str]:
    """Return the card's ``cardParamMap`` (DingTalk wants every value as a string)."""
    last = card.history[-1] if card.history else None
    decided = card.status != "pending"
    outcome = ""
    if decided and last is not None:
        outcome = f"{last.name} 于 {_local(last.at)} {'同意' if last.approve else '驳回'}"
        if last.reason:
            outcome += f"：{last.reason}"
    title = f"{'【加急】' if card.urgent else ''}{KIND_LABELS.get(card.doc_kind, card.doc_kind)} {card.number}"
    params = {
        "title": title,
        "summary": card.summary,
        "requested_by": card.requested_by,
        "requested_at": _local(card.created_at),
        "progress": _progress(card),
        "status": card.status,
        "status_label": STATUS_LABELS.get(card.status, card.status),
        "outcome": outcome,
        #: The template hides the buttons once this is "true": later taps see the outcome.
        "decided": "true" if decided else "false",
        "buttons": json.dumps([] if decided else [
            {"id": "approve", "text": "同意", "color": "blue"},
            {"id": "reject", "text": "驳回", "color": "red", "needReason": True},
        ], ensure_ascii=False),
        "request_id": str(card.request_id),
        "version": str(card.version),
    }
    if card.preview:  # only sales orders carry one: other kinds' cards keep their parameters
        params["preview"] = "\n".join(card.preview)
    return params


def wechat_subscribe(card: ApprovalCard, *, template_id: str) -> dict[str, Any]:
    """Return the body of a WeChat subscribe message linking into the mini-program's approval page."""
    return {
        "template_id": template_id,
        "page": f"pages/approvals/detail?id={card.request_id}",
        "data": {
            "thing1": {"value": KIND_LABELS.get(card.doc_kind, card.doc_kind)[:20]},
            "character_string2": {"value": card.number[:32]},
            "thing3": {"value": (card.preview_brief or card.summary)[:20]},
            "name4": {"value": card.requested_by[:10]},
            "phrase5": {"value": STATUS_LABELS.get(card.status, card.status)[:5]},
        },
    }
