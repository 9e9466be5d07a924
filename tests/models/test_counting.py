"""count_stock: what is on the shelf becomes the book figure, through adjusting moves at average cost."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from models.base import utcnow
from models.documents import DocKind, DocStatus, Document
from models.errors import PermissionDenied, ValidationError
from models.infra import OutboxEvent
from models.operations import (
    CancelOrder,
    CountStock,
    CreateOrder,
    OrderLineIn,
    cancel_order,
    count_stock,
    create_order,
)
from models.stock import StockMove
from models.uow import run
from tests.factories import assert_books_ok, lot_balance, receive, row_counts, ship, voucher_lines

EARLY, LATE = date(2099, 1, 5), date(2099, 1, 10)


def _count(session_factory, demo, actor, counted, unit=None, *, site="ZC", lot_id=None):
    return run(session_factory, count_stock, actor, CountStock(
        demo.sites[site], demo.items["茶青"], D(counted), unit=unit, lot_id=lot_id))


def _bal(session_factory, demo, receipt, site="ZC"):
    bal = lot_balance(session_factory, receipt.lot_id, demo.sites[site])
    return bal.on_hand, bal.value


@pytest.fixture
def priced_lots(session_factory, demo):
    """Lot A: 5 kg 一级 (80) = 400 expiring first; lot B: 5 kg 特级 (120) = 600. Average 1000 / 10 = 100."""
    return (receive(session_factory, demo, 5, grade="一级", expires_on=EARLY),
            receive(session_factory, demo, 5, grade="特级", expires_on=LATE))


def test_loss_leaves_the_oldest_lot_first_at_average_cost(session_factory, demo, actors, priced_lots):
    a, b = priced_lots
    result = _count(session_factory, demo, actors["老孙"], 8)
    # 2 kg missing, from lot A (first to expire), valued at the average 100 → 200.00, not A's 80.
    assert (result.expected, result.counted, result.difference) == (D(10), D(8), D(-2))
    assert (result.gain_value, result.loss_value, result.base_unit) == (D(0), D("200.00"), "公斤")
    assert _bal(session_factory, demo, a) == (D(3), D("200.00"))
    assert _bal(session_factory, demo, b) == (D(5), D("600.00"))
    assert voucher_lines(session_factory, result.document_id) == [("1901", D("200.00"), D(0)),
                                                                  ("1405", D(0), D("200.00"))]
    with session_factory() as s:
        doc = s.get_one(Document, result.document_id)
        assert (doc.kind, doc.status, doc.total_amount) == (DocKind.COUNT, DocStatus.POSTED, D("-200.00"))
        assert doc.number.startswith("PD-ZC-")
        [line] = doc.lines
        assert (line.expected_quantity, line.quantity, line.done_quantity) == (D(10), D(8), D(-2))
        assert line.unit_price == D(100)
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.document_id == doc.id)).one()
    assert event.kind == "count.posted"
    assert (event.payload["expected"], event.payload["counted"], event.payload["difference"]) == ("10", "8", "-2")
    assert_books_ok(session_factory, demo.org_id)


def test_loss_spanning_lots_empties_the_oldest_then_takes_from_the_next(session_factory, demo, actors):
    a = receive(session_factory, demo, 5, expires_on=EARLY)  # 5 × 80 = 400
    b = receive(session_factory, demo, 10, expires_on=LATE)  # 10 × 80 = 800
    result = _count(session_factory, demo, actors["老孙"], 7)
    # 8 missing: all 5 of A (its 400.00) then 3 of B (3 × 80 = 240.00) → 640.00.
    assert (result.difference, result.loss_value) == (D(-8), D("640.00"))
    assert _bal(session_factory, demo, a) == (D(0), D(0))
    assert _bal(session_factory, demo, b) == (D(7), D("560.00"))
    assert_books_ok(session_factory, demo.org_id)


def test_gain_goes_to_the_newest_lot_at_average_cost(session_factory, demo, actors):
    now = utcnow()
    # Entered in this order, but lot 2 was received earlier (an offline entry): lot 1 is the newest.
    newest = receive(session_factory, demo, 5, grade="一级", business_time=now - timedelta(days=1))  # 400
    older = receive(session_factory, demo, 5, grade="特级", business_time=now - timedelta(days=5))  # 600
    assert older.lot_id > newest.lot_id
    result = _count(session_factory, demo, actors["老孙"], 12)
    # 2 kg found, at the average (400 + 600) / 10 = 100 → 200.00, onto the newest lot.
    assert (result.difference, result.gain_value, result.loss_value) == (D(2), D("200.00"), D(0))
    assert _bal(session_factory, demo, newest) == (D(7), D("600.00"))
    assert _bal(session_factory, demo, older) == (D(5), D("600.00"))
    assert voucher_lines(session_factory, result.document_id) == [("1405", D("200.00"), D(0)),
                                                                  ("1901", D(0), D("200.00"))]
    # And a loss in the same setting leaves the lot that expires first: the older one.
    loss = _count(session_factory, demo, actors["老孙"], 11)
    assert loss.loss_value == D("100.00")
    assert _bal(session_factory, demo, older) == (D(4), D("500.00"))
    assert_books_ok(session_factory, demo.org_id)


def test_loss_takes_unpromised_stock_before_reserved_stock(session_factory, demo, actors):
    a = receive(session_factory, demo, 10, expires_on=EARLY)  # 10 × 80
    b = receive(session_factory, demo, 10, expires_on=LATE)
    order = run(session_factory, create_order, actors["赵经理"], CreateOrder(  # reserves all of lot A
        DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"], (OrderLineIn(demo.items["茶青"], D(10)),)))
    result = _count(session_factory, demo, actors["老孙"], 15)
    # 5 missing; 15 still cover the 10 promised, so the loss comes off lot B's free stock.
    assert (result.difference, result.loss_value) == (D(-5), D("400.00"))
    assert lot_balance(session_factory, a.lot_id, demo.sites["ZC"]).on_hand == D(10)
    bal_b = lot_balance(session_factory, b.lot_id, demo.sites["ZC"])
    assert (bal_b.on_hand, bal_b.reserved) == (D(5), D(0))
    assert_books_ok(session_factory, demo.org_id)
    # 12 more missing (3 left): free stock first (lot B's 5), then the promised lot A's 7, in one move each.
    short = _count(session_factory, demo, actors["老孙"], 3)
    assert short.loss_value == D("960.00")  # 12 × 80
    with session_factory() as s:
        moves = s.scalars(select(StockMove).where(StockMove.document_id == short.document_id)).all()
    assert sorted((m.lot_id, m.quantity) for m in moves) == [(a.lot_id, D(-7)), (b.lot_id, D(-5))]
    # Now less is on the shelf (3) than was promised (10): the promise shrinks to what is there.
    bal_a = lot_balance(session_factory, a.lot_id, demo.sites["ZC"])
    assert (bal_a.on_hand, bal_a.reserved) == (D(3), D(3))
    assert_books_ok(session_factory, demo.org_id)
    run(session_factory, cancel_order, actors["赵经理"], CancelOrder(order.document_id, "缺货"))
    assert lot_balance(session_factory, a.lot_id, demo.sites["ZC"]).reserved == D(0)
    assert_books_ok(session_factory, demo.org_id)


def test_count_in_other_units(session_factory, demo, actors, priced_lots):
    a, _ = priced_lots
    result = _count(session_factory, demo, actors["老孙"], 18, "斤")  # 9 kg
    assert (result.counted, result.difference, result.loss_value) == (D(9), D(-1), D("100.00"))
    assert _bal(session_factory, demo, a) == (D(4), D("300.00"))
    assert_books_ok(session_factory, demo.org_id)


def test_count_of_a_single_lot(session_factory, demo, actors, priced_lots):
    a, b = priced_lots
    loss = _count(session_factory, demo, actors["老孙"], 4, lot_id=b.lot_id)
    # Only lot B is counted: expected its 5; 1 missing from B itself, at the site average 100.
    assert (loss.expected, loss.difference, loss.loss_value) == (D(5), D(-1), D("100.00"))
    assert _bal(session_factory, demo, a) == (D(5), D("400.00"))
    assert _bal(session_factory, demo, b) == (D(4), D("500.00"))
    # Average now (400 + 500) / 9 = 100; 1 found in lot A goes to lot A (not the newest lot).
    gain = _count(session_factory, demo, actors["老孙"], 6, lot_id=a.lot_id)
    assert (gain.expected, gain.difference, gain.gain_value) == (D(5), D(1), D("100.00"))
    assert _bal(session_factory, demo, a) == (D(6), D("500.00"))
    assert_books_ok(session_factory, demo.org_id)


def test_a_lot_counted_to_zero_is_written_off_at_average_and_the_site_keeps_it(
        session_factory, demo, actors, priced_lots):
    a, b = priced_lots
    loss = _count(session_factory, demo, actors["老孙"], 0, lot_id=a.lot_id)
    # Lot A (5 kg, 400.00) is gone: the loss is 5 × the site average 100 = 500.00, not A's 400;
    # the −100.00 left on the empty lot A moves to lot B, so B's 5 kg stay at the average.
    assert (loss.expected, loss.difference, loss.loss_value) == (D(5), D(-5), D("500.00"))
    assert _bal(session_factory, demo, a) == (D(0), D(0))
    assert _bal(session_factory, demo, b) == (D(5), D("500.00"))
    assert voucher_lines(session_factory, loss.document_id) == [("1901", D("500.00"), D(0)),
                                                                ("1405", D(0), D("500.00"))]
    assert_books_ok(session_factory, demo.org_id)


def test_counted_zero_writes_off_everything(session_factory, demo, actors, priced_lots):
    a, b = priced_lots
    result = _count(session_factory, demo, actors["老孙"], 0)
    # Every lot empties and takes its whole value: 400.00 + 600.00.
    assert (result.expected, result.counted, result.difference) == (D(10), D(0), D(-10))
    assert result.loss_value == D("1000.00")
    assert _bal(session_factory, demo, a) == (D(0), D(0))
    assert _bal(session_factory, demo, b) == (D(0), D(0))
    assert_books_ok(session_factory, demo.org_id)


def test_count_matching_the_books_posts_no_voucher(session_factory, demo, actors, priced_lots):
    result = _count(session_factory, demo, actors["老孙"], 10)
    assert result.difference == D(0) and result.voucher_number is None
    assert voucher_lines(session_factory, result.document_id) == []
    with session_factory() as s:
        assert s.scalars(select(StockMove).where(StockMove.document_id == result.document_id)).all() == []
    assert_books_ok(session_factory, demo.org_id)


def test_gain_with_no_lots_is_refused_but_an_empty_count_is_fine(session_factory, demo, actors):
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(ValidationError):
        _count(session_factory, demo, actors["老孙"], 3)
    assert row_counts(session_factory, demo.org_id) == before
    empty = _count(session_factory, demo, actors["老孙"], 0)
    assert (empty.expected, empty.difference, empty.voucher_number) == (D(0), D(0), None)
    assert_books_ok(session_factory, demo.org_id)


def test_gain_after_stock_ran_out_is_valued_at_the_last_receipt_cost(session_factory, demo, actors):
    lot = receive(session_factory, demo, 5)  # at 80
    ship(session_factory, demo, 5)
    result = _count(session_factory, demo, actors["老孙"], 1)
    assert (result.expected, result.gain_value) == (D(0), D("80.00"))
    assert _bal(session_factory, demo, lot) == (D(1), D("80.00"))
    assert_books_ok(session_factory, demo.org_id)


def test_lot_not_at_the_site_is_refused(session_factory, demo, actors, priced_lots):
    elsewhere = receive(session_factory, demo, 2, site="MD")
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(ValidationError):
        _count(session_factory, demo, actors["老孙"], 1, lot_id=elsewhere.lot_id)
    assert row_counts(session_factory, demo.org_id) == before


def test_negative_count_and_foreign_site_are_refused(session_factory, demo, actors, priced_lots):
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(ValidationError):  # InvalidQuantity is a ValidationError
        _count(session_factory, demo, actors["老孙"], -1)
    with pytest.raises(PermissionDenied):
        _count(session_factory, demo, actors["小周"], 9)  # 小周 counts only at 绍兴
    assert row_counts(session_factory, demo.org_id) == before


def test_a_count_or_shipment_dated_in_a_closed_month_is_refused_and_writes_nothing(session_factory, demo, actors):
    """The lean postings check the period against their own snapshot, before any number is taken."""
    from datetime import datetime

    from models.actor import Actor
    from models.errors import PeriodClosed
    from models.operations.closing import ClosePeriod, close_period
    from models.timeutil import SHANGHAI

    def at(day: int) -> datetime:
        return datetime(2026, 11, day, 10, tzinfo=SHANGHAI)

    receive(session_factory, demo, 10, business_time=at(3))
    run(session_factory, close_period, actors["吴会计"], ClosePeriod("202611"))
    counts = row_counts(session_factory, demo.org_id)
    with pytest.raises(PeriodClosed, match="2026年11月已结账"):
        run(session_factory, count_stock, Actor.system_actor(demo.org_id), CountStock(
            demo.sites["ZC"], demo.items["茶青"], D(7), business_time=at(20)))  # back-dated: system
    with pytest.raises(PeriodClosed, match="2026年11月已结账"):
        ship(session_factory, demo, 1, unit_price=100, business_time=at(20))
    assert row_counts(session_factory, demo.org_id) == counts
