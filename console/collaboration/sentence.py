"""The rule builder's sentence — 当 [事件] 且 [条件] 且/或 [条件] … 时，[动作] 并 [动作] … — as form fields, and
the mapping between it and the rule spec the operation validates.

Nothing here judges whether a rule is valid: the form is turned into a RuleSpec as typed (a number that
does not parse stays text), and ``validate_rule`` (through the sandbox query or the save operation)
answers in Chinese, including the caps on conditions and actions. The only checks here are the ones a
form needs to be read at all (lengths, how many rows are read).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from models.operations.rules import CONDITION_FIELDS, RuleSpec

#: Event payload fields a condition may compare: the operation's list, so the form offers nothing it refuses.
FIELDS: dict[str, str] = CONDITION_FIELDS
COMPARISONS: dict[str, str] = {">": "大于", ">=": "不少于", "<": "小于", "<=": "不超过", "==": "等于", "!=": "不等于"}
JOINS: dict[str, str] = {"and": "全部满足", "or": "任一满足"}
JOIN_WORDS: dict[str, str] = {"and": "且", "or": "或"}
ACTION_LABELS: dict[str, str] = {"notify": "通知", "create_task": "建待办给", "freeze": "冻结库存",
                                 "webhook": "推送到 Webhook"}
DIRECTIONS: dict[str, str] = {"both": "进出都冻结", "outbound": "只冻结出库", "inbound": "只冻结入库"}
#: Longest text a form field may carry before it is even looked at (the operation's limits are smaller).
MAX_FIELD = 600
#: Rows read from a posted form: above the operation's cap (10), so a form with too many rows is refused in
#: its words rather than cut short silently; a bound so a forged form cannot make us read thousands.
MAX_ROWS = 20
#: The keys a stored action may have and still be shown as a form row (anything more is kept as JSON).
_FORM_KEYS = {"notify": {"type", "role", "text"}, "create_task": {"type", "role", "title", "due_in_hours"},
              "freeze": {"type", "direction", "reason"}, "webhook": {"type", "subscription_id"}}
_ROW = re.compile(r"^(cond|act)-(\d{1,2})-")


@dataclass
class Condition:
    field: str = ""
    op: str = ">"
    value: str = ""


@dataclass
class Action:
    type: str = "notify"
    role: str = "manager"
    text: str = ""
    due_in_hours: str = "24"
    direction: str = "both"
    subscription_id: str = ""
    #: A stored action the form cannot show (another type, extra keys): its JSON, kept as it is.
    raw: str = ""


@dataclass
class Sentence:
    """The builder form's values, as typed."""

    code: str = ""
    name: str = ""
    trigger: str = "receipt.posted"
    join: str = "and"
    conditions: list[Condition] = field(default_factory=lambda: [Condition()])
    actions: list[Action] = field(default_factory=lambda: [Action()])
    #: A stored condition the rows cannot say (nested and/or, other operators): its JSON, kept as it is.
    raw_condition: str = ""
    rule_id: int | None = None
    reason: str = ""

    @property
    def join_word(self) -> str:
        return JOIN_WORDS.get(self.join, "且")


def _text(form: MultiDict[str, str], name: str) -> str:
    return form.get(name, "").strip()[:MAX_FIELD]


def _rows(form: MultiDict[str, str], kind: str) -> list[int]:
    """The row numbers the form carries for ``kind`` ("cond" or "act"), in order, at most MAX_ROWS."""
    found = {int(m.group(2)) for key in form if (m := _ROW.match(key)) and m.group(1) == kind}
    return sorted(found)[:MAX_ROWS]


def from_form(form: MultiDict[str, str]) -> Sentence:
    """Read the builder's fields (strings, trimmed and cut at MAX_FIELD characters)."""
    raw_id = form.get("rule_id", "").strip()
    conditions = [Condition(_text(form, f"cond-{n}-field"), _text(form, f"cond-{n}-op") or ">",
                            _text(form, f"cond-{n}-value")) for n in _rows(form, "cond")]
    actions = [Action(**{k: _text(form, f"act-{n}-{k}") for k in (
        "type", "role", "text", "due_in_hours", "direction", "subscription_id")},
        raw=form.get(f"act-{n}-raw", "").strip()[:MAX_FIELD * 4]) for n in _rows(form, "act")]
    return Sentence(code=_text(form, "code"), name=_text(form, "name"), trigger=_text(form, "trigger"),
                    join=_text(form, "join") or "and", conditions=conditions, actions=actions,
                    raw_condition=form.get("raw_condition", "").strip()[:MAX_FIELD * 8],
                    rule_id=int(raw_id) if raw_id.isdigit() and len(raw_id) < 16 else None,
                    reason=_text(form, "reason"))


def edit(s: Sentence, form: MultiDict[str, str]) -> bool:
    """Apply an add/remove row button the form was sent with; False when it was sent by another button."""
    if "add_condition" in form:
        s.conditions.append(Condition())
    elif "add_action" in form:
        s.actions.append(Action())
    elif "keep_sentence_condition" in form:  # drop a stored condition the rows cannot say, start from a row
        s.raw_condition, s.conditions = "", [Condition()]
    else:
        for key in form:
            m = re.fullmatch(r"remove_(condition|action)_(\d{1,2})", key)
            if m:
                rows: list[Any] = s.conditions if m.group(1) == "condition" else s.actions
                if int(m.group(2)) < len(rows):
                    del rows[int(m.group(2))]
                return True
        return False
    return True


def _number_or_text(raw: str) -> int | str:
    """An id or hour count as a number when it is one; anything else is left for the operation to refuse."""
    return int(raw) if raw.isdigit() and len(raw) < 16 else raw


