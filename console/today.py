"""首页: what needs a decision now, grouped by urgency, each with its one-step action.

The list is ``models.queries.todos.todos_for`` — the same query behind the bot's 待办 and the
mini-program's /todos. Each action is one POST running one operation (the same the API calls):
approve / reject (``decide_approval``), lift a freeze (``unfreeze_stock``), accept / dismiss a
replenishment suggestion, replay a dead letter. A form carries a ``request_id`` made when the page
was rendered: a double submit replays the first answer instead of deciding twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import request
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.forms import new_request_id, path_id, request_key
from console.web import actor, call, done, member_page, read_db, render
from models.actor import Permission
from models.errors import ValidationError
from models.operations.approvals import DecideApproval, decide_approval
from models.operations.dead_letters import ReplayDeadLetters, replay_dead_letters
from models.operations.quality import UnfreezeStock, unfreeze_stock
from models.operations.replenishment import (
    AcceptSuggestion,
    DismissSuggestion,
    accept_suggestion,
    dismiss_suggestion,
)
from models.queries.todos import Todo, todos_for

MAX_REASON = 200
#: Cards shown per group; the rest of a group is one "更多" click away (the query caps each kind).
PAGE = 50


@dataclass(frozen=True)
class Group:
    slug: str
    label: str
    todos: list[Todo]


#: (slug, heading, does this to-do belong here) in urgency order; the first match wins.
GROUPS: tuple[tuple[str, str, Callable[[Todo], bool]], ...] = (
    ("overdue", "已超期的升级", lambda t: t.kind == "escalation" and t.overdue),
    ("approvals", "待我审批", lambda t: t.kind == "approval"),
    ("escalations", "升级待办与期限", lambda t: t.kind == "escalation"),
    ("quality", "质检异常与冻结", lambda t: t.kind in ("qc_failed", "frozen")),
    ("expiry", "临近保质期", lambda t: t.kind == "near_expiry"),
    ("stock", "安全库存与补货建议", lambda t: t.kind in ("below_safety", "suggestion")),
    ("system", "失败事件与离线设备", lambda t: t.kind in ("dead_letter", "stale_device")),
    ("documents", "待发货、待收货、待确认", lambda t: t.kind in ("dispatch", "receive", "draft_receipt")),
    ("tasks", "其他待办", lambda t: True),
)


def group(todos: Sequence[Todo]) -> list[Group]:
    """The non-empty groups in urgency order (within a group, the query's order)."""
    buckets: dict[str, list[Todo]] = {slug: [] for slug, _label, _match in GROUPS}
    for todo in todos:
        slug = next(slug for slug, _label, match in GROUPS if match(todo))
        buckets[slug].append(todo)
    return [Group(slug, label, buckets[slug]) for slug, label, _match in GROUPS if buckets[slug]]


@bp.get("/")
@member_page()
def today() -> ResponseReturnValue:
    """首页：待我处理的事，按紧急程度分组，每件一步处理"""
    todos = todos_for(read_db(), actor())
    groups = group(todos)
    only = request.args.get("group", "")
    if only not in {slug for slug, _label, _match in GROUPS}:
        only = ""  # junk in the address: show everything
    if only:  # "更多": one group in full
        groups = [g for g in groups if g.slug == only]
    # a dead letter is shown to whoever reads the automation; its replay button only where the operation allows it
    return render("console/today.html", groups=groups, total=len(todos), new_key=new_request_id,
                  page=None if only else PAGE, only=only, may_replay=actor().can(Permission.ROLES))


# --- form parsing --------------------------------------------------------------------------------


def _reason(required: bool, what: str) -> str:
    reason = request.form.get("reason", "").strip()
    if required and not reason:
        raise ValidationError(f"{what}须说明原因", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"原因不能超过 {MAX_REASON} 字", field="reason")
    return reason


# --- the one-step actions ------------------------------------------------------------------------


@bp.post("/today/approvals/<int:request_id>/decide")
@member_page()
def decide(request_id: int) -> ResponseReturnValue:
    decision = request.form.get("decision", "")
    if decision not in ("approve", "reject"):
        raise ValidationError("请选择同意或驳回", field="decision")
    approve = decision == "approve"
    reason = _reason(not approve, "驳回")
    view = call(decide_approval, DecideApproval(path_id(request_id), approve, reason), key=request_key())
    if not approve:
        return done("已驳回")
    return done("已同意，审批完成" if view.final else "已同意本级，等待下一级审批")


@bp.post("/today/freezes/<int:freeze_id>/lift")
@member_page()
def lift_freeze(freeze_id: int) -> ResponseReturnValue:
    call(unfreeze_stock, UnfreezeStock(path_id(freeze_id), _reason(True, "解冻")), key=request_key())
    return done("已解冻，库存可以发货")


@bp.post("/today/suggestions/<int:suggestion_id>/accept")
@member_page()
def accept(suggestion_id: int) -> ResponseReturnValue:
    call(accept_suggestion, AcceptSuggestion(path_id(suggestion_id)), key=request_key())
    return done("已采纳补货建议，单据已提交审批")


@bp.post("/today/suggestions/<int:suggestion_id>/dismiss")
@member_page()
def dismiss(suggestion_id: int) -> ResponseReturnValue:
    call(dismiss_suggestion, DismissSuggestion(path_id(suggestion_id), _reason(False, "忽略")), key=request_key())
    return done("已忽略该补货建议")


@bp.post("/today/dead-letters/<int:run_id>/replay")
@member_page()
def replay(run_id: int) -> ResponseReturnValue:
    call(replay_dead_letters, ReplayDeadLetters((path_id(run_id),)), key=request_key())
    return done("已重新排队处理")
