"""The rule builder's sentence — 当 [事件] 且 [字段] [比较] [值] 时，[动作] [参数] — as form fields, and the
mapping between it and the rule spec the operation validates.

Nothing here judges whether a rule is valid: the form is turned into a RuleSpec as typed (a number that
does not parse stays text), and ``validate_rule`` (through the sandbox query or the save operation)
answers in Chinese. The only checks here are the ones a form needs to be read at all (lengths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from models.operations.rules import RuleSpec

#: Event payload fields a condition may compare (the facts the events carry), with what a reader calls them.
FIELDS: dict[str, str] = {
    "quantity": "数量", "amount": "金额", "prepayment": "预付款", "cost": "成本", "on_hand": "现有库存",
    "safety": "安全库存", "days_left": "剩余天数", "value": "读数", "readings": "连续超限次数",
    "site_id": "地点编号", "item_id": "商品编号", "party_id": "交售方编号", "lot_code": "批次号",
}
COMPARISONS: dict[str, str] = {">": "大于", ">=": "不少于", "<": "小于", "<=": "不超过", "==": "等于", "!=": "不等于"}
ACTION_LABELS: dict[str, str] = {"notify": "通知", "create_task": "建待办给", "freeze": "冻结库存",
                                 "webhook": "推送到 Webhook"}
DIRECTIONS: dict[str, str] = {"both": "进出都冻结", "outbound": "只冻结出库", "inbound": "只冻结入库"}
#: Longest text a form field may carry before it is even looked at (the operation's limits are smaller).
MAX_FIELD = 600


@dataclass
class Sentence:
    """The builder form's values, as typed."""

    code: str = ""
    name: str = ""
    trigger: str = "receipt.posted"
    field: str = ""
    op: str = ">"
    value: str = ""
    action: str = "notify"
    role: str = "manager"
    text: str = ""
    due_in_hours: str = "24"
    direction: str = "both"
    subscription_id: str = ""
    rule_id: int | None = None
    reason: str = ""
    #: Set when a stored rule does not fit the sentence (several actions, a compound condition).
    complex: bool = False


_TEXT_FIELDS = ("code", "name", "trigger", "field", "op", "value", "action", "role", "text", "due_in_hours",
                "direction", "subscription_id", "reason")


def from_form(form: MultiDict[str, str]) -> Sentence:
    """Read the builder's fields (strings, trimmed and cut at MAX_FIELD characters)."""
    values: dict[str, Any] = {name: form.get(name, "").strip()[:MAX_FIELD] for name in _TEXT_FIELDS}
    raw_id = form.get("rule_id", "").strip()
    values["rule_id"] = int(raw_id) if raw_id.isdigit() and len(raw_id) < 16 else None
    return Sentence(**values)


def _number_or_text(raw: str) -> int | str:
    """An id or hour count as a number when it is one; anything else is left for the operation to refuse."""
    return int(raw) if raw.isdigit() and len(raw) < 16 else raw


def to_spec(s: Sentence) -> RuleSpec:
    """The rule spec the sentence says (validated by the operation, not here)."""
    condition: dict[str, Any] = {}
    if s.field:
        condition = {s.op: [{"var": f"event.{s.field}"}, s.value]}
    action: dict[str, Any] = {"type": s.action}
    if s.action == "notify":
        action.update(role=s.role, text=s.text)
    elif s.action == "create_task":
        action.update(role=s.role, title=s.text, due_in_hours=_number_or_text(s.due_in_hours))
    elif s.action == "freeze":
        action.update(direction=s.direction, reason=s.text or s.name)
    elif s.action == "webhook":
        action.update(subscription_id=_number_or_text(s.subscription_id))
    return RuleSpec(code=s.code, name=s.name, trigger=s.trigger, condition=condition, actions=(action,))


def from_rule(rule_id: int, code: str, name: str, trigger: str, condition: dict[str, Any],
              actions: list[dict[str, Any]]) -> Sentence:
    """A stored rule as a sentence (``complex`` when it says more than one sentence can)."""
    s = Sentence(code=code, name=name, trigger=trigger, rule_id=rule_id, field="", value="")
    if condition:
        op, args = next(iter(condition.items())) if len(condition) == 1 else (None, None)
        pair: list[Any] = args if isinstance(args, list) and len(args) == 2 else [None, None]
        var = pair[0].get("var") if isinstance(pair[0], dict) else None
        if op in COMPARISONS and isinstance(var, str) and var.startswith("event.") and var[6:] in FIELDS \
                and isinstance(pair[1], str | int | float):
            s.field, s.op, s.value = var[6:], str(op), str(pair[1])
        else:
            s.complex = True
    if len(actions) != 1 or actions[0].get("type") not in ACTION_LABELS:
        s.complex = True
    if actions:
        a = actions[0]
        s.action = str(a.get("type", "notify"))
        s.role = str(a.get("role") or "manager")
        s.text = str(a.get("text") or a.get("title") or a.get("reason") or "")
        s.due_in_hours = str(a.get("due_in_hours", "24"))
        s.direction = str(a.get("direction") or "both")
        s.subscription_id = str(a.get("subscription_id") or "")
    return s


def describe(trigger_label: str, condition: dict[str, Any], actions: list[dict[str, Any]],
             role_labels: dict[str, str]) -> str:
    """A stored rule read back as one Chinese sentence, for the list."""
    s = from_rule(0, "", "", "", condition, actions)
    when = f"当{trigger_label}"
    if condition and not s.complex:
        when += f"且{FIELDS.get(s.field, s.field)}{COMPARISONS.get(s.op, s.op)} {s.value} "
    elif condition:
        when += "且满足组合条件"
    parts = []
    for a in actions:
        kind = a.get("type")
        who = role_labels.get(str(a.get("role")), f"成员 {a.get('member_id')}")
        parts.append({"notify": f"通知{who}", "create_task": f"给{who}建待办",
                      "freeze": "冻结库存", "webhook": "推送 Webhook",
                      "create_transfer": "申请调拨"}.get(str(kind), str(kind)))
    return f"{when}时，{'、'.join(parts)}"
