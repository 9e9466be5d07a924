"""Reversal: the exact opposite in the ledger and the books (red ink), never an edit."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.documents import Document
from models.errors import InsufficientStock, InvalidState, PermissionDenied, ValidationError
from models.finance import FarmerSettlement, SettlementStatus, Voucher, VoucherLine, VoucherStatus
from models.infra import OutboxEvent
from models.operations import (
    DecideTransfer,
    ReceiveGoods,
    RecordQc,
    RequestTransfer,
    ReverseDocument,
    SettleFarmer,
    ShipGoods,
    TransferLineIn,
    TransferRef,
    decide_transfer,
    dispatch_transfer,
    receive_goods,
    receive_transfer,
    record_qc,
    request_transfer,
    reverse_document,
    settle_farmer,
    ship_goods,
)
from models.queries import stock_level
from models.stock import StockMove
from models.uow import run
from tests.factories import assert_books_ok


def _receive(sf, demo, actors, qty, grade="一级"):
    return run(sf, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(qty),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades[grade]))


def _ship(sf, demo, actors, qty):
    return run(sf, ship_goods, actors["小周"], ShipGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(qty), unit_price=D(150),
        party_id=demo.parties["杭州茶城"]))


def _reverse(sf, actors, doc_id, who="赵经理", reason="录错了"):
    return run(sf, reverse_document, actors[who], ReverseDocument(doc_id, reason))


def _settle(sf, demo, actors):
    return run(sf, settle_farmer, actors["吴会计"], SettleFarmer(demo.parties["王阿姨"]))


def _level(sf, demo):
    with sf() as s:
        lvl = stock_level(s, demo.org_id, demo.items["茶青"], demo.sites["SX"])
    return lvl.on_hand, lvl.value


def _vouchers_of(sf, doc_id):
    """(number, status, reverses, [(account, debit, credit)]) of every voucher of a document."""
    with sf() as s:
        return [(v.number, v.status, v.reverses_voucher_id, [(ln.account_code, ln.debit, ln.credit) for ln in v.lines])
                for v in s.scalars(select(Voucher).where(Voucher.document_id == doc_id).order_by(Voucher.id))]


def _account_totals(sf, demo):
    totals: dict[str, D] = defaultdict(D)
    with sf() as s:
        for code, debit, credit in s.execute(select(VoucherLine.account_code, VoucherLine.debit, VoucherLine.credit)
                                             .where(VoucherLine.org_id == demo.org_id)):
            totals[code] += debit - credit
    return {k: v for k, v in totals.items() if v}


def _status(sf, doc_id):
    with sf() as s:
        return s.get_one(Document, doc_id).status.value


def _settlement(sf, receipt_id):
    with sf() as s:
        return s.scalars(select(FarmerSettlement).where(FarmerSettlement.receipt_id == receipt_id)).one()


def _counts(sf, demo):
    with sf() as s:
        def n(model):
            return s.scalar(select(func.count()).select_from(model).where(model.org_id == demo.org_id))
        return (n(Document), n(StockMove), n(Voucher), n(VoucherLine), n(OutboxEvent))


def test_receipt_reversal_undoes_stock_books_and_settlement(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors, 10)
    [(orig_number, _, _, orig_lines)] = _vouchers_of(sf, receipt.document_id)
    assert orig_lines == [("1405", D(800), D(0)), ("2202", D(0), D(800))]

    rev = _reverse(sf, actors, receipt.document_id, reason="称错了")
    assert (rev.reversed_document_id, rev.reversed_number) == (receipt.document_id, receipt.number)
    assert rev.number.startswith("RK-SX-") and rev.number != receipt.number
    assert _level(sf, demo) == (D(0), D(0))

    with sf() as s:
        [orig_move] = s.scalars(select(StockMove).where(StockMove.document_id == receipt.document_id)).all()
        [back] = s.scalars(select(StockMove).where(StockMove.document_id == rev.document_id)).all()
        rev_doc = s.get_one(Document, rev.document_id)
        event = s.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "document.reversed")).one()
    assert back.reverses_move_id == orig_move.id
    assert (back.quantity, back.value) == (D(-10), D(-800))
    assert (back.lot_id, back.site_id) == (orig_move.lot_id, orig_move.site_id)
    assert (rev_doc.reverses_document_id, rev_doc.status.value, rev_doc.total_amount) == (
        receipt.document_id, "posted", D(-800))
    assert "称错了" in rev_doc.note and [ln.quantity for ln in rev_doc.lines] == [D(-10)]
    assert event.payload["reversal_id"] == rev.document_id and event.document_id == rev.document_id
    assert _status(sf, receipt.document_id) == "reversed"

    # The original voucher is marked reversed but its lines are untouched; the red-ink one negates them.
    [(number, status, _, lines)] = _vouchers_of(sf, receipt.document_id)
    assert (number, status, lines) == (orig_number, VoucherStatus.REVERSED, orig_lines)
    [(red_number, red_status, red_reverses, red_lines)] = _vouchers_of(sf, rev.document_id)
    assert rev.voucher_numbers == [red_number] and red_status == VoucherStatus.POSTED
    with sf() as s:
        orig_id = s.scalar(select(Voucher.id).where(Voucher.org_id == demo.org_id, Voucher.number == orig_number))
    assert red_reverses == orig_id
    assert red_lines == [("1405", D(-800), D(0)), ("2202", D(0), D(-800))]
    assert _account_totals(sf, demo) == {}

    assert _settlement(sf, receipt.document_id).status == SettlementStatus.CANCELLED
    with pytest.raises(ValidationError):  # nothing is owed for a delivery that never was
        _settle(sf, demo, actors)
    assert_books_ok(sf, demo.org_id)


def test_reversal_needs_permission_and_reason(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors, 10)
    for name in ("小周", "老孙", "王阿姨"):
        with pytest.raises(PermissionDenied):
            _reverse(sf, actors, receipt.document_id, who=name)
    with pytest.raises(ValidationError):
        _reverse(sf, actors, receipt.document_id, reason="  ")
    assert _status(sf, receipt.document_id) == "posted"
    _reverse(sf, actors, receipt.document_id, who="吴会计")
    assert _status(sf, receipt.document_id) == "reversed"
    assert_books_ok(sf, demo.org_id)


def test_paid_receipt_cannot_be_reversed_until_the_payment_is(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors, 10)
    paid = _settle(sf, demo, actors)
    before = _counts(sf, demo)
    with pytest.raises(InvalidState):
        _reverse(sf, actors, receipt.document_id)
    assert _counts(sf, demo) == before
    assert _status(sf, receipt.document_id) == "posted"
    assert _settlement(sf, receipt.document_id).status == SettlementStatus.PREPAID

    _reverse(sf, actors, paid.document_id, who="吴会计")
    _reverse(sf, actors, receipt.document_id)
    assert _settlement(sf, receipt.document_id).status == SettlementStatus.CANCELLED
    assert _account_totals(sf, demo) == {}
    assert_books_ok(sf, demo.org_id)


def test_receipt_partly_shipped_cannot_be_reversed_and_nothing_is_written(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors, 10)
    _ship(sf, demo, actors, 3)
    before = _counts(sf, demo)
    with pytest.raises(InsufficientStock):
        _reverse(sf, actors, receipt.document_id)
    assert _counts(sf, demo) == before
    assert _status(sf, receipt.document_id) == "posted"
    assert _settlement(sf, receipt.document_id).status == SettlementStatus.PREPAYMENT_DUE
    assert _level(sf, demo) == (D(7), D(560))
    assert [s for _, s, _, _ in _vouchers_of(sf, receipt.document_id)] == [VoucherStatus.POSTED]
    assert_books_ok(sf, demo.org_id)


def test_receipt_partly_transferred_away_cannot_be_reversed(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors, 10)
    t = run(sf, request_transfer, actors["小周"], RequestTransfer(
        demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(demo.items["茶青"], D(1)),)))
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
    with pytest.raises(InsufficientStock):
        _reverse(sf, actors, receipt.document_id)
    assert _status(sf, receipt.document_id) == "posted"
    assert_books_ok(sf, demo.org_id)


def test_no_double_reversal_and_no_reversal_of_a_reversal(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors, 10)
    rev = _reverse(sf, actors, receipt.document_id)
    before = _counts(sf, demo)
    with pytest.raises(InvalidState):
        _reverse(sf, actors, receipt.document_id)
    with pytest.raises(InvalidState):
        _reverse(sf, actors, rev.document_id)
    assert _counts(sf, demo) == before
    assert _status(sf, rev.document_id) == "posted"
    assert _level(sf, demo) == (D(0), D(0))
    assert_books_ok(sf, demo.org_id)


def test_shipment_reversal_restores_stock_and_value(session_factory, demo, actors):
    sf = session_factory
    _receive(sf, demo, actors, 10)  # 800
    _receive(sf, demo, actors, 10, grade="特级")  # 1200: average 100/kg
    shipment = _ship(sf, demo, actors, 4)
    assert (shipment.cost, shipment.revenue) == (D(400), D(600))
    assert _level(sf, demo) == (D(16), D(1600))
    [(_, _, _, lines)] = _vouchers_of(sf, shipment.document_id)
    assert sorted(lines) == sorted([("1122", D(600), D(0)), ("6001", D(0), D(600)),
                                    ("6401", D(400), D(0)), ("1405", D(0), D(400))])

    rev = _reverse(sf, actors, shipment.document_id, reason="客户退货")
    assert rev.number.startswith("CK-SX-")
    assert _level(sf, demo) == (D(20), D(2000))
    [(_, _, _, red)] = _vouchers_of(sf, rev.document_id)
    assert red == [(a, -d, -c) for a, d, c in lines]
    assert _account_totals(sf, demo) == {"1405": D(2000), "2202": D(-2000)}
    with sf() as s:
        moves = s.scalars(select(StockMove).where(StockMove.document_id == rev.document_id)).all()
        originals = {m.id: m for m in s.scalars(select(StockMove).where(StockMove.document_id == shipment.document_id))}
    assert {m.reverses_move_id for m in moves} == set(originals)
    assert all(m.quantity == -originals[m.reverses_move_id].quantity for m in moves)
    assert _status(sf, shipment.document_id) == "reversed"
    assert_books_ok(sf, demo.org_id)


def test_settlement_reversal_makes_amounts_due_again(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors, 10)
    first = _settle(sf, demo, actors)
    rev = _reverse(sf, actors, first.document_id, who="吴会计", reason="付错账户")
    assert rev.number.startswith("FK-")
    [(_, _, _, red)] = _vouchers_of(sf, rev.document_id)
    assert red == [("2202", D(-560), D(0)), ("1002", D(0), D(-560))]
    row = _settlement(sf, receipt.document_id)
    assert (row.status, row.prepaid_by_id, row.prepaid_at) == (SettlementStatus.PREPAYMENT_DUE, None, None)

    again = _settle(sf, demo, actors)
    assert [(i.stage, i.amount) for i in again.items] == [("prepayment", D(560))]
    run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, True))
    balance = _settle(sf, demo, actors)
    assert balance.amount == D(240)

    with pytest.raises(InvalidState):  # the later balance payment must go first
        _reverse(sf, actors, again.document_id, who="吴会计")
    _reverse(sf, actors, balance.document_id, who="吴会计")
    row = _settlement(sf, receipt.document_id)
    assert (row.status, row.prepaid_by_id, row.settled_by_id) == (
        SettlementStatus.BALANCE_DUE, again.document_id, None)
    assert _settle(sf, demo, actors).amount == D(240)
    # Paid 560 + 240 net of the reversed 560 and 240: the farmer is owed nothing, the bank paid 800.
    assert _account_totals(sf, demo) == {"1405": D(800), "1002": D(-800)}
    assert_books_ok(sf, demo.org_id)


def test_full_payment_reversal_reopens_the_whole_delivery(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors, 10)
    run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, True))
    full = _settle(sf, demo, actors)
    assert full.items[0].stage == "full"
    _reverse(sf, actors, full.document_id, who="吴会计")
    row = _settlement(sf, receipt.document_id)
    assert (row.status, row.prepaid_by_id, row.settled_by_id) == (SettlementStatus.PREPAYMENT_DUE, None, None)
    assert [(i.stage, i.amount) for i in _settle(sf, demo, actors).items] == [("full", D(800))]
    assert_books_ok(sf, demo.org_id)


def test_transfers_are_not_reversible(session_factory, demo, actors):
    sf = session_factory
    _receive(sf, demo, actors, 10)
    t = run(sf, request_transfer, actors["小周"], RequestTransfer(
        demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(demo.items["茶青"], D(5)),)))
    for step in ("requested", "received"):
        if step == "received":
            run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
            run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
            run(sf, receive_transfer, actors["老孙"], TransferRef(t.document_id))
        with pytest.raises(InvalidState):
            _reverse(sf, actors, t.document_id, who="钱总监", reason="调错了")
        assert _status(sf, t.document_id) == step
    assert_books_ok(sf, demo.org_id)
