"""Rules as data: create, update (new version), enable/disable, each audited; validation of the parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.errors import ValidationError
from models.jsonlogic import LogicError, validate
from models.lookup import get_owned
from models.org import Role
from models.rules import Rule, RuleVersion

#: Event kinds a rule may trigger on (label for the editor).
TRIGGERS = {
    "receipt.posted": "收货入库", "shipment.posted": "出库", "lot.qc_failed": "质检不合格", "lot.qc_passed": "质检合格",
    "stock.below_safety": "低于安全库存", "lot.near_expiry": "临近保质期", "item.slow_moving": "滞销",
    "sensor.out_of_range": "传感器超限", "scale.reading": "电子秤读数", "order.paid": "销售订单已付款",
    "transfer.requested": "调拨申请", "transfer.approved": "调拨已批准", "count.posted": "盘点",
    "forecast.completed": "需求预测完成", "forecast.failed": "需求预测失败",
    "replenishment.recomputed": "补货建议已更新",
}
#: Action type → required fields.
ACTIONS: dict[str, tuple[str, ...]] = {
    "notify": ("text",), "create_task": ("title", "due_in_hours"), "freeze": ("direction",),
    "create_transfer": ("from_site_id", "to_site_id", "quantity"), "webhook": ("subscription_id",),
}
CHANNELS = {"dingtalk", "wechat", "wecom"}


@dataclass(frozen=True)
class RuleSpec:
    code: str
    name: str
    trigger: str
    condition: dict[str, Any] = field(default_factory=dict)
    actions: tuple[dict[str, Any], ...] = ()
    enabled: bool = True


def validate_rule(spec: RuleSpec) -> None:
    """Raise ValidationError naming the first problem in a rule."""
    if not spec.code.strip() or not spec.name.strip():
        raise ValidationError("规则须有编号和名称", field="code")
    if spec.trigger not in TRIGGERS:
        raise ValidationError(f"不支持的触发事件：{spec.trigger}", field="trigger")
    if not isinstance(spec.condition, dict):
        raise ValidationError("条件须是 JSON-logic 对象", field="condition")
    try:
        if spec.condition:
            validate(spec.condition)
    except LogicError as exc:
        raise ValidationError(f"条件无效：{exc}", field="condition") from None
    if not spec.actions:
        raise ValidationError("规则至少要有一个动作", field="actions")
    for n, action in enumerate(spec.actions, start=1):
        kind = action.get("type")
        if kind not in ACTIONS:
            raise ValidationError(f"第 {n} 个动作类型无效：{kind}", field="actions")
        missing = [f for f in ACTIONS[kind] if action.get(f) in (None, "")]
        if missing:
            raise ValidationError(f"第 {n} 个动作缺少：{'、'.join(missing)}", field="actions")
        if kind in ("notify", "create_task") and not (action.get("role") or action.get("member_id")):
            raise ValidationError(f"第 {n} 个动作须指定角色或成员", field="actions")
        if action.get("role") and action["role"] not in {r.value for r in Role}:
            raise ValidationError(f"第 {n} 个动作的角色无效", field="actions")
        if kind == "notify" and action.get("channel", "dingtalk") not in CHANNELS:
            raise ValidationError(f"第 {n} 个动作的渠道无效", field="actions")


def _body(rule: Rule) -> dict[str, Any]:
    return {"code": rule.code, "name": rule.name, "trigger": rule.trigger, "condition": rule.condition,
            "actions": rule.actions, "enabled": rule.enabled, "version": rule.version}


def _snapshot(session: Session, actor: Actor, rule: Rule) -> None:
    session.add(RuleVersion(org_id=rule.org_id, rule_id=rule.id, version=rule.version, body=_body(rule),
                            changed_by=actor.member_id))


def create_rule(session: Session, actor: Actor, spec: RuleSpec) -> Rule:
    """Create a rule (version 1), audited."""
    actor.require(Permission.ROLES)
    validate_rule(spec)
    if session.scalar(select(Rule.id).where(Rule.org_id == actor.org_id, Rule.code == spec.code)):
        raise ValidationError(f"规则编号 {spec.code} 已存在", field="code")
    rule = Rule(org_id=actor.org_id, code=spec.code, name=spec.name, trigger=spec.trigger,
                condition=dict(spec.condition), actions=[dict(a) for a in spec.actions], enabled=spec.enabled,
                version=1, created_by=actor.member_id)
    session.add(rule)
    session.flush()
    _snapshot(session, actor, rule)
    record_audit(session, actor, "rule.create", "rule", rule.id, before=None, after=_body(rule))
    return rule


def _load(session: Session, actor: Actor, rule_id: int) -> Rule:
    return get_owned(session, Rule, rule_id, actor.org_id, lock=True)


def update_rule(session: Session, actor: Actor, rule_id: int, spec: RuleSpec, reason: str = "") -> Rule:
    """Replace a rule's trigger, condition and actions as a new version, audited."""
    actor.require(Permission.ROLES)
    validate_rule(spec)
    rule = _load(session, actor, rule_id)
    if spec.code != rule.code:
        raise ValidationError("规则编号不能修改", field="code")
    before = _body(rule)
    rule.name, rule.trigger, rule.condition = spec.name, spec.trigger, dict(spec.condition)
    rule.actions, rule.enabled, rule.version = [dict(a) for a in spec.actions], spec.enabled, rule.version + 1
    _snapshot(session, actor, rule)
    record_audit(session, actor, "rule.update", "rule", rule.id, before=before, after=_body(rule), reason=reason)
    return rule


def set_rule_enabled(session: Session, actor: Actor, rule_id: int, enabled: bool, reason: str = "") -> Rule:
    """Enable or disable a rule (a new version), audited."""
    actor.require(Permission.ROLES)
    rule = _load(session, actor, rule_id)
    if rule.enabled == enabled:
        return rule
    before = _body(rule)
    rule.enabled, rule.version = enabled, rule.version + 1
    _snapshot(session, actor, rule)
    record_audit(session, actor, "rule.enable" if enabled else "rule.disable", "rule", rule.id, before=before,
                 after=_body(rule), reason=reason)
    return rule
