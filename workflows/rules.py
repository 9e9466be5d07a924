"""Rules engine: match enabled rules to events, plan their actions, run them through operations.

``plan`` is pure (the sandbox uses it); ``execute`` calls operations as the system actor.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from models.actor import Actor
from models.infra import OutboxEvent
from models.operations import FreezeStock, RequestTransfer, TransferLineIn, freeze_stock, request_transfer
from models.operations.rules import RuleSpec, check_rule_refs, create_rule
from models.operations.todos import CreateTodo, create_todo
from models.outbox import emit
from models.queries.workflow_config import SandboxHit, replay_draft
from models.rule_plan import PlannedAction, plan, render
from models.rules import Rule
from models.stock import FreezeDirection
from workflows.notify import notify_role
from workflows.relay import registry
from workflows.webhooks import enqueue_delivery

__all__ = ["SEEDED_RULES", "PlannedAction", "SandboxHit", "ensure_seeded", "evaluate_rules", "execute", "plan",
           "render", "sandbox"]
log = logging.getLogger(__name__)
#: Events the rules engine itself writes: never evaluated (a rule on its own failure would loop).
OWN_KINDS = frozenset({"rule.fired", "rule.failed"})

#: Alerts seeded as rules for every organisation (editable like any other rule).
SEEDED_RULES: tuple[RuleSpec, ...] = (
    RuleSpec("low-stock", "低库存提醒", "stock.below_safety", {}, (
        {"type": "notify", "role": "manager", "channel": "dingtalk",
         "text": "{item_name} 在 {site_name} 只剩 {on_hand}，低于安全库存 {safety}"},)),
    RuleSpec("near-expiry", "临期提醒（先到期先出）", "lot.near_expiry", {"<=": [{"var": "event.days_left"}, 7]}, (
        {"type": "notify", "role": "storekeeper", "channel": "dingtalk",
         "text": "批次 {lot_code} 还有 {days_left} 天到期，请优先出库"},)),
    RuleSpec("qc-failed", "质检不合格通知", "lot.qc_failed", {}, (
        {"type": "notify", "role": "qa", "channel": "dingtalk", "text": "批次 {lot_code} 质检不合格：{note}"},)),
    RuleSpec("sensor-anomaly", "冷库温湿度异常", "sensor.out_of_range", {}, (
        {"type": "freeze", "direction": "both", "reason": "温湿度异常：{device_code} {metric} {value}"},
        {"type": "notify", "role": "storekeeper", "channel": "dingtalk",
         "text": "{site_name} {device_code} {metric} 超限（{value}），已冻结该处库存"},)),
    RuleSpec("slow-movers", "滞销提醒", "item.slow_moving", {}, (
        {"type": "notify", "role": "manager", "channel": "dingtalk",
         "text": "{item_name} 在 {site_name} 已 {days} 天没有出库，库存 {on_hand}"},)),
    # Cash figures go to those who may see them (查看财务): finance and the director, not managers.
    RuleSpec("cash-below-threshold", "现金预警", "cash.below_threshold", {}, tuple(
        {"type": "notify", "role": role, "channel": "dingtalk",
         "text": "预计 {first_below_text} 起现金低于下限 {threshold} 元，最低 {lowest} 元（{lowest_at_text}）"}
        for role in ("finance", "director"))),
)


SEEDED_TRIGGERS = frozenset(spec.trigger for spec in SEEDED_RULES)


def execute(session: Session, event: OutboxEvent, rule: Rule, actions: list[PlannedAction]) -> None:
    """Carry out planned actions through operations, as the system actor."""
    system = Actor.system_actor(event.org_id, f"规则：{rule.name}")
    p = event.payload
    # Ids were checked when the rule was saved; the rows may have been deleted or deactivated since,
    # and nothing may reach another organisation: check all before doing any action.
    check_rule_refs(session, event.org_id, rule.actions)
    handler = f"rules.{rule.code}"
    for n, action in enumerate(actions):
        a = action.params
        if action.type == "notify":
            notify_role(session, event, f"{handler}.{n}", a.get("role") or "", rule.name, a["text"],
                        member_id=a.get("member_id"))
        elif action.type == "create_task":
            chain = tuple(a.get("chain") or ())
            create_todo(session, event.org_id, CreateTodo(
                title=render(str(a["title"]), p)[:128], due_in_hours=float(a["due_in_hours"]), kind="rule",
                assignee_role=a.get("role"), assignee_member_id=a.get("member_id"), chain=chain,
                lot_id=p.get("lot_id"), source_event_id=event.id))
        elif action.type == "freeze":
            freeze_stock(session, system, FreezeStock(
                item_id=int(a.get("item_id") or p["item_id"]), direction=FreezeDirection(a["direction"]),
                reason=a["reason"][:120], site_id=a.get("site_id") or p.get("site_id"),
                lot_id=p.get("lot_id") if a.get("scope") == "lot" else None))
        elif action.type == "create_transfer":
            request_transfer(session, system, RequestTransfer(
                from_site_id=int(a["from_site_id"]), to_site_id=int(a["to_site_id"]),
                lines=(TransferLineIn(int(a.get("item_id") or p["item_id"]), Decimal(str(a["quantity"])),
                                      a.get("unit")),), urgent=bool(a.get("urgent")), reason=rule.name))
        elif action.type == "webhook":
            enqueue_delivery(session, event, int(a["subscription_id"]))
    emit(session, event.org_id, "rule.fired", {"rule_id": rule.id, "code": rule.code, "version": rule.version,
                                               "event_id": str(event.id), "actions": [a.type for a in actions]})


def ensure_seeded(session: Session, org_id: int) -> None:
    """Create the seeded alert rules for an organisation the first time it sees an event."""
    codes = set(session.scalars(select(Rule.code).where(Rule.org_id == org_id)))
    system = Actor.system_actor(org_id, "初始化")
    for spec in SEEDED_RULES:
        if spec.code not in codes:
            create_rule(session, system, spec)


@registry.register("*", "rules.evaluate")
def evaluate_rules(session: Session, event: OutboxEvent) -> None:
    """Run every enabled rule of the event's organisation that triggers on its kind.

    Each rule runs in its own savepoint: a rule that fails (a row it names is gone, an operation refuses)
    leaves nothing half-done, records a ``rule.failed`` event, and the other rules still run.
    """
    if event.kind in OWN_KINDS:
        return
    # One relay batch is one session: look rules up once per (org, kind) per batch.
    cache: dict[tuple[int, str], list[Rule]] = session.info.setdefault("rules_by_trigger", {})
    key = (event.org_id, event.kind)
    if key not in cache:
        if event.kind in SEEDED_TRIGGERS:
            ensure_seeded(session, event.org_id)
        cache[key] = list(session.scalars(select(Rule).where(
            Rule.org_id == event.org_id, Rule.trigger == event.kind, Rule.enabled.is_(True)).order_by(Rule.id)))
    for rule in cache[key]:
        rule_id, code, version = rule.id, rule.code, rule.version
        try:
            with session.begin_nested():
                actions = plan(rule, event.kind, event.payload)
                if actions:
                    execute(session, event, rule, actions)
        except OperationalError:
            raise  # the database itself failed: let the relay retry the whole handler
        except Exception as exc:  # one bad rule must never stop the others
            log.warning("rule %s (org %s) failed on event %s: %s", code, event.org_id, event.id, exc)
            emit(session, event.org_id, "rule.failed", {
                "rule_id": rule_id, "code": code, "version": version, "event_id": str(event.id),
                "error": getattr(exc, "code", type(exc).__name__), "message": str(exc)[:500]})


def sandbox(session: Session, org_id: int, draft: RuleSpec, *, days: int = 7, now: datetime | None = None,
            limit: int = 5000) -> tuple[int, list[SandboxHit]]:
    """Replay a draft rule over the last ``days`` of events; return (events seen, what it would have done).

    Unchecked, for code that already authorised the caller: channels call
    ``models.queries.workflow_config.rule_sandbox``, which requires Permission.RULES. Writes nothing.
    """
    return replay_draft(session, org_id, draft, days=days, now=now, limit=limit)
