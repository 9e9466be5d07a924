"""Farmer settlement: the prepayment on delivery, the balance once the lot passes QC."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from models.actor import Actor
from models.documents import Document
from models.errors import PermissionDenied, ValidationError
from models.finance import FarmerSettlement, SettlementStatus, Voucher
from models.infra import OutboxEvent
from models.operations import (
    ReceiveGoods,
    RecordQc,
    SettleFarmer,
    receive_goods,
    record_qc,
    settle_farmer,
)
from models.org import Org
from models.uow import run
from tests.factories import assert_books_ok


def _deliver(sf, demo, qty, grade="一级", party="王阿姨", **kw):
    return run(sf, receive_goods, _system(demo), ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(qty),
        party_id=demo.parties[party], grade_id=demo.grades[grade], **kw))


def _system(demo):
    return Actor.system_actor(demo.org_id)


def _settle(sf, actors, demo, party="王阿姨", who="吴会计"):
    return run(sf, settle_farmer, actors[who], SettleFarmer(demo.parties[party]))


def _row(sf, receipt_id):
    with sf() as s:
        return s.scalars(select(FarmerSettlement).where(FarmerSettlement.receipt_id == receipt_id)).one()


def _voucher(sf, demo, number):
    with sf() as s:
        v = s.scalars(select(Voucher).where(Voucher.org_id == demo.org_id, Voucher.number == number)).one()
        return v.event, [(ln.account_code, ln.debit, ln.credit, ln.party_id) for ln in v.lines]


def test_prepayment_first_balance_only_after_qc_pass(session_factory, demo, actors):
    sf = session_factory
    wang = demo.parties["王阿姨"]
    receipt = _deliver(sf, demo, 10)  # 10 kg × ¥80 = 800
    assert (receipt.total, receipt.prepayment, receipt.balance_after_qc) == (D(800), D(560), D(240))
    row = _row(sf, receipt.document_id)
    assert (row.total, row.prepayment, row.balance, row.status) == (
        D(800), D(560), D(240), SettlementStatus.PREPAYMENT_DUE)

    pre = _settle(sf, actors, demo)
    assert pre.amount == D(560) and pre.party_id == wang and pre.number.startswith("FK-")
    assert [(i.receipt_number, i.stage, i.amount) for i in pre.items] == [(receipt.number, "prepayment", D(560))]
    assert _voucher(sf, demo, pre.voucher_number) == (
        "settlement.paid", [("2202", D(560), D(0), wang), ("1002", D(0), D(560), wang)])
    row = _row(sf, receipt.document_id)
    assert (row.status, row.prepaid_by_id, row.settled_by_id) == (SettlementStatus.PREPAID, pre.document_id, None)
    assert row.prepaid_at is not None

    with pytest.raises(ValidationError):  # the balance waits for QC
        _settle(sf, actors, demo)

    assert run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, True)).settlements_released == 1
    assert _row(sf, receipt.document_id).status == SettlementStatus.BALANCE_DUE
    bal = _settle(sf, actors, demo, who="钱总监")
    assert bal.amount == D(240) and [(i.stage, i.amount) for i in bal.items] == [("balance", D(240))]
    assert _voucher(sf, demo, bal.voucher_number) == (
        "settlement.paid", [("2202", D(240), D(0), wang), ("1002", D(0), D(240), wang)])
    row = _row(sf, receipt.document_id)
    assert (row.status, row.prepaid_by_id, row.settled_by_id) == (
        SettlementStatus.SETTLED, pre.document_id, bal.document_id)
    with pytest.raises(ValidationError):
        _settle(sf, actors, demo)
    with sf() as s:
        doc = s.get_one(Document, bal.document_id)
        assert doc.total_amount == D(240) and doc.party_id == wang
        payloads = [e.payload for e in s.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "settlement.paid"))]
    assert sorted(p["amount"] for p in payloads) == ["240", "560"]
    assert_books_ok(sf, demo.org_id)


def test_ratio_is_the_organisations_and_rounds_to_the_fen(session_factory, demo, actors):
    sf = session_factory
    at_70 = _deliver(sf, demo, "0.123", grade="特级")  # 0.123 × 120 = 14.76; × 0.7 = 10.332
    assert (at_70.total, at_70.prepayment, at_70.balance_after_qc) == (D("14.76"), D("10.33"), D("4.43"))
    with sf() as s:
        s.get_one(Org, demo.org_id).prepayment_ratio = D("0.6")
        s.commit()
    at_60 = _deliver(sf, demo, "0.123", grade="特级")  # 14.76 × 0.6 = 8.856
    assert (at_60.prepayment, at_60.balance_after_qc) == (D("8.86"), D("5.90"))
    paid = _settle(sf, actors, demo)
    assert [i.amount for i in paid.items] == [D("10.33"), D("8.86")] and paid.amount == D("19.19")
    assert_books_ok(sf, demo.org_id)


def test_qc_passed_before_any_payment_pays_once_in_full(session_factory, demo, actors):
    sf = session_factory
    receipt = _deliver(sf, demo, 10)
    run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, True))
    assert _row(sf, receipt.document_id).status == SettlementStatus.PREPAYMENT_DUE
    paid = _settle(sf, actors, demo)
    assert [(i.stage, i.amount) for i in paid.items] == [("full", D(800))] and paid.amount == D(800)
    row = _row(sf, receipt.document_id)
    assert (row.status, row.prepaid_by_id, row.settled_by_id) == (
        SettlementStatus.SETTLED, paid.document_id, paid.document_id)
    with pytest.raises(ValidationError):
        _settle(sf, actors, demo)
    assert_books_ok(sf, demo.org_id)


def test_qc_failed_before_payment_pays_prepayment_and_withholds_balance(session_factory, demo, actors):
    sf = session_factory
    receipt = _deliver(sf, demo, 10)
    run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, False, "农残超标"))
    paid = _settle(sf, actors, demo)
    assert [(i.stage, i.amount) for i in paid.items] == [("prepayment", D(560))]
    assert _row(sf, receipt.document_id).status == SettlementStatus.WITHHELD
    with pytest.raises(ValidationError):
        _settle(sf, actors, demo)
    run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, True, "复检合格"))
    assert _settle(sf, actors, demo).amount == D(240)
    assert_books_ok(sf, demo.org_id)


def test_one_payment_covers_everything_due_to_one_farmer_only(session_factory, demo, actors):
    sf = session_factory
    passed = _deliver(sf, demo, 10)  # 800, QC passes before payment: full
    pending = _deliver(sf, demo, 2, grade="特级")  # 240, prepayment 168
    other = _deliver(sf, demo, 5, party="李大伯")  # 400, someone else's
    run(sf, record_qc, actors["赵经理"], RecordQc(passed.lot_id, True))
    paid = _settle(sf, actors, demo)
    assert [(i.receipt_number, i.stage, i.amount) for i in paid.items] == [
        (passed.number, "full", D(800)), (pending.number, "prepayment", D(168))]
    assert paid.amount == D(968)
    _, lines = _voucher(sf, demo, paid.voucher_number)
    assert [(a, d, c) for a, d, c, _ in lines] == [("2202", D(968), D(0)), ("1002", D(0), D(968))]
    assert _row(sf, other.document_id).status == SettlementStatus.PREPAYMENT_DUE
    assert _settle(sf, actors, demo, party="李大伯").amount == D(280)
    assert_books_ok(sf, demo.org_id)


def test_nothing_due_and_non_farmers_are_refused(session_factory, demo, actors):
    sf = session_factory
    with pytest.raises(ValidationError):
        _settle(sf, actors, demo, party="陈小芳")  # no deliveries
    run(sf, receive_goods, actors["赵经理"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["龙井"], quantity=D(20),
        party_id=demo.parties["包装厂"], unit_price=D(30), price_reason="合同价"))
    for party in ("杭州茶城", "包装厂"):
        with pytest.raises(ValidationError):
            _settle(sf, actors, demo, party=party)
    with sf() as s:
        assert s.scalars(select(FarmerSettlement).where(FarmerSettlement.org_id == demo.org_id)).all() == []
    assert_books_ok(sf, demo.org_id)


def test_only_finance_and_director_settle(session_factory, demo, actors):
    sf = session_factory
    receipt = _deliver(sf, demo, 10)
    for name in ("小周", "老孙", "赵经理", "王阿姨"):
        with pytest.raises(PermissionDenied):
            _settle(sf, actors, demo, who=name)
    assert _row(sf, receipt.document_id).status == SettlementStatus.PREPAYMENT_DUE
    assert _settle(sf, actors, demo, who="钱总监").amount == D(560)
    assert_books_ok(sf, demo.org_id)
