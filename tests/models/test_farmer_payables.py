"""What a farmer's delivery still has open on the payables, kept on her settlement
(``FarmerSettlement.payable_open``): every operation that changes it keeps it, the books check
catches a stale one, and the migration's backfill computes the same figures."""

from __future__ import annotations

import importlib.util
from decimal import Decimal as D
from pathlib import Path

from sqlalchemy import select, text, update

from models.finance import FarmerSettlement, MappingRule, SettlementStatus
from models.invariants import check_all, farmer_payables_current
from models.operations import (
    ChangeMappingRule,
    ReceiveGoods,
    ReverseDocument,
    RuleLine,
    change_mapping_rule,
    receive_goods,
    reverse_document,
)
from models.operations.money import RecordMoney, pay_money
from models.uow import run
from tests.factories import assert_books_ok

MIGRATION = Path(__file__).parents[2] / "migrations" / "versions" / "20261206_a7d3f9c2e5b8_settlement_payable_open.py"


def _deliver(sf, demo, actors, qty, farmer="王阿姨"):
    return run(sf, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(qty),
        party_id=demo.parties[farmer], grade_id=demo.grades["一级"]))


def _farmer_receipt_rule(sf, demo) -> MappingRule:
    with sf() as s:
        return s.scalars(select(MappingRule).where(
            MappingRule.org_id == demo.org_id, MappingRule.event == "receipt.posted", MappingRule.active.is_(True),
            MappingRule.condition["party_kind"].as_string() == "farmer")).one()


def _kept(sf, receipt_id):
    with sf() as s:
        return s.execute(select(FarmerSettlement.payable_open, FarmerSettlement.status)
                         .where(FarmerSettlement.receipt_id == receipt_id)).one()


def test_payments_reversals_and_reposts_keep_what_is_open(session_factory, demo, actors):
    sf = session_factory
    first = _deliver(sf, demo, actors, 10)  # 800
    second = _deliver(sf, demo, actors, 5)  # 400
    other = _deliver(sf, demo, actors, 3, farmer="李大伯")  # 240
    assert _kept(sf, first.document_id) == (D("800.00"), SettlementStatus.PREPAYMENT_DUE)

    # A 付款单 is set against her oldest delivery first, then the next.
    run(sf, pay_money, actors["吴会计"], RecordMoney(demo.parties["王阿姨"], D(900)))
    assert _kept(sf, first.document_id)[0] == D("0.00")
    assert _kept(sf, second.document_id)[0] == D("300.00")
    assert _kept(sf, other.document_id)[0] == D("240.00")  # another farmer's delivery is not touched
    assert_books_ok(sf, demo.org_id)

    # Reversed: the red-ink voucher belongs to the reversal document, so the delivery's own line is
    # unchanged; its settlement is cancelled, so nobody is owed it (the cash forecast reads waiting ones).
    run(sf, reverse_document, actors["赵经理"], ReverseDocument(other.document_id, "录错了"))
    assert _kept(sf, other.document_id)[1] == SettlementStatus.CANCELLED
    assert_books_ok(sf, demo.org_id)

    # Re-posted under a rule that pays the farmer at the gate (cash, no payable): the 400 leave the
    # payables, and the 100 already paid against this delivery now stand as paid too much.
    rule = _farmer_receipt_rule(sf, demo)
    run(sf, change_mapping_rule, actors["吴会计"], ChangeMappingRule(
        rule.id, (RuleLine("1405", "debit", "goods", "库存商品"), RuleLine("1001", "credit", "goods", "现付农户")),
        reason="收购点现场付现"))
    assert _kept(sf, second.document_id)[0] == D("-100.00")
    assert_books_ok(sf, demo.org_id)


def test_the_books_check_finds_a_stale_figure(session_factory, demo, actors):
    receipt = _deliver(session_factory, demo, actors, 10)
    with session_factory.begin() as s:
        s.execute(update(FarmerSettlement).where(FarmerSettlement.receipt_id == receipt.document_id)
                  .values(payable_open=D("123.45")))
    with session_factory() as s:
        found = farmer_payables_current(s, demo.org_id)
        assert not check_all(s, demo.org_id).ok
    assert len(found) == 1 and "123.45" in found[0] and "800.00" in found[0]


def test_the_migration_backfill_computes_the_kept_figures(session_factory, demo, actors):
    sf = session_factory
    for qty in (10, 5, 7):
        _deliver(sf, demo, actors, qty)
    run(sf, pay_money, actors["吴会计"], RecordMoney(demo.parties["王阿姨"], D(1000)))
    with sf() as s:
        kept = dict(s.execute(select(FarmerSettlement.id, FarmerSettlement.payable_open)
                              .where(FarmerSettlement.org_id == demo.org_id)).all())
    assert sorted(kept.values()) == [D("0.00"), D("200.00"), D("560.00")]  # 1,000 paid: oldest first
    spec = importlib.util.spec_from_file_location("payable_open_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with sf.begin() as s:
        s.execute(update(FarmerSettlement).where(FarmerSettlement.org_id == demo.org_id).values(payable_open=D(0)))
        s.execute(text(migration.BACKFILL))
    with sf() as s:
        assert dict(s.execute(select(FarmerSettlement.id, FarmerSettlement.payable_open)
                              .where(FarmerSettlement.org_id == demo.org_id)).all()) == kept
