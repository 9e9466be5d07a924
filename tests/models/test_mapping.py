"""Mapping rules as data: a change is a new version, audited, and reposts (reverse + new), never edits."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.actor import Actor, Permission, load_actor
from models.base import utcnow
from models.chart import DEFAULT_RULES
from models.demo import seed_demo
from models.errors import NotFound, PermissionDenied, ValidationError
from models.finance import MappingRule, Voucher, VoucherLine, VoucherStatus
from models.infra import AuditEntry, OutboxEvent
from models.operations import (
    AssignRole,
    ChangeMappingRule,
    ReceiveGoods,
    ReverseDocument,
    RuleLine,
    SetGradePrice,
    SettleFarmer,
    ShipGoods,
    assign_role,
    change_mapping_rule,
    receive_goods,
    reverse_document,
    set_grade_price,
    settle_farmer,
    ship_goods,
)
from models.operations.mapping import validate_rule_lines
from models.org import Role
from models.timeutil import local_date
from models.uow import run
from tests.factories import assert_books_ok

TO_RAW_MATERIAL = (RuleLine("1403", "debit", "goods", "原材料"), RuleLine("2202", "credit", "goods", "应付农户款"))


def _farmer_rule(sf, demo):
    with sf() as s:
        return s.scalars(select(MappingRule).where(
            MappingRule.org_id == demo.org_id, MappingRule.event == "receipt.posted",
            MappingRule.active.is_(True), MappingRule.condition["party_kind"].as_string() == "farmer")).one()


def _rule_id(sf, demo, event):
    with sf() as s:
        return s.scalars(select(MappingRule.id).where(
            MappingRule.org_id == demo.org_id, MappingRule.event == event, MappingRule.active.is_(True))).one()


def _deliver(sf, demo, actors, qty, party="王阿姨", **kw):
    # Deliveries dated last month are late paperwork: entered by the director, who may backdate.
    return run(sf, receive_goods, actors["钱总监" if "business_time" in kw else "小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(qty),
        party_id=demo.parties[party], grade_id=demo.grades["一级"], **kw))


def _snapshot(sf, demo):
    """Every voucher of the org: id → (number, status, rule, amounts, [(line_no, account, debit, credit)])."""
    with sf() as s:
        return {v.id: (v.number, v.status, v.mapping_rule_id, dict(v.amounts),
                       [(ln.line_no, ln.account_code, ln.debit, ln.credit, ln.party_id) for ln in v.lines])
                for v in s.scalars(select(Voucher).where(Voucher.org_id == demo.org_id))}


def _voucher_by_number(sf, demo, number):
    with sf() as s:
        v = s.scalars(select(Voucher).where(Voucher.org_id == demo.org_id, Voucher.number == number)).one()
        return v, [(ln.account_code, ln.debit, ln.credit, ln.party_id) for ln in v.lines]


def _account_totals(sf, demo):
    totals: dict[str, D] = defaultdict(D)
    with sf() as s:
        for code, debit, credit in s.execute(select(VoucherLine.account_code, VoucherLine.debit, VoucherLine.credit)
                                             .where(VoucherLine.org_id == demo.org_id)):
            totals[code] += debit - credit
    return {k: v for k, v in totals.items() if v}


def _audit(sf, demo, action):
    with sf() as s:
        return s.scalars(select(AuditEntry).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.action == action).order_by(AuditEntry.id)).all()


def test_change_creates_version_audits_and_reposts_this_months_vouchers(session_factory, demo, actors):
    sf = session_factory
    wang = demo.parties["王阿姨"]
    old = _deliver(sf, demo, actors, 5, business_time=utcnow() - timedelta(days=40))  # 400, last month or before
    current = _deliver(sf, demo, actors, 10)  # 800, this month
    supplier = run(sf, receive_goods, actors["赵经理"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["龙井"], quantity=D(20),
        party_id=demo.parties["包装厂"], unit_price=D(30), price_reason="合同价"))  # 600, under the other receipt rule
    paid = run(sf, settle_farmer, actors["吴会计"], SettleFarmer(wang))  # 0.7 × 1200 = 840
    assert paid.amount == D(840)
    before = _snapshot(sf, demo)
    assert _account_totals(sf, demo) == {"1405": D(1800), "2202": D(-960), "1002": D(-840)}
    v1 = _farmer_rule(sf, demo)

    change = run(sf, change_mapping_rule, actors["吴会计"], ChangeMappingRule(
        v1.id, TO_RAW_MATERIAL, reason="茶青记原材料"))
    assert (change.version, change.reposted) == (2, 1)
    assert len(change.reversal_numbers) == len(change.new_numbers) == 1

    # Only this month's farmer receipt moved from 1405 to 1403; everything else nets as before.
    assert _account_totals(sf, demo) == {"1405": D(1000), "1403": D(800), "2202": D(-960), "1002": D(-840)}

    with sf() as s:
        old_rule = s.get_one(MappingRule, v1.id)
        new_rule = s.get_one(MappingRule, change.rule_id)
        current_voucher = s.scalars(select(Voucher).where(
            Voucher.document_id == current.document_id, Voucher.number == current.voucher_number)).one()
        current_voucher_id = current_voucher.id
    assert not old_rule.active and old_rule.version == 1
    assert (new_rule.active, new_rule.version, new_rule.family_id) == (True, 2, v1.id)
    assert (new_rule.event, new_rule.condition, new_rule.priority) == ("receipt.posted", v1.condition, v1.priority)
    assert [ln["account"] for ln in new_rule.lines] == ["1403", "2202"]

    # Posted vouchers are never edited: every old voucher keeps its lines, figures and rule;
    # only this month's farmer voucher is now marked reversed.
    after = _snapshot(sf, demo)
    for vid, (number, status, rule_id, amounts, lines) in before.items():
        a_number, a_status, a_rule, a_amounts, a_lines = after[vid]
        assert (a_number, a_rule, a_amounts, a_lines) == (number, rule_id, amounts, lines)
        assert a_status == (VoucherStatus.REVERSED if vid == current_voucher_id else status)
    assert all(status == VoucherStatus.POSTED for _, status, *_ in before.values())
    untouched = {old.voucher_number, supplier.voucher_number, paid.voucher_number}
    assert {after[vid][0] for vid in after if after[vid][1] == VoucherStatus.POSTED and vid in before} == untouched

    red, red_lines = _voucher_by_number(sf, demo, change.reversal_numbers[0])
    assert (red.reverses_voucher_id, red.document_id, red.mapping_rule_id) == (
        current_voucher_id, current.document_id, v1.id)
    assert red_lines == [("1405", D(-800), D(0), wang), ("2202", D(0), D(-800), wang)]
    new, new_lines = _voucher_by_number(sf, demo, change.new_numbers[0])
    assert (new.status, new.document_id, new.mapping_rule_id, new.reverses_voucher_id) == (
        VoucherStatus.POSTED, current.document_id, change.rule_id, None)
    assert new_lines == [("1403", D(800), D(0), wang), ("2202", D(0), D(800), wang)]
    assert new.voucher_date >= current_voucher.voucher_date

    [entry] = _audit(sf, demo, "mapping_rule.changed")
    assert (entry.actor_id, entry.entity, entry.entity_id, entry.reason) == (
        demo.members["吴会计"], "mapping_rule", str(v1.id), "茶青记原材料")
    assert [ln["account"] for ln in entry.before["lines"]] == ["1405", "2202"] and entry.before["version"] == 1
    assert [ln["account"] for ln in entry.after["lines"]] == ["1403", "2202"] and entry.after["version"] == 2
    with sf() as s:
        event = s.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "mapping_rule.changed")).one()
    assert (event.payload["version"], event.payload["reposted"]) == (2, 1)

    # New postings follow the new version, and reversing a reposted receipt undoes the repost.
    later = _deliver(sf, demo, actors, 1)
    _, later_lines = _voucher_by_number(sf, demo, later.voucher_number)
    assert [(a, d, c) for a, d, c, _ in later_lines] == [("1403", D(80), D(0)), ("2202", D(0), D(80))]
    run(sf, reverse_document, actors["吴会计"], ReverseDocument(later.document_id, "重复录入"))
    assert _account_totals(sf, demo)["1403"] == D(800)
    assert_books_ok(sf, demo.org_id)


def test_repost_from_reaches_back_and_a_third_version_reposts_the_reposts(session_factory, demo, actors):
    sf = session_factory
    _deliver(sf, demo, actors, 5, business_time=utcnow() - timedelta(days=40))  # 400
    _deliver(sf, demo, actors, 10)  # 800
    v1 = _farmer_rule(sf, demo)
    since = local_date(utcnow() - timedelta(days=60))
    v2 = run(sf, change_mapping_rule, actors["吴会计"], ChangeMappingRule(v1.id, TO_RAW_MATERIAL, repost_from=since))
    assert v2.reposted == 2
    assert _account_totals(sf, demo) == {"1403": D(1200), "2202": D(-1200)}

    v3 = run(sf, change_mapping_rule, actors["钱总监"], ChangeMappingRule(v2.rule_id, (
        RuleLine("1405", "debit", "goods"), RuleLine("2202", "credit", "goods")), repost_from=since))
    assert (v3.version, v3.reposted) == (3, 2)  # the two v2 reposts, not the already reversed originals
    assert _account_totals(sf, demo) == {"1405": D(1200), "2202": D(-1200)}
    with sf() as s:
        versions = s.execute(select(MappingRule.version, MappingRule.active).where(
            MappingRule.family_id == v1.id).order_by(MappingRule.version)).all()
        posted = s.scalar(select(func.count()).select_from(Voucher).where(
            Voucher.org_id == demo.org_id, Voucher.status == VoucherStatus.POSTED,
            Voucher.reverses_voucher_id.is_(None)))
    assert [tuple(r) for r in versions] == [(1, False), (2, False), (3, True)]
    assert posted == 2  # one live voucher per receipt
    assert len(_audit(sf, demo, "mapping_rule.changed")) == 2
    with pytest.raises(ValidationError):  # only the live version may be changed
        run(sf, change_mapping_rule, actors["吴会计"], ChangeMappingRule(v1.id, TO_RAW_MATERIAL))
    assert_books_ok(sf, demo.org_id)


def test_repost_from_today_leaves_earlier_vouchers_alone(session_factory, demo, actors):
    sf = session_factory
    earlier = _deliver(sf, demo, actors, 5, business_time=utcnow() - timedelta(days=3))
    today = _deliver(sf, demo, actors, 10)
    change = run(sf, change_mapping_rule, actors["吴会计"], ChangeMappingRule(
        _farmer_rule(sf, demo).id, TO_RAW_MATERIAL, repost_from=local_date(utcnow())))
    assert change.reposted == 1
    assert _voucher_by_number(sf, demo, earlier.voucher_number)[0].status == VoucherStatus.POSTED
    assert _voucher_by_number(sf, demo, today.voucher_number)[0].status == VoucherStatus.REVERSED
    assert _account_totals(sf, demo) == {"1405": D(400), "1403": D(800), "2202": D(-1200)}
    assert_books_ok(sf, demo.org_id)


@pytest.fixture(scope="module")
def shared(session_factory):
    """One organisation for cases that must each write nothing."""
    org = run(session_factory, seed_demo, f"map-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        return org, {name: load_actor(s, member_id) for name, member_id in org.members.items()}


@pytest.mark.parametrize(("event", "lines"), [
    ("receipt.posted", (RuleLine("9999", "debit", "goods"), RuleLine("2202", "credit", "goods"))),  # account
    ("receipt.posted", (RuleLine("1403", "left", "goods"), RuleLine("2202", "credit", "goods"))),  # side
    ("receipt.posted", (RuleLine("1403", "debit", "revenue"), RuleLine("2202", "credit", "revenue"))),  # figure
    ("receipt.posted", ()),
    ("receipt.posted", (RuleLine("1403", "debit", "goods"),)),  # unbalanced
    ("receipt.posted", (RuleLine("1403", "debit", "goods"), RuleLine("2202", "credit", "total"))),  # tax lost
    ("receipt.posted", (RuleLine("1403", "debit", "total"), RuleLine("2202", "credit", "total"),
                        RuleLine("2221", "debit", "tax"))),
    ("shipment.posted", (RuleLine("1122", "debit", "total"), RuleLine("6001", "credit", "revenue"),
                         RuleLine("6401", "debit", "cost"), RuleLine("1405", "credit", "cost"))),  # no tax line
    ("settlement.paid", (RuleLine("2202", "debit", "amount"), RuleLine("1002", "debit", "amount"))),
    ("transfer.dispatched", (RuleLine("1402", "debit", "cost"),)),
])
def test_invalid_rules_are_refused_and_change_nothing(session_factory, shared, event, lines):
    sf = session_factory
    demo, actors = shared
    rule_id = _rule_id(sf, demo, event) if event != "receipt.posted" else _farmer_rule(sf, demo).id
    with pytest.raises(ValidationError):
        run(sf, change_mapping_rule, actors["吴会计"], ChangeMappingRule(rule_id, lines))
    with sf() as s:
        assert s.get_one(MappingRule, rule_id).active
        assert s.scalar(select(func.count()).select_from(MappingRule).where(
            MappingRule.org_id == demo.org_id)) == len(DEFAULT_RULES)
    assert _audit(sf, demo, "mapping_rule.changed") == []
    assert_books_ok(sf, demo.org_id)


def test_default_and_rebalanced_rules_pass_validation(session_factory, demo):
    with session_factory() as s:
        for event, _, _, _, lines in DEFAULT_RULES:
            validate_rule_lines(s, demo.org_id, event, tuple(RuleLine(**ln) for ln in lines))
        # total on one side, its parts on the other: balanced whatever the figures.
        validate_rule_lines(s, demo.org_id, "receipt.posted", (
            RuleLine("1403", "debit", "goods"), RuleLine("2221", "debit", "tax"), RuleLine("2202", "credit", "total")))
        with pytest.raises(ValidationError):
            validate_rule_lines(s, demo.org_id, "no.such.event", (RuleLine("1403", "debit", "goods"),))


def test_only_finance_changes_mappings(session_factory, demo, actors):
    sf = session_factory
    rule_id = _farmer_rule(sf, demo).id
    for name in ("小周", "老孙", "赵经理", "王阿姨"):
        with pytest.raises(PermissionDenied):
            run(sf, change_mapping_rule, actors[name], ChangeMappingRule(rule_id, TO_RAW_MATERIAL))
    assert not actors["赵经理"].can(Permission.MAPPING) and actors["吴会计"].can(Permission.MAPPING)
    with pytest.raises(NotFound):
        run(sf, change_mapping_rule, actors["吴会计"], ChangeMappingRule(10**9, TO_RAW_MATERIAL))
    with sf() as s:
        assert s.get_one(MappingRule, rule_id).active
    assert _audit(sf, demo, "mapping_rule.changed") == []
    assert_books_ok(sf, demo.org_id)


def test_shipment_rule_change_reposts_revenue_and_cost(session_factory, demo, actors):
    sf = session_factory
    _deliver(sf, demo, actors, 10)  # 800
    run(sf, ship_goods, actors["小周"], ShipGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(2), unit_price=D(150),
        party_id=demo.parties["杭州茶城"], tax_rate=D("0.13")))  # revenue 300, tax 39, total 339, cost 160
    assert _account_totals(sf, demo) == {
        "1405": D(640), "2202": D(-800), "1122": D(339), "6001": D(-300), "222102": D(-39), "6401": D(160)}
    change = run(sf, change_mapping_rule, actors["吴会计"], ChangeMappingRule(
        _rule_id(sf, demo, "shipment.posted"), (
            RuleLine("1122", "debit", "total"), RuleLine("6051", "credit", "revenue"),
            RuleLine("2221", "credit", "tax"), RuleLine("6402", "debit", "cost"), RuleLine("1405", "credit", "cost"))))
    assert change.reposted == 1
    assert _account_totals(sf, demo) == {
        "1405": D(640), "2202": D(-800), "1122": D(339), "6051": D(-300), "2221": D(-39), "6402": D(160)}
    assert_books_ok(sf, demo.org_id)


def test_set_grade_price_is_audited_and_used(session_factory, demo, actors):
    sf = session_factory
    grade = demo.grades["一级"]
    for name in ("小周", "吴会计", "王阿姨"):
        with pytest.raises(PermissionDenied):
            run(sf, set_grade_price, actors[name], SetGradePrice(grade, D(95)))
    with pytest.raises(ValidationError):
        run(sf, set_grade_price, actors["赵经理"], SetGradePrice(grade, D(-1)))
    assert _audit(sf, demo, "grade.price_changed") == []

    old = run(sf, set_grade_price, actors["赵经理"], SetGradePrice(grade, D("95.5"), reason="行情上涨"))
    assert old == D(80)
    [entry] = _audit(sf, demo, "grade.price_changed")
    assert (entry.actor_id, entry.entity, entry.entity_id, entry.reason) == (
        demo.members["赵经理"], "grade", str(grade), "行情上涨")
    assert D(entry.before["purchase_price"]) == D(80) and D(entry.after["purchase_price"]) == D("95.5")
    assert _deliver(sf, demo, actors, 2).total == D(191)  # 2 kg × 95.5
    assert_books_ok(sf, demo.org_id)


def test_assign_role_is_audited_and_takes_effect(session_factory, demo, actors):
    sf = session_factory
    zhou, sx, zc = demo.members["小周"], demo.sites["SX"], demo.sites["ZC"]
    for name in ("赵经理", "吴会计", "小周"):
        with pytest.raises(PermissionDenied):
            run(sf, assign_role, actors[name], AssignRole(zhou, Role.CLERK, zc))
    assert _audit(sf, demo, "member.roles_changed") == []

    roles = run(sf, assign_role, actors["钱总监"], AssignRole(zhou, Role.CLERK, zc))
    assert roles == sorted([f"clerk@{sx}", f"clerk@{zc}"])
    with sf() as s:
        zhou_actor = load_actor(s, zhou)
    assert zhou_actor.site_ids(Permission.RECEIVE) == {sx, zc}
    run(sf, receive_goods, zhou_actor, ReceiveGoods(
        site_id=zc, item_id=demo.items["茶青"], quantity=D(1), party_id=demo.parties["王阿姨"],
        grade_id=demo.grades["一级"]))

    run(sf, assign_role, Actor.system_actor(demo.org_id), AssignRole(zhou, Role.CLERK, zc, revoke=True))
    entries = _audit(sf, demo, "member.roles_changed")
    assert [(e.entity, e.entity_id) for e in entries] == [("member", str(zhou))] * 2
    assert entries[0].actor_id == demo.members["钱总监"] and entries[1].actor_id is None
    assert entries[0].before == {"roles": [f"clerk@{sx}"]}
    assert entries[0].after == {"roles": sorted([f"clerk@{sx}", f"clerk@{zc}"])}
    assert entries[1].after == {"roles": [f"clerk@{sx}"]}
    with sf() as s:
        assert load_actor(s, zhou).site_ids(Permission.RECEIVE) == {sx}
    assert_books_ok(sf, demo.org_id)
