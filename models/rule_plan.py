"""What a rule would do for an event: pure, so the worker and the sandbox query share it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from models.jsonlogic import matches
from models.org import ROLE_LABELS

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class RuleLike(Protocol):
    """A stored rule or a draft spec."""

    # Read-only: a frozen pydantic draft (RuleSpec) must satisfy the protocol as well as a stored Rule.
    @property
    def name(self) -> str: ...
    @property
    def trigger(self) -> str: ...
    @property
    def condition(self) -> dict[str, Any]: ...
    @property
    def actions(self) -> Any: ...


def render(text: str, payload: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders from the event payload (no format-string attribute access)."""
    return _PLACEHOLDER.sub(lambda m: str(payload.get(m.group(1), "")), text)


@dataclass(frozen=True)
class PlannedAction:
    type: str
    description: str
    params: dict[str, Any]


def plan(rule: RuleLike, event_kind: str, payload: dict[str, Any]) -> list[PlannedAction]:
    """Return what ``rule`` would do for an event, or [] when its condition does not hold. Pure."""
    if rule.trigger != event_kind or not matches(rule.condition, {"event": payload, "kind": event_kind}):
        return []
    out = []
    for action in rule.actions:
        kind = action["type"]
        params = {**action, "text": render(str(action.get("text", "")), payload),
                  "reason": render(str(action.get("reason", rule.name)), payload)}
        role = action.get("role")
        who = ROLE_LABELS.get(role, role) if isinstance(role, str) and role else f"成员 {action.get('member_id')}"
        description = {
            "notify": f"通知 {who}：{params['text']}",
            "create_task": f"给 {who} 建待办「{render(str(action.get('title')), payload)}」，"
                           f"{action.get('due_in_hours')} 小时内完成",
            "freeze": f"冻结 商品 {action.get('item_id') or payload.get('item_id')} @ 地点 "
                      f"{action.get('site_id') or payload.get('site_id')}：{params['reason']}",
            "create_transfer": f"申请调拨 {action.get('quantity')} 从 {action.get('from_site_id')} 到 "
                               f"{action.get('to_site_id')}",
            "webhook": f"推送到 webhook 订阅 {action.get('subscription_id')}",
        }[kind]
        out.append(PlannedAction(kind, description, params))
    return out
