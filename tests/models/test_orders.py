"""Sales and purchase orders: a sales order reserves stock lot by lot; shipping consumes it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.actor import Actor
from models.documents import DocKind, DocStatus, Document
from models.errors import InsufficientStock, InvalidState, PermissionDenied, StockFrozen, ValidationError
from models.finance import Voucher
from models.infra import OutboxEvent
from models.operations import (
    CancelOrder,
    CreateOrder,
    CreateParty,
    FreezeStock,
    OrderLineIn,
    cancel_order,
    create_order,
    create_party,
    freeze_stock,
)
from models.org import PartyKind
from models.queries import stock_level
from models.stock import FreezeDirection, Reservation
from models.uow import run
from tests.factories import assert_books_ok, lot_balance, receive, row_counts, ship

EARLY, LATE = date(2099, 1, 5), date(2099, 1, 10)


def _sales_order(session_factory, demo, actor, quantity, *, site="ZC", party="杭州茶城", price=100, unit=None):
    return run(session_factory, create_order, actor, CreateOrder(
        DocKind.SALES_ORDER, demo.sites[site], demo.parties[party],
        (OrderLineIn(demo.items["茶青"], D(quantity), unit=unit, unit_price=D(price)),)))


def _reserved(session_factory, demo, receipt, site="ZC"):
    return lot_balance(session_factory, receipt.lot_id, demo.sites[site]).reserved


def _reservations(session_factory, document_id):
    with session_factory() as s:
        rows = s.scalars(select(Reservation).where(Reservation.document_id == document_id)
                         .order_by(Reservation.lot_id)).all()
        return [(r.lot_id, r.quantity, r.active) for r in rows]


def _status(session_factory, document_id):
    with session_factory() as s:
        doc = s.get_one(Document, document_id)
        return doc.status, doc.lines[0].done_quantity


def _available(session_factory, demo, site="ZC"):
    with session_factory() as s:
        return stock_level(s, demo.org_id, demo.items["茶青"], demo.sites[site]).available


@pytest.fixture
def two_lots(session_factory, demo):
    """Lot A: 5 kg expiring first; lot B: 10 kg; both 一级 at 80 at 总仓."""
    return receive(session_factory, demo, 5, expires_on=EARLY), receive(session_factory, demo, 10, expires_on=LATE)


def test_sales_order_reserves_first_expiry_first(session_factory, demo, actors, two_lots):
    a, b = two_lots
    order = _sales_order(session_factory, demo, actors["赵经理"], 7)  # 7 × 100 = 700.00
    assert (order.kind, order.status, order.status_label) == ("sales_order", "confirmed", "已确认")
    assert (order.total, order.reserved) == (D("700.00"), D(7))
    assert order.number.startswith("XS-ZC-")
    # All 5 of lot A, then 2 of lot B.
    assert (_reserved(session_factory, demo, a), _reserved(session_factory, demo, b)) == (D(5), D(2))
    assert _reservations(session_factory, order.document_id) == [(a.lot_id, D(5), True), (b.lot_id, D(2), True)]
    assert _available(session_factory, demo) == D(8)  # 15 on hand − 7 reserved
    with session_factory() as s:
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.document_id == order.document_id)).one()
    assert event.kind == "sales_order.confirmed" and event.payload["total"] == "700.00"
    assert_books_ok(session_factory, demo.org_id)


def test_order_quantity_in_other_units_is_converted(session_factory, demo, actors, two_lots):
    order = _sales_order(session_factory, demo, actors["赵经理"], 6, unit="斤")  # 3 kg
    assert (order.reserved, order.total) == (D(3), D("300.00"))


def test_reserved_stock_is_not_available_to_other_shipments(session_factory, demo, actors, two_lots):
    a, b = two_lots
    _sales_order(session_factory, demo, actors["赵经理"], 7)
    # 8 are free; 9 is too many even though 15 are on the shelf.
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(InsufficientStock) as exc:
        ship(session_factory, demo, 9, actor=actors["老孙"])
    assert exc.value.details["available"] == "8"
    assert row_counts(session_factory, demo.org_id) == before
    # The free 8 ship from lot B (lot A is all promised) and leave the promise intact.
    shipment = ship(session_factory, demo, 8, actor=actors["老孙"])
    assert [(p.lot_id, p.quantity) for p in shipment.picks] == [(b.lot_id, D(8))]
    assert (_reserved(session_factory, demo, a), _reserved(session_factory, demo, b)) == (D(5), D(2))
    assert _available(session_factory, demo) == D(0)
    # A second order cannot promise what is already promised.
    with pytest.raises(InsufficientStock):
        _sales_order(session_factory, demo, actors["赵经理"], 1)
    assert_books_ok(session_factory, demo.org_id)


def test_shipping_against_the_order_consumes_its_reservation(session_factory, demo, actors, two_lots):
    a, b = two_lots
    order = _sales_order(session_factory, demo, actors["赵经理"], 7)

    first = ship(session_factory, demo, 3, actor=actors["老孙"], sales_order_id=order.document_id)
    assert [(p.lot_id, p.quantity) for p in first.picks] == [(a.lot_id, D(3))]
    assert _status(session_factory, order.document_id) == (DocStatus.PARTIAL, D(3))
    # 3 of lot A's 5 reserved are used: 2 + 2 remain promised.
    assert (_reserved(session_factory, demo, a), _reserved(session_factory, demo, b)) == (D(2), D(2))
    assert _reservations(session_factory, order.document_id) == [(a.lot_id, D(2), True), (b.lot_id, D(2), True)]
    assert _available(session_factory, demo) == D(8)  # 12 on hand − 4 reserved
    with session_factory() as s:
        assert s.get_one(Document, first.document_id).source_document_id == order.document_id

    second = ship(session_factory, demo, 4, actor=actors["老孙"], sales_order_id=order.document_id)
    assert [(p.lot_id, p.quantity) for p in second.picks] == [(a.lot_id, D(2)), (b.lot_id, D(2))]
    assert _status(session_factory, order.document_id) == (DocStatus.DONE, D(7))
    assert (_reserved(session_factory, demo, a), _reserved(session_factory, demo, b)) == (D(0), D(0))
    assert _reservations(session_factory, order.document_id) == [(a.lot_id, D(0), False), (b.lot_id, D(0), False)]
    assert _available(session_factory, demo) == D(8)
    assert_books_ok(session_factory, demo.org_id)

    # A done order ships no more.
    with pytest.raises(ValidationError):
        ship(session_factory, demo, 1, actor=actors["老孙"], sales_order_id=order.document_id)


def test_shipment_against_the_order_defaults_to_its_customer_and_price(session_factory, demo, actors, two_lots):
    order = _sales_order(session_factory, demo, actors["赵经理"], 4, price=95)
    # Neither customer nor price given: the order's 杭州茶城 at the agreed 95 → 3 × 95 = 285.00;
    # cost 3 × 80 = 240.00. (茶青 has no list price, so without the order it would sell at 0.)
    shipment = ship(session_factory, demo, 3, actor=actors["老孙"], party=None, unit_price=None,
                    sales_order_id=order.document_id)
    assert (shipment.revenue, shipment.cost) == (D("285.00"), D("240.00"))
    with session_factory() as s:
        assert s.get_one(Document, shipment.document_id).party_id == demo.parties["杭州茶城"]
        voucher = s.scalars(select(Voucher).where(Voucher.document_id == shipment.document_id)).one()
        assert {ln.party_id for ln in voucher.lines} == {demo.parties["杭州茶城"]}
    # Another price may not be given (the order's margin check judged 95); the agreed one may.
    with pytest.raises(ValidationError, match="约定单价 95"):
        ship(session_factory, demo, 1, unit_price=90, sales_order_id=order.document_id)
    assert ship(session_factory, demo, 1, unit_price=95, sales_order_id=order.document_id).revenue == D("95.00")
    assert_books_ok(session_factory, demo.org_id)


def test_order_may_use_its_own_reservation_when_nothing_else_is_free(session_factory, demo, actors):
    a = receive(session_factory, demo, 5)
    order = _sales_order(session_factory, demo, actors["赵经理"], 5)
    with pytest.raises(InsufficientStock):
        ship(session_factory, demo, 1, actor=actors["老孙"])  # everything is promised
    shipment = ship(session_factory, demo, 5, actor=actors["老孙"], sales_order_id=order.document_id)
    assert [(p.lot_id, p.quantity) for p in shipment.picks] == [(a.lot_id, D(5))]
    assert lot_balance(session_factory, a.lot_id, demo.sites["ZC"]).on_hand == D(0)
    assert _reserved(session_factory, demo, a) == D(0)
    assert_books_ok(session_factory, demo.org_id)


def test_shipment_against_an_order_must_match_its_site_and_customer(session_factory, demo, actors, two_lots):
    order = _sales_order(session_factory, demo, actors["赵经理"], 2)
    receive(session_factory, demo, 5, site="MD")
    other_customer = run(session_factory, _new_customer, demo)
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(ValidationError):
        ship(session_factory, demo, 1, site="MD", sales_order_id=order.document_id)
    with pytest.raises(ValidationError):
        ship(session_factory, demo, 1, party=other_customer, sales_order_id=order.document_id)
    with pytest.raises(ValidationError):
        ship(session_factory, demo, 1, item="龙井", sales_order_id=order.document_id)
    assert row_counts(session_factory, demo.org_id) == before
    assert _status(session_factory, order.document_id) == (DocStatus.CONFIRMED, D(0))


def _new_customer(session, demo):
    demo.parties["西湖茶馆"] = create_party(session, Actor.system_actor(demo.org_id),
                                        CreateParty("C002", "西湖茶馆", PartyKind.CUSTOMER))
    return "西湖茶馆"


def test_cancel_order_releases_its_reservations(session_factory, demo, actors, two_lots):
    a, b = two_lots
    order = _sales_order(session_factory, demo, actors["赵经理"], 7)
    cancelled = run(session_factory, cancel_order, actors["赵经理"], CancelOrder(order.document_id, "客户取消"))
    assert (cancelled.status, cancelled.reserved) == ("cancelled", D(0))
    assert (_reserved(session_factory, demo, a), _reserved(session_factory, demo, b)) == (D(0), D(0))
    assert _reservations(session_factory, order.document_id) == [(a.lot_id, D(5), False), (b.lot_id, D(2), False)]
    assert _available(session_factory, demo) == D(15)
    with session_factory() as s:
        kinds = s.scalars(select(OutboxEvent.kind).where(OutboxEvent.document_id == order.document_id)).all()
    assert sorted(kinds) == ["sales_order.cancelled", "sales_order.confirmed"]
    ship(session_factory, demo, 15, actor=actors["老孙"])  # all of it is free again
    assert_books_ok(session_factory, demo.org_id)
    # Cancelled is final; a cancelled order ships nothing.
    with pytest.raises(InvalidState):
        run(session_factory, cancel_order, actors["赵经理"], CancelOrder(order.document_id))
    with pytest.raises(ValidationError):
        ship(session_factory, demo, 1, sales_order_id=order.document_id)


def test_order_with_deliveries_cannot_be_cancelled(session_factory, demo, actors, two_lots):
    a, _ = two_lots
    order = _sales_order(session_factory, demo, actors["赵经理"], 4)
    ship(session_factory, demo, 1, actor=actors["老孙"], sales_order_id=order.document_id)
    with pytest.raises(InvalidState):
        run(session_factory, cancel_order, actors["赵经理"], CancelOrder(order.document_id))
    assert _reserved(session_factory, demo, a) == D(3)
    assert_books_ok(session_factory, demo.org_id)


def test_sales_order_beyond_stock_is_refused_and_writes_nothing(session_factory, demo, actors, two_lots):
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(InsufficientStock) as exc:
        _sales_order(session_factory, demo, actors["赵经理"], "15.5")
    assert (exc.value.details["available"], exc.value.details["requested"]) == ("15", "15.5")
    assert row_counts(session_factory, demo.org_id) == before
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Reservation)
                        .where(Reservation.org_id == demo.org_id)) == 0
    assert _available(session_factory, demo) == D(15)


def test_sales_order_skips_frozen_stock(session_factory, demo, actors, two_lots):
    a, b = two_lots
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.OUTBOUND, "待复检", site_id=demo.sites["ZC"], lot_id=a.lot_id))
    order = _sales_order(session_factory, demo, actors["赵经理"], 6)
    assert _reservations(session_factory, order.document_id) == [(b.lot_id, D(6), True)]
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.OUTBOUND, "全部封存", site_id=demo.sites["ZC"]))
    with pytest.raises(StockFrozen):
        _sales_order(session_factory, demo, actors["赵经理"], 1)


def test_order_party_must_suit_the_order_kind(session_factory, demo, actors, two_lots):
    with pytest.raises(ValidationError):
        _sales_order(session_factory, demo, actors["赵经理"], 1, party="王阿姨")  # a farmer buys nothing here
    with pytest.raises(ValidationError):
        run(session_factory, create_order, actors["赵经理"], CreateOrder(
            DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
            (OrderLineIn(demo.items["龙井"], D(10)),)))
    with pytest.raises(ValidationError):  # one line per item
        run(session_factory, create_order, actors["赵经理"], CreateOrder(
            DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
            (OrderLineIn(demo.items["茶青"], D(1)), OrderLineIn(demo.items["茶青"], D(2)))))
    with pytest.raises(ValidationError):
        run(session_factory, create_order, actors["赵经理"], CreateOrder(
            DocKind.SHIPMENT, demo.sites["ZC"], demo.parties["杭州茶城"], (OrderLineIn(demo.items["茶青"], D(1)),)))


def test_order_permissions_follow_role_and_site(session_factory, demo, actors, two_lots):
    with pytest.raises(PermissionDenied):  # a storekeeper does not sell
        _sales_order(session_factory, demo, actors["老孙"], 1)
    with pytest.raises(PermissionDenied):  # a clerk sells only at his own site
        _sales_order(session_factory, demo, actors["小周"], 1)
    receive(session_factory, demo, 2, site="SX")
    order = _sales_order(session_factory, demo, actors["小周"], 1, site="SX")
    assert order.reserved == D(1)
    assert_books_ok(session_factory, demo.org_id)
