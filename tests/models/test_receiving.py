"""receive_goods: farmer deliveries (grade price, prepayment) and supplier receipts against orders."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from models.base import utcnow
from models.demo import seed_demo
from models.documents import DocKind, DocStatus, Document
from models.errors import (
    InvalidQuantity,
    NotFound,
    PermissionDenied,
    StockFrozen,
    UnknownUnit,
    ValidationError,
)
from models.finance import FarmerSettlement, MappingRule, SettlementStatus, Voucher
from models.infra import OutboxEvent
from models.operations import (
    CreateOrder,
    FreezeStock,
    OrderLineIn,
    ReceiveGoods,
    create_order,
    freeze_stock,
    receive_goods,
)
from models.org import Site, SiteKind
from models.stock import Balance, FreezeDirection, Lot, QcStatus, StockMove
from models.timeutil import local_date
from models.uow import run
from tests.factories import assert_books_ok, receive, row_counts, voucher_lines


def _cmd(demo, quantity, unit=None, *, site="SX", item="茶青", party="王阿姨", grade="一级", **fields):
    return ReceiveGoods(
        site_id=demo.sites[site], item_id=demo.items[item], quantity=D(quantity), unit=unit,
        party_id=demo.parties[party] if party else None, grade_id=demo.grades[grade] if grade else None,
        **fields,
    )


def _refused(session_factory, demo, actor, cmd, error):
    """Assert the receipt is refused with ``error`` and writes nothing at all."""
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(error) as exc:
        run(session_factory, receive_goods, actor, cmd)
    assert row_counts(session_factory, demo.org_id) == before
    return exc.value


# --- a farmer's delivery -----------------------------------------------------------------------

def test_farmer_delivery_writes_lot_move_balance_voucher_settlement_and_event(session_factory, demo, actors):
    # 23.5 斤 = 11.75 公斤; 一级 80 元/公斤 → 11.75 × 80 = 940.00; prepayment 70 % = 658.00, balance 282.00.
    when = datetime(2025, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    # A date this old is past the 7-day window: only someone who may backdate (the director) enters it.
    receipt = run(session_factory, receive_goods, actors["钱总监"], _cmd(demo, "23.5", "斤", business_time=when))

    assert (receipt.quantity, receipt.base_unit) == (D("11.75"), "公斤")
    assert (receipt.entered_quantity, receipt.entered_unit, receipt.grade) == (D("23.5"), "斤", "一级")
    assert receipt.unit_price == D(80)
    assert (receipt.amount, receipt.tax, receipt.total) == (D("940.00"), D(0), D("940.00"))
    assert (receipt.prepayment, receipt.balance_after_qc) == (D("658.00"), D("282.00"))
    assert receipt.number == "RK-SX-20251123-0001"
    assert receipt.lot_code == "SX-20251123-0001"
    assert receipt.voucher_number is not None and receipt.voucher_number.startswith("记-202511-")

    with session_factory() as s:
        doc = s.get_one(Document, receipt.document_id)
        assert (doc.kind, doc.status, doc.site_id) == (DocKind.RECEIPT, DocStatus.POSTED, demo.sites["SX"])
        assert (doc.party_id, doc.total_amount, doc.tax_amount) == (demo.parties["王阿姨"], D("940.00"), D(0))
        [line] = doc.lines
        assert (line.quantity, line.entered_quantity, line.entered_unit) == (D("11.75"), D("23.5"), "斤")
        assert (line.unit_price, line.amount, line.lot_id) == (D(80), D("940.00"), receipt.lot_id)
        assert line.grade_id == demo.grades["一级"]

        lot = s.get_one(Lot, receipt.lot_id)
        assert lot.code == receipt.lot_code and lot.item_id == demo.items["茶青"]
        assert lot.received_on == date(2025, 11, 23)
        assert lot.expires_on == date(2025, 11, 26)  # 茶青 keeps 3 days
        assert (lot.origin_party_id, lot.grade_id) == (demo.parties["王阿姨"], demo.grades["一级"])
        assert lot.qc_status == QcStatus.PENDING

        [move] = s.scalars(select(StockMove).where(StockMove.document_id == doc.id)).all()
        assert (move.quantity, move.unit_cost, move.value) == (D("11.75"), D(80), D("940.00"))
        assert (move.site_id, move.lot_id, move.business_time) == (demo.sites["SX"], lot.id, when)

        bal = s.scalars(select(Balance).where(Balance.lot_id == lot.id)).one()
        assert (bal.site_id, bal.on_hand, bal.reserved, bal.value) == (demo.sites["SX"], D("11.75"), D(0), D("940.00"))

        voucher = s.scalars(select(Voucher).where(Voucher.document_id == doc.id)).one()
        assert voucher.number == receipt.voucher_number and voucher.event == "receipt.posted"
        assert s.get_one(MappingRule, voucher.mapping_rule_id).condition == {"party_kind": "farmer"}
        assert all(ln.party_id == demo.parties["王阿姨"] for ln in voucher.lines)

        settlement = s.scalars(select(FarmerSettlement).where(FarmerSettlement.receipt_id == doc.id)).one()
        assert (settlement.party_id, settlement.lot_id) == (demo.parties["王阿姨"], lot.id)
        assert (settlement.total, settlement.prepayment, settlement.balance) == (D("940.00"), D("658.00"), D("282.00"))
        assert settlement.status == SettlementStatus.PREPAYMENT_DUE

        [event] = s.scalars(select(OutboxEvent).where(OutboxEvent.document_id == doc.id)).all()
        assert event.kind == "receipt.posted" and event.dispatched_at is None
        assert event.payload == {
            "document_id": doc.id, "number": "RK-SX-20251123-0001", "site_id": demo.sites["SX"],
            "item_id": demo.items["茶青"], "lot_id": lot.id, "quantity": "11.75", "amount": "940",
            "party_id": demo.parties["王阿姨"], "party_kind": "farmer", "prepayment": "658",
        }
    # Farmer rule: Dr 1405 库存商品 / Cr 2202 应付账款, the goods value, no tax line.
    assert voucher_lines(session_factory, receipt.document_id) == [
        ("1405", D("940.00"), D(0)), ("2202", D(0), D("940.00")),
    ]
    assert_books_ok(session_factory, demo.org_id)


def test_default_business_time_is_now_and_lot_expires_after_shelf_life(session_factory, demo, actors):
    before = utcnow()
    receipt = run(session_factory, receive_goods, actors["小周"], _cmd(demo, 10, "公斤", grade="特级"))
    assert before <= receipt.business_time <= utcnow()
    today = local_date(receipt.business_time)
    assert receipt.number == f"RK-SX-{today:%Y%m%d}-0001"
    with session_factory() as s:
        lot = s.get_one(Lot, receipt.lot_id)
    assert (lot.received_on, lot.expires_on) == (today, today + timedelta(days=3))
    assert receipt.total == D("1200.00")  # 10 × 特级 120
    assert receipt.prepayment == D("840.00")  # 1200 × 0.7


def test_numbers_count_up_per_site_and_day(session_factory, demo, actors):
    when = datetime(2025, 11, 23, 2, 0, tzinfo=UTC)
    numbers = [run(session_factory, receive_goods, actors["钱总监"],
                   _cmd(demo, 1, site=site, business_time=when)).number for site in ("SX", "SX", "ZC")]
    assert numbers == ["RK-SX-20251123-0001", "RK-SX-20251123-0002", "RK-ZC-20251123-0001"]
    assert_books_ok(session_factory, demo.org_id)


@pytest.mark.parametrize(
    ("quantity", "unit", "kg", "amount"),
    [
        ("23.5", "斤", "11.75", "940.00"),  # 11.75 × 80
        ("3", "两", "0.15", "12.00"),  # 3 × 0.05 kg × 80
        ("2.5", "公斤", "2.5", "200.00"),
        ("2.5", "千克", "2.5", "200.00"),
        ("0.002", "吨", "2", "160.00"),  # 2 kg × 80
        ("500", "克", "0.5", "40.00"),
        ("4", None, "4", "320.00"),
    ],
)
def test_units_are_converted_before_pricing(session_factory, demo, actors, quantity, unit, kg, amount):
    receipt = run(session_factory, receive_goods, actors["小周"], _cmd(demo, quantity, unit))
    assert receipt.quantity == D(kg) and receipt.amount == D(amount)
    assert receipt.entered_unit == (unit or "公斤")
    with session_factory() as s:
        move = s.scalars(select(StockMove).where(StockMove.document_id == receipt.document_id)).one()
    assert move.quantity == D(kg) and move.value == D(amount)
    assert_books_ok(session_factory, demo.org_id)


def test_pack_units_of_longjing_are_twenty_jars_a_case(session_factory, demo, actors):
    # 3 箱 × 20 = 60 罐 at 30 元/罐 = 1800.00 from a supplier: the generic purchase rule, no tax line.
    receipt = run(session_factory, receive_goods, actors["赵经理"], _cmd(
        demo, 3, "箱", site="ZC", item="龙井", party="包装厂", grade=None, unit_price=D(30), price_reason="合同价"))
    assert (receipt.quantity, receipt.base_unit, receipt.entered_unit) == (D(60), "罐", "箱")
    assert receipt.total == D("1800.00") and receipt.prepayment == D(0)
    with session_factory() as s:
        lot = s.get_one(Lot, receipt.lot_id)
        assert lot.expires_on == lot.received_on + timedelta(days=540)
        assert s.scalar(select(FarmerSettlement).where(FarmerSettlement.receipt_id == receipt.document_id)) is None
    assert voucher_lines(session_factory, receipt.document_id) == [
        ("1405", D("1800.00"), D(0)), ("2202", D(0), D("1800.00")),
    ]
    assert_books_ok(session_factory, demo.org_id)


def test_farmer_without_grade_may_be_priced_by_someone_with_the_price_permission(session_factory, demo, actors):
    _refused(session_factory, demo, actors["小周"], _cmd(demo, 2, "公斤", grade=None, unit_price=D("65.5")),
             PermissionDenied)  # a clerk does not set prices
    receipt = run(session_factory, receive_goods, actors["赵经理"],
                  _cmd(demo, 2, "公斤", grade=None, unit_price=D("65.5"), price_reason="未分级，按质论价"))
    assert receipt.grade is None and receipt.total == D("131.00")  # 2 × 65.5
    assert receipt.prepayment == D("91.70")  # 131 × 0.7
    assert_books_ok(session_factory, demo.org_id)


def test_zero_price_delivery_posts_no_voucher_and_owes_nothing(session_factory, demo, actors):
    receipt = run(session_factory, receive_goods, actors["老孙"], _cmd(
        demo, 5, site="ZC", item="龙井", party=None, grade=None))
    assert receipt.total == D(0) and receipt.voucher_number is None
    assert voucher_lines(session_factory, receipt.document_id) == []
    with session_factory() as s:
        assert s.scalars(select(Balance).where(Balance.lot_id == receipt.lot_id)).one().on_hand == D(5)
    assert_books_ok(session_factory, demo.org_id)


def test_existing_lot_code_adds_to_that_lot(session_factory, demo, actors):
    first = run(session_factory, receive_goods, actors["小周"], _cmd(demo, 2, lot_code="L-0601"))
    second = run(session_factory, receive_goods, actors["小周"], _cmd(demo, 3, lot_code="L-0601"))
    assert first.lot_id == second.lot_id and second.lot_code == "L-0601"
    assert first.document_id != second.document_id
    with session_factory() as s:
        bal = s.scalars(select(Balance).where(Balance.lot_id == first.lot_id)).one()
    assert (bal.on_hand, bal.value) == (D(5), D("400.00"))  # (2 + 3) × 80
    assert_books_ok(session_factory, demo.org_id)


# --- refused: nothing written ------------------------------------------------------------------

def test_unknown_unit_is_refused_and_writes_nothing(session_factory, demo, actors):
    err = _refused(session_factory, demo, actors["小周"], _cmd(demo, 3, "筐"), UnknownUnit)
    assert err.details["unit"] == "筐" and "斤" in err.details["known"]


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [("0", "斤"), ("-3", "斤"), ("-0.001", None), ("2000", "吨"), ("1000001", None), ("NaN", None)],
)
def test_zero_negative_or_absurd_quantity_is_refused(session_factory, demo, actors, quantity, unit):
    _refused(session_factory, demo, actors["小周"], _cmd(demo, quantity, unit), InvalidQuantity)


def test_grade_of_another_item_is_refused(session_factory, demo, actors):
    # 一级 is a grade of 茶青, not of 龙井.
    err = _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, item="龙井"), ValidationError)
    assert err.details["field"] == "grade_id"


def test_farmer_delivery_of_graded_item_needs_a_grade(session_factory, demo, actors):
    err = _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, grade=None), ValidationError)
    assert err.details["field"] == "grade_id"


def test_customer_cannot_deliver(session_factory, demo, actors):
    err = _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, party="杭州茶城"), ValidationError)
    assert err.details["field"] == "party_id"


def test_negative_price_and_bad_tax_rate_are_refused(session_factory, demo, actors):
    _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, unit_price=D(-1)), ValidationError)
    _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, tax_rate=D(1)), ValidationError)
    _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, tax_rate=D("-0.01")), ValidationError)


def test_in_transit_site_cannot_receive(session_factory, demo, actors):
    with session_factory() as s:  # transfers create these; here we only need one to exist
        transit = Site(org_id=demo.org_id, code="ZT-SX-ZC", name="在途 绍兴→总仓", kind=SiteKind.IN_TRANSIT,
                       route_from_id=demo.sites["SX"], route_to_id=demo.sites["ZC"])
        s.add(transit)
        s.commit()
        transit_id = transit.id
    cmd = ReceiveGoods(site_id=transit_id, item_id=demo.items["茶青"], quantity=D(1),
                       party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"])
    _refused(session_factory, demo, actors["赵经理"], cmd, ValidationError)


def test_another_orgs_site_item_grade_or_party_is_not_found(session_factory, demo, actors):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    mine = _cmd(demo, 1)
    for field, value in (("site_id", other.sites["SX"]), ("item_id", other.items["茶青"]),
                         ("grade_id", other.grades["一级"]), ("party_id", other.parties["王阿姨"])):
        cmd = replace(mine, **{field: value})
        _refused(session_factory, demo, actors["赵经理"], cmd, NotFound)
    assert row_counts(session_factory, other.org_id)["stock_moves"] == 0


def test_clerk_of_one_site_cannot_receive_at_another(session_factory, demo, actors):
    _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, site="ZC"), PermissionDenied)
    _refused(session_factory, demo, actors["王阿姨"], _cmd(demo, 1), PermissionDenied)  # farmers only deliver


def test_inbound_freeze_stops_receipts_at_that_site_only(session_factory, demo, actors):
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.INBOUND, "收购点消毒", site_id=demo.sites["SX"]))
    _refused(session_factory, demo, actors["小周"], _cmd(demo, 1), StockFrozen)
    run(session_factory, receive_goods, actors["老孙"], _cmd(demo, 1, site="ZC"))  # another site is open
    assert_books_ok(session_factory, demo.org_id)


def test_outbound_freeze_does_not_stop_receipts_but_an_org_wide_one_does(session_factory, demo, actors):
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.OUTBOUND, "待检", site_id=demo.sites["SX"]))
    run(session_factory, receive_goods, actors["小周"], _cmd(demo, 1))
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.BOTH, "全社停收"))
    _refused(session_factory, demo, actors["老孙"], _cmd(demo, 1, site="ZC"), StockFrozen)


def test_inbound_freeze_on_a_lot_stops_adding_to_that_lot(session_factory, demo, actors):
    first = run(session_factory, receive_goods, actors["小周"], _cmd(demo, 1, lot_code="L-7"))
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.INBOUND, "批次封存", lot_id=first.lot_id))
    _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, lot_code="L-7"), StockFrozen)
    run(session_factory, receive_goods, actors["小周"], _cmd(demo, 1, lot_code="L-8"))
    assert_books_ok(session_factory, demo.org_id)


# --- time, offline entries ---------------------------------------------------------------------

def test_future_business_time_is_refused(session_factory, demo, actors):
    later = utcnow() + timedelta(hours=1)
    _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, business_time=later), ValidationError)
    naive = datetime(2025, 11, 23, 10, 0)  # no zone: ambiguous, refused
    _refused(session_factory, demo, actors["小周"], _cmd(demo, 1, business_time=naive), ValidationError)


def test_past_business_time_is_accepted_and_dated_in_shanghai(session_factory, demo, actors):
    # 2025-02-28 16:30 UTC is already 2025-03-01 00:30 in Shanghai: date, number, lot and
    # voucher period follow Shanghai, not UTC.
    when = datetime(2025, 2, 28, 16, 30, tzinfo=UTC)
    receipt = run(session_factory, receive_goods, actors["钱总监"],
                  _cmd(demo, 2, business_time=when, origin_node="phone"))
    assert receipt.business_time == when
    assert receipt.number == "RK-SX-20250301-0001"
    assert receipt.voucher_number is not None and receipt.voucher_number.startswith("记-202503-")
    with session_factory() as s:
        lot = s.get_one(Lot, receipt.lot_id)
        assert (lot.received_on, lot.expires_on) == (date(2025, 3, 1), date(2025, 3, 4))
        move = s.scalars(select(StockMove).where(StockMove.document_id == receipt.document_id)).one()
        assert move.business_time == when and move.recorded_at > when and move.origin_node == "phone"
        voucher = s.scalars(select(Voucher).where(Voucher.document_id == receipt.document_id)).one()
        assert (voucher.period, voucher.voucher_date) == ("202503", date(2025, 3, 1))
    assert_books_ok(session_factory, demo.org_id)


def test_client_supplied_move_id_is_kept(session_factory, demo, actors):
    move_id = uuid.uuid4()
    receipt = run(session_factory, receive_goods, actors["小周"], _cmd(demo, 2, move_id=move_id, origin_node="edge-3"))
    with session_factory() as s:
        move = s.get_one(StockMove, move_id)
        assert (move.document_id, move.origin_node, move.quantity) == (receipt.document_id, "edge-3", D(2))


def test_idempotency_key_replays_the_first_receipt(session_factory, demo, actors):
    cmd = _cmd(demo, "23.5", "斤")
    first = run(session_factory, receive_goods, actors["小周"], cmd, idempotency_key="k-1")
    counts = row_counts(session_factory, demo.org_id)
    again = run(session_factory, receive_goods, actors["小周"], _cmd(demo, "23.50", "斤"), idempotency_key="k-1")
    assert again == first
    assert row_counts(session_factory, demo.org_id) == counts


# --- supplier receipts against a purchase order ------------------------------------------------

def _purchase_order(session_factory, demo, actors, quantity=100, price=30):
    return run(session_factory, create_order, actors["赵经理"], CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["包装厂"],
        (OrderLineIn(demo.items["龙井"], D(quantity), unit_price=D(price)),)))


def _po_receipt(demo, order_id, quantity, unit=None, **fields):
    return _cmd(demo, quantity, unit, site="ZC", item="龙井", party="包装厂", grade=None,
                purchase_order_id=order_id, **fields)


def test_supplier_receipt_against_purchase_order_with_tax(session_factory, demo, actors):
    order = _purchase_order(session_factory, demo, actors)  # 100 罐 × 30 = 3000.00
    assert (order.kind, order.status, order.total) == ("purchase_order", "confirmed", D("3000.00"))

    # 3 箱 = 60 罐 at the order's 30 → goods 1800.00; 13 % tax = 234.00; total 2034.00.
    first = run(session_factory, receive_goods, actors["老孙"],
                _po_receipt(demo, order.document_id, 3, "箱", tax_rate=D("0.13")))
    assert (first.unit_price, first.amount, first.tax, first.total) == (D(30), D("1800.00"), D("234.00"), D("2034.00"))
    assert first.prepayment == D(0)
    assert voucher_lines(session_factory, first.document_id) == [
        ("1405", D("1800.00"), D(0)), ("222101", D("234.00"), D(0)), ("2202", D(0), D("2034.00")),
    ]
    with session_factory() as s:
        po = s.get_one(Document, order.document_id)
        assert po.status == DocStatus.PARTIAL and po.lines[0].done_quantity == D(60)
        doc = s.get_one(Document, first.document_id)
        assert doc.source_document_id == order.document_id and doc.tax_amount == D("234.00")
        assert doc.total_amount == D("2034.00")

    # The remaining 40 罐: goods 1200.00, tax 156.00, total 1356.00; the order is done.
    second = run(session_factory, receive_goods, actors["老孙"],
                 _po_receipt(demo, order.document_id, 40, tax_rate=D("0.13")))
    assert (second.amount, second.tax, second.total) == (D("1200.00"), D("156.00"), D("1356.00"))
    with session_factory() as s:
        po = s.get_one(Document, order.document_id)
        assert po.status == DocStatus.DONE and po.lines[0].done_quantity == D(100)
    assert_books_ok(session_factory, demo.org_id)

    # A done order takes no more receipts.
    _refused(session_factory, demo, actors["老孙"], _po_receipt(demo, order.document_id, 1), ValidationError)


def test_tax_is_rounded_to_the_fen_half_up(session_factory, demo, actors):
    # 3 kg × 33.33 = 99.99; 9 % of it is 8.9991 → 9.00; payable 108.99. No order, no grade: a supplier.
    receipt = run(session_factory, receive_goods, actors["赵经理"], _cmd(
        demo, 3, site="ZC", party="包装厂", grade=None, unit_price=D("33.33"), tax_rate=D("0.09"),
        price_reason="合同价"))
    assert (receipt.amount, receipt.tax, receipt.total) == (D("99.99"), D("9.00"), D("108.99"))
    assert voucher_lines(session_factory, receipt.document_id) == [
        ("1405", D("99.99"), D(0)), ("222101", D("9.00"), D(0)), ("2202", D(0), D("108.99")),
    ]
    assert_books_ok(session_factory, demo.org_id)


def test_receipt_against_purchase_order_owes_the_orders_supplier(session_factory, demo, actors):
    order = _purchase_order(session_factory, demo, actors)
    # No supplier named on the receipt: the payable still belongs to the order's 包装厂.
    receipt = run(session_factory, receive_goods, actors["老孙"],
                  _cmd(demo, 10, site="ZC", item="龙井", party=None, grade=None, purchase_order_id=order.document_id))
    assert receipt.party_id == demo.parties["包装厂"] and receipt.total == D("300.00")  # 10 × 30
    with session_factory() as s:
        voucher = s.scalars(select(Voucher).where(Voucher.document_id == receipt.document_id)).one()
        assert {ln.party_id for ln in voucher.lines} == {demo.parties["包装厂"]}
        assert voucher.facts["party_kind"] == "supplier"
    assert_books_ok(session_factory, demo.org_id)


def test_receipt_of_item_not_in_purchase_order_is_refused(session_factory, demo, actors):
    order = _purchase_order(session_factory, demo, actors)
    cmd = _cmd(demo, 5, site="ZC", party="包装厂", grade=None, purchase_order_id=order.document_id)  # 茶青
    err = _refused(session_factory, demo, actors["老孙"], cmd, ValidationError)
    assert err.details["field"] == "item_id"
    with session_factory() as s:
        po = s.get_one(Document, order.document_id)
        assert po.status == DocStatus.CONFIRMED and po.lines[0].done_quantity == D(0)


def test_receipt_from_another_party_or_against_a_sales_order_is_refused(session_factory, demo, actors):
    order = _purchase_order(session_factory, demo, actors)
    cmd = _cmd(demo, 5, site="ZC", item="龙井", party="李大伯", grade=None, purchase_order_id=order.document_id)
    assert _refused(session_factory, demo, actors["老孙"], cmd, ValidationError).details["field"] == "party_id"

    receive(session_factory, demo, 10, item="龙井", party=None, grade=None)
    sales = run(session_factory, create_order, actors["赵经理"], CreateOrder(
        DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"], (OrderLineIn(demo.items["龙井"], D(2)),)))
    bad = _po_receipt(demo, sales.document_id, 1)
    assert _refused(session_factory, demo, actors["老孙"], bad, ValidationError).details["field"] == "purchase_order_id"
