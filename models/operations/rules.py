"""Rules as data: create, update (new version), enable/disable, each audited; validation of the parts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.catalog import Item
from models.errors import NotFound, ValidationError
from models.idempotency import idempotent
from models.jsonlogic import LogicError, validate
from models.lookup import get_owned
from models.org import Member, Role, Site
from models.rules import Rule, RuleVersion
from models.stock import FreezeDirection
from models.webhooks import WebhookSubscription

#: Event kinds a rule may trigger on (label for the editor).
TRIGGERS = {
    "receipt.posted": "收货入库", "shipment.posted": "出库", "lot.qc_failed": "质检不合格", "lot.qc_passed": "质检合格",
    "stock.below_safety": "低于安全库存", "lot.near_expiry": "临近保质期", "item.slow_moving": "滞销",
    "sensor.out_of_range": "传感器超限", "scale.reading": "电子秤读数", "order.paid": "销售订单已付款",
    "transfer.requested": "调拨申请", "transfer.approved": "调拨已批准", "count.posted": "盘点",
    "forecast.completed": "需求预测完成", "forecast.failed": "需求预测失败",
    "replenishment.recomputed": "补货建议已更新",
    "cash.below_threshold": "现金预计低于下限", "cash.recovered": "现金预计回到下限以上",
}
#: Action type → required fields.
ACTIONS: dict[str, tuple[str, ...]] = {
    "notify": ("text",), "create_task": ("title", "due_in_hours"), "freeze": ("direction",),
    "create_transfer": ("from_site_id", "to_site_id", "quantity"), "webhook": ("subscription_id",),
}
CHANNELS = {"dingtalk", "wechat", "wecom"}
#: Event payload fields a condition may read, with what a reader calls them (the console's builder lists these).
CONDITION_FIELDS: dict[str, str] = {
    "quantity": "数量", "amount": "金额", "prepayment": "预付款", "cost": "成本", "on_hand": "现有库存",
    "safety": "安全库存", "days_left": "剩余天数", "value": "读数", "readings": "连续超限次数",
    "site_id": "地点编号", "item_id": "商品编号", "party_id": "交售方编号", "lot_code": "批次号",
}
#: Operators that compare (each one counts as a condition against MAX_CONDITIONS).
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "!", "!!", "missing"})


@dataclass(frozen=True)
class RuleSpec:
    code: str
    name: str
    trigger: str
    condition: dict[str, Any] = field(default_factory=dict)
    actions: tuple[dict[str, Any], ...] = ()
    enabled: bool = True


#: Size bounds, checked when a rule is saved: a rule is configuration, not a payload.
MAX_CODE, MAX_NAME, MAX_TEXT = 48, 128, 500
MAX_CONDITION_CHARS, MAX_CONDITIONS, MAX_ACTIONS, MAX_ACTION_CHARS, MAX_CHAIN = 4000, 10, 10, 2000, 5
MAX_DUE_HOURS = 24 * 366
#: The keys an action may carry (anything else is junk, refused).
ACTION_KEYS = frozenset({"type", "role", "member_id", "channel", "text", "title", "due_in_hours", "chain",
                         "direction", "reason", "item_id", "site_id", "scope", "from_site_id", "to_site_id",
                         "quantity", "unit", "urgent", "subscription_id"})
#: Action fields naming a row of the organisation, and the model each names.
ID_FIELDS: dict[str, type[Any]] = {"member_id": Member, "site_id": Site, "from_site_id": Site, "to_site_id": Site,
                                   "item_id": Item, "subscription_id": WebhookSubscription}
_ID_LABELS = {Member: "成员", Site: "地点", Item: "商品", WebhookSubscription: "Webhook 订阅"}
_ROLES = {r.value for r in Role}


def _size(value: Any) -> int:
    try:
        return len(json.dumps(value, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError):
        return -1  # not plain JSON (NaN, Infinity, objects): refused like an oversized value


def _finite_number(value: Any, low: Decimal, high: Decimal) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return False
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return False
    return number.is_finite() and low < number <= high


def _validate_action(n: int, action: dict[str, Any]) -> None:
    kind = action.get("type")
    if kind not in ACTIONS:
        raise ValidationError(f"第 {n} 个动作类型无效：{kind}", field="actions")
    size = _size(action)
    if size < 0 or size > MAX_ACTION_CHARS:
        raise ValidationError(f"第 {n} 个动作过长或不是 JSON（最多 {MAX_ACTION_CHARS} 字符）", field="actions")
    unknown = sorted(set(action) - ACTION_KEYS)
    if unknown:
        raise ValidationError(f"第 {n} 个动作有不认识的字段：{'、'.join(unknown)}", field="actions")
    missing = [f for f in ACTIONS[kind] if action.get(f) in (None, "")]
    if missing:
        raise ValidationError(f"第 {n} 个动作缺少：{'、'.join(missing)}", field="actions")
    for key in ("text", "title", "reason", "unit", "scope", "channel", "direction", "role"):
        if key in action and (not isinstance(action[key], str) or len(action[key]) > MAX_TEXT):
            raise ValidationError(f"第 {n} 个动作的 {key} 须是不超过 {MAX_TEXT} 字的文字", field="actions")
    for key in ID_FIELDS:
        value = action.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**53):
            raise ValidationError(f"第 {n} 个动作的 {key} 须是编号", field="actions")
    if kind in ("notify", "create_task") and not (action.get("role") or action.get("member_id")):
        raise ValidationError(f"第 {n} 个动作须指定角色或成员", field="actions")
    if action.get("role") and action["role"] not in _ROLES:
        raise ValidationError(f"第 {n} 个动作的角色无效", field="actions")
    if kind == "notify" and action.get("channel", "dingtalk") not in CHANNELS:
        raise ValidationError(f"第 {n} 个动作的渠道无效", field="actions")
    if kind == "create_task" and not _finite_number(action["due_in_hours"], Decimal(0), Decimal(MAX_DUE_HOURS)):
        raise ValidationError(f"第 {n} 个动作的完成时限须在 0 到 {MAX_DUE_HOURS} 小时之间", field="actions")
    if kind == "freeze" and action["direction"] not in {d.value for d in FreezeDirection}:
        raise ValidationError(f"第 {n} 个动作的冻结方向无效", field="actions")
    if kind == "create_transfer" and not _finite_number(action["quantity"], Decimal(0), Decimal("1e9")):
        raise ValidationError(f"第 {n} 个动作的调拨数量无效", field="actions")
    chain = action.get("chain")
    if chain is not None and (not isinstance(chain, list) or len(chain) > MAX_CHAIN or not all(
            isinstance(step, dict) and set(step) <= {"after_hours", "role"} and step.get("role") in _ROLES
            and _finite_number(step.get("after_hours"), Decimal(0), Decimal(MAX_DUE_HOURS)) for step in chain)):
        raise ValidationError(f"第 {n} 个动作的升级链无效（最多 {MAX_CHAIN} 级，角色须有效）", field="actions")


def _check_condition_terms(expr: Any, counted: list[int]) -> None:
    """Refuse a variable that is not a known event field and count the comparisons (a rule is read by people)."""
    if isinstance(expr, list):
        for item in expr:
            _check_condition_terms(item, counted)
        return
    if not isinstance(expr, dict) or len(expr) != 1:
        return
    [(op, args)] = expr.items()
    if op == "var":
        path = args[0] if isinstance(args, list) and args else args
        name = path[6:] if isinstance(path, str) and path.startswith("event.") else None
        if path != "kind" and name not in CONDITION_FIELDS:
            raise ValidationError(f"条件里有不认识的字段：{str(path)[:48]}", field="condition")
        return
    if op in _COMPARISONS:
        counted[0] += 1
        if counted[0] > MAX_CONDITIONS:
            raise ValidationError(f"规则最多 {MAX_CONDITIONS} 个条件", field="condition")
    _check_condition_terms(args, counted)


def validate_rule(spec: RuleSpec, session: Session | None = None, org_id: int | None = None) -> None:
    """Raise ValidationError naming the first problem in a rule (NotFound for another org's ids).

    With a session and an organisation, every id the actions name must be a row of that organisation.
    """
    if not isinstance(spec.code, str) or not isinstance(spec.name, str) or not spec.code.strip() \
            or not spec.name.strip():
        raise ValidationError("规则须有编号和名称", field="code")
    if len(spec.code) > MAX_CODE or len(spec.name) > MAX_NAME:
        raise ValidationError(f"规则编号最多 {MAX_CODE} 字、名称最多 {MAX_NAME} 字", field="name")
    if spec.trigger not in TRIGGERS:
        raise ValidationError(f"不支持的触发事件：{str(spec.trigger)[:48]}", field="trigger")
    if not isinstance(spec.condition, dict):
        raise ValidationError("条件须是 JSON-logic 对象", field="condition")
    size = _size(spec.condition)
    if size < 0 or size > MAX_CONDITION_CHARS:
        raise ValidationError(f"条件过长或不是 JSON（最多 {MAX_CONDITION_CHARS} 字符）", field="condition")
    try:
        if spec.condition:
            validate(spec.condition)
    except LogicError as exc:
        raise ValidationError(f"条件无效：{exc}", field="condition") from None
    _check_condition_terms(spec.condition, [0])
    if not spec.actions:
        raise ValidationError("规则至少要有一个动作", field="actions")
    if len(spec.actions) > MAX_ACTIONS:
        raise ValidationError(f"规则最多 {MAX_ACTIONS} 个动作", field="actions")
    for n, action in enumerate(spec.actions, start=1):
        if not isinstance(action, dict):
            raise ValidationError(f"第 {n} 个动作须是对象", field="actions")
        _validate_action(n, action)
    if session is not None and org_id is not None:
        check_rule_refs(session, org_id, spec.actions)


def check_rule_refs(session: Session, org_id: int, actions: Any) -> None:
    """Raise NotFound unless every id in ``actions`` names a live row of ``org_id``.

    Run when a rule is saved and again before it fires (a row may since be deleted or deactivated).
    """
    for action in actions:
        for key, model in ID_FIELDS.items():
            if action.get(key) is None:
                continue
            row = get_owned(session, model, action[key], org_id)
            # A paused subscription is skipped by the delivery itself; other rows must be live.
            if model is not WebhookSubscription and getattr(row, "active", True) is False:
                raise NotFound(f"规则引用的{_ID_LABELS[model]}（编号 {action[key]}）已停用",
                               entity=model.__name__, id=action[key])


def _body(rule: Rule) -> dict[str, Any]:
    return {"code": rule.code, "name": rule.name, "trigger": rule.trigger, "condition": rule.condition,
            "actions": rule.actions, "enabled": rule.enabled, "version": rule.version}


def _snapshot(session: Session, actor: Actor, rule: Rule) -> None:
    session.add(RuleVersion(org_id=rule.org_id, rule_id=rule.id, version=rule.version, body=_body(rule),
                            changed_by=actor.member_id))


def create_rule(session: Session, actor: Actor, spec: RuleSpec) -> Rule:
    """Create a rule (version 1), audited."""
    actor.require(Permission.ROLES)
    validate_rule(spec, session, actor.org_id)
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
    validate_rule(spec, session, actor.org_id)
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
    if enabled:  # what it names may have gone while it was off
        check_rule_refs(session, actor.org_id, rule.actions)
    before = _body(rule)
    rule.enabled, rule.version = enabled, rule.version + 1
    _snapshot(session, actor, rule)
    record_audit(session, actor, "rule.enable" if enabled else "rule.disable", "rule", rule.id, before=before,
                 after=_body(rule), reason=reason)
    return rule


# --- command form (the console and other form channels: one command, idempotent by key) ----------


@dataclass(frozen=True)
class SaveRule:
    """Create a rule (``rule_id`` None) or replace one as its next version."""

    spec: RuleSpec
    rule_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class RuleSaved:
    rule_id: int
    version: int
    created: bool


@idempotent("rule.save")
def save_rule(session: Session, actor: Actor, cmd: SaveRule) -> RuleSaved:
    """Create or update a rule through :func:`create_rule` / :func:`update_rule` (a replayed key saves once)."""
    if cmd.rule_id is None:
        rule = create_rule(session, actor, cmd.spec)
    else:
        rule = update_rule(session, actor, cmd.rule_id, cmd.spec, cmd.reason)
    return RuleSaved(rule.id, rule.version, cmd.rule_id is None)


@dataclass(frozen=True)
class SwitchRule:
    rule_id: int
    enabled: bool
    reason: str = ""


@idempotent("rule.switch")
def switch_rule(session: Session, actor: Actor, cmd: SwitchRule) -> RuleSaved:
    """Enable or disable a rule through :func:`set_rule_enabled`."""
    rule = set_rule_enabled(session, actor, cmd.rule_id, cmd.enabled, cmd.reason)
    return RuleSaved(rule.id, rule.version, False)