def _action_spec(a: Action, rule_name: str) -> Any:
    if a.raw:
        try:
            return json.loads(a.raw)
        except ValueError:
            return a.raw  # not an object: the operation refuses it in Chinese
    action: dict[str, Any] = {"type": a.type}
    if a.type == "notify":
        action.update(role=a.role, text=a.text)
    elif a.type == "create_task":
        action.update(role=a.role, title=a.text, due_in_hours=_number_or_text(a.due_in_hours))
    elif a.type == "freeze":
        action.update(direction=a.direction, reason=a.text or rule_name)
    elif a.type == "webhook":
        action.update(subscription_id=_number_or_text(a.subscription_id))
    return action


def condition_spec(s: Sentence) -> Any:
    """The JSON-logic the condition rows say: one comparison alone, several under "and"/"or"; {} for none."""
    if s.raw_condition:
        try:
            return json.loads(s.raw_condition)
        except ValueError:
            return s.raw_condition  # the operation answers "条件须是 JSON-logic 对象"
    terms = [{c.op: [{"var": f"event.{c.field}"}, c.value]} for c in s.conditions if c.field]
    if not terms:
        return {}
    return terms[0] if len(terms) == 1 else {s.join: terms}


def to_spec(s: Sentence) -> RuleSpec:
    """The rule spec the sentence says (validated by the operation, not here)."""
    return RuleSpec(code=s.code, name=s.name, trigger=s.trigger, condition=condition_spec(s),
                    actions=tuple(_action_spec(a, s.name) for a in s.actions))


def _comparison(expr: Any) -> Condition | None:
    """A stored comparison as a row, or None when a row cannot say it."""
    if not isinstance(expr, dict) or len(expr) != 1:
        return None
    [(op, args)] = expr.items()
    if op not in COMPARISONS or not isinstance(args, list) or len(args) != 2 or not isinstance(args[0], dict):
        return None
    var, value = args[0].get("var"), args[1]
    if len(args[0]) != 1 or not isinstance(var, str) or not var.startswith("event.") or var[6:] not in FIELDS \
            or isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return Condition(var[6:], str(op), str(value))


def _condition_rows(condition: dict[str, Any]) -> tuple[str, list[Condition]] | None:
    """(join, rows) for a stored condition, or None when it is more than rows joined one way."""
    if not condition:
        return "and", [Condition()]
    single = _comparison(condition)
    if single:
        return "and", [single]
    [(op, args)] = condition.items() if len(condition) == 1 else [(None, None)]
    if op in JOINS and isinstance(args, list) and args:
        rows = [_comparison(a) for a in args]
        if all(rows):
            return str(op), [r for r in rows if r]
    return None


def _action_row(a: Any) -> Action:
    kind = a.get("type") if isinstance(a, dict) else None
    if kind not in _FORM_KEYS or not set(a) <= _FORM_KEYS[kind] or (kind in ("notify", "create_task")
                                                                     and not a.get("role")):
        return Action(type=str(kind or ""), raw=json.dumps(a, ensure_ascii=False))
    return Action(type=kind, role=str(a.get("role") or "manager"),
                  text=str(a.get("text") or a.get("title") or a.get("reason") or ""),
                  due_in_hours=str(a.get("due_in_hours", "24")), direction=str(a.get("direction") or "both"),
                  subscription_id=str(a.get("subscription_id") or ""))


def from_rule(rule_id: int, code: str, name: str, trigger: str, condition: dict[str, Any],
              actions: list[dict[str, Any]]) -> Sentence:
    """A stored rule as a sentence; what the rows cannot say is kept as JSON, shown read-only, saved back."""
    s = Sentence(code=code, name=name, trigger=trigger, rule_id=rule_id)
    rows = _condition_rows(condition)
    if rows:
        s.join, s.conditions = rows
    else:
        s.raw_condition, s.conditions = json.dumps(condition, ensure_ascii=False), []
    s.actions = [_action_row(a) for a in actions] or [Action()]
    return s


#: Id fields a reader knows by name: what the thing is called when the sentence names it.
NAMED_FIELDS: dict[str, str] = {"site_id": "地点", "item_id": "商品", "party_id": "交售方"}
_IS = {"==": "是", "!=": "不是"}


def _term(c: Condition, names: dict[str, dict[str, str]]) -> str:
    """One condition in words: 数量大于 10; 地点是 绍兴收购点 (an id named when the organisation has it)."""
    name = names.get(c.field, {}).get(c.value)
    if name and c.op in _IS:
        return f"{NAMED_FIELDS[c.field]}{_IS[c.op]} {name}"
    return f"{FIELDS.get(c.field, c.field)}{COMPARISONS.get(c.op, c.op)} {c.value}"


def describe(trigger_label: str, condition: dict[str, Any], actions: list[dict[str, Any]],
             role_labels: dict[str, str], names: dict[str, dict[str, str]] | None = None) -> str:
    """A stored rule read back as one Chinese sentence, for the list (``names``: field → id → name)."""
    when = f"当{trigger_label}"
    rows = _condition_rows(condition) if condition else None
    if rows:
        join, conditions = rows
        terms = [_term(c, names or {}) for c in conditions]
        said = f" {JOIN_WORDS[join]}".join(terms)
        when += f"且{said} " if join == "and" or len(terms) == 1 else f"且（{said}）"
    elif condition:
        when += "且满足组合条件"
    parts = []
    for a in actions:
        kind = a.get("type")
        who = role_labels.get(str(a.get("role")), f"成员 {a.get('member_id')}")
        parts.append({"notify": f"通知{who}", "create_task": f"给{who}建待办",
                      "freeze": "冻结库存", "webhook": "推送 Webhook",
                      "create_transfer": "申请调拨"}.get(str(kind), str(kind)))
    return f"{when}时，{'，并'.join(parts)}"
