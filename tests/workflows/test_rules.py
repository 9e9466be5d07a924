"""Rules as data: validated, versioned and audited; they fire through operations; the sandbox touches nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

import workflows.handlers  # noqa: F401  (register relay handlers)
from models.errors import PermissionDenied, ValidationError
from models.event_log import HandlerRun, Notification
from models.infra import AuditEntry, OutboxEvent
from models.jsonlogic import LogicError, evaluate, matches, validate
from models.operations import ReceiveGoods, receive_goods
from models.operations.rules import RuleSpec, create_rule, set_rule_enabled, update_rule
from models.rules import Rule, RuleVersion
from models.stock import Freeze, StockMove
from models.tasks import Todo
from models.uow import run
from tests.factories import drain
from workflows.rules import sandbox

BIG_DELIVERY = RuleSpec("big-delivery", "大额收货复核", "receipt.posted", {">": [{"var": "event.quantity"}, 20]}, (
    {"type": "create_task", "role": "qa", "title": "复核大额收货 {number}", "due_in_hours": 4,
     "chain": [{"after_hours": 4, "role": "manager"}]},
    {"type": "notify", "role": "manager", "text": "{number} 收货 {quantity} 公斤"},
))


def _receive(session_factory, demo, actors, qty):
    return run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(qty), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))


def test_jsonlogic_is_a_whitelist_not_eval():
    assert matches({"and": [{">": [{"var": "event.q"}, "20.5"]}, {"in": [{"var": "kind"}, ["a", "b"]]}]},
                   {"event": {"q": "21"}, "kind": "a"})
    assert evaluate({"if": [{"<": [{"var": "t"}, 0]}, "cold", "ok"]}, {"t": -2}) == "cold"
    assert evaluate({"+": [1, {"var": "x"}]}, {"x": "2.5"}) == Decimal("3.5")
    assert matches({}, {})
    for bad in ({"__import__": ["os"]}, {"var": [{"eval": "1"}]}, {"==": [1, 1], "or": [1]}):
        with pytest.raises(LogicError):
            validate(bad)
    deep: dict = {"!": [True]}
    for _ in range(20):
        deep = {"!": [deep]}
    with pytest.raises(LogicError):
        validate(deep)


@pytest.mark.parametrize("spec, message", [
    (RuleSpec("x", "x", "no.such.event", {}, ({"type": "notify", "role": "qa", "text": "t"},)), "触发事件"),
    (RuleSpec("x", "x", "receipt.posted", {"exec": ["rm"]}, ({"type": "notify", "role": "qa", "text": "t"},)),
     "不支持的运算符"),
    (RuleSpec("x", "x", "receipt.posted", {}, ({"type": "launch"},)), "动作类型无效"),
    (RuleSpec("x", "x", "receipt.posted", {}, ({"type": "create_task", "role": "qa", "title": "t"},)), "due_in_hours"),
    (RuleSpec("x", "x", "receipt.posted", {}, ({"type": "notify", "role": "boss", "text": "t"},)), "角色无效"),
    (RuleSpec("x", "x", "receipt.posted", {}, ()), "至少要有一个动作"),
])
def test_invalid_rules_are_refused_with_a_reason(session_factory, actors, spec, message):
    with pytest.raises(ValidationError, match=message):
        run(session_factory, create_rule, actors["钱总监"], spec)


def test_rule_changes_are_versioned_and_audited(session_factory, demo, actors):
    with pytest.raises(PermissionDenied):
        run(session_factory, create_rule, actors["小周"], BIG_DELIVERY)
    rule = run(session_factory, create_rule, actors["钱总监"], BIG_DELIVERY)
    changed = RuleSpec(**{**BIG_DELIVERY.__dict__, "condition": {">": [{"var": "event.quantity"}, 50]}})
    run(session_factory, update_rule, actors["钱总监"], rule.id, changed, "门槛太低")
    run(session_factory, set_rule_enabled, actors["钱总监"], rule.id, False)
    with session_factory() as session:
        assert session.get(Rule, rule.id).version == 3
        versions = list(session.scalars(select(RuleVersion).where(RuleVersion.rule_id == rule.id)
                                        .order_by(RuleVersion.version)))
        assert [v.body["enabled"] for v in versions] == [True, True, False]
        assert versions[1].body["condition"] == {">": [{"var": "event.quantity"}, 50]}
        audit = list(session.scalars(select(AuditEntry).where(AuditEntry.entity == "rule",
                                                              AuditEntry.entity_id == str(rule.id))
                                     .order_by(AuditEntry.id)))
        assert [a.action for a in audit] == ["rule.create", "rule.update", "rule.disable"]
        assert audit[1].reason == "门槛太低" and audit[1].before["version"] == 1


def test_a_rule_fires_once_through_operations(session_factory, demo, actors):
    run(session_factory, create_rule, actors["钱总监"], BIG_DELIVERY)
    small = _receive(session_factory, demo, actors, 5)
    big = _receive(session_factory, demo, actors, 30)
    drain(session_factory)
    drain(session_factory)
    with session_factory() as session:
        todos = list(session.scalars(select(Todo).where(Todo.org_id == demo.org_id, Todo.kind == "rule")))
        assert [t.title for t in todos] == [f"复核大额收货 {big.number}"]
        assert todos[0].assignee_role == "qa" and todos[0].chain == [{"after_hours": 4, "role": "manager"}]
        notes = list(session.scalars(select(Notification).where(Notification.org_id == demo.org_id,
                                                                Notification.title == "大额收货复核")))
        assert [(n.member_id, n.body) for n in notes] == [(demo.members["赵经理"], f"{big.number} 收货 30 公斤")]
        assert small.number not in {n.body for n in notes}


def test_sandbox_lists_what_a_draft_would_do_and_changes_nothing(session_factory, demo, actors):
    for qty in (5, 25, 40):
        _receive(session_factory, demo, actors, qty)
    drain(session_factory)
    tables = (OutboxEvent, Todo, Notification, Freeze, StockMove, HandlerRun, Rule, AuditEntry)

    def counts():
        with session_factory() as session:
            return {t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in tables}

    before = counts()
    freeze = {"type": "freeze", "direction": "outbound", "reason": "大额待复核"}
    draft = RuleSpec(**{**BIG_DELIVERY.__dict__, "actions": (*BIG_DELIVERY.actions, freeze)})
    with session_factory() as session:
        seen, hits = sandbox(session, demo.org_id, draft, days=7)
        assert not session.new and not session.dirty
        session.rollback()
    assert seen == 3 and len(hits) == 2
    assert hits[0].actions[0].startswith("给 质检 建待办「复核大额收货 ")
    assert hits[1].actions[2].startswith("冻结 商品 ")
    assert counts() == before
