"""ship_goods: first-expiry-first-out over lots, moving-average cost, the sales voucher."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from models.actor import Actor
from models.base import utcnow
from models.catalog import Dimension
from models.documents import DocKind, DocStatus, Document
from models.errors import InsufficientStock, PermissionDenied, StockFrozen, ValidationError
from models.infra import OutboxEvent
from models.operations import (
    CreateItem,
    CreateSite,
    FreezeStock,
    RecordQc,
    ShipGoods,
    create_item,
    create_site,
    freeze_stock,
    record_qc,
    ship_goods,
)
from models.org import SiteKind
from models.queries import stock_level
from models.stock import FreezeDirection, StockMove
from models.uow import run
from tests.factories import assert_books_ok, lot_balance, receive, row_counts, ship, voucher_lines

EARLY, LATE = date(2099, 1, 5), date(2099, 1, 10)


def _balance(session_factory, demo, receipt, site="ZC"):
    bal = lot_balance(session_factory, receipt.lot_id, demo.sites[site])
    return bal.on_hand, bal.value


def _picks(shipment):
    return [(p.lot_id, p.quantity) for p in shipment.picks]


def _refused(session_factory, demo, fn, *args, error, **kwargs):
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(error) as exc:
        fn(session_factory, demo, *args, **kwargs)
    assert row_counts(session_factory, demo.org_id) == before
    return exc.value


def test_earliest_expiry_ships_first_even_if_received_later(session_factory, demo, actors):
    late = receive(session_factory, demo, 10, expires_on=LATE, business_time=utcnow() - timedelta(days=2))
    early = receive(session_factory, demo, 10, expires_on=EARLY)
    shipment = ship(session_factory, demo, 3, actor=actors["老孙"])
    assert _picks(shipment) == [(early.lot_id, D(3))]
    assert _balance(session_factory, demo, early) == (D(7), D("560.00"))  # 7 × 80
    assert _balance(session_factory, demo, late) == (D(10), D("800.00"))
    assert_books_ok(session_factory, demo.org_id)


def test_lots_with_an_expiry_ship_before_lots_without(session_factory, demo):
    system = Actor.system_actor(demo.org_id)
    demo.items["盒"] = run(session_factory, create_item, system, CreateItem(
        code="BOX", name="礼盒", base_unit="个", dimension=Dimension.COUNT))  # no shelf life
    undated = receive(session_factory, demo, 5, item="盒", party=None, grade=None, unit_price=D(20))
    dated = receive(session_factory, demo, 5, item="盒", party=None, grade=None, unit_price=D(20),
                    expires_on=LATE)
    undated_later = receive(session_factory, demo, 5, item="盒", party=None, grade=None, unit_price=D(20))
    shipment = ship(session_factory, demo, 8, item="盒", unit_price=30)
    # Dated first; among undated lots the earlier receipt (then the lower lot id) goes first.
    assert _picks(shipment) == [(dated.lot_id, D(5)), (undated.lot_id, D(3))]
    assert _balance(session_factory, demo, undated_later) == (D(5), D("100.00"))
    assert_books_ok(session_factory, demo.org_id)


def test_shipment_splits_across_lots_and_writes_one_line_per_lot(session_factory, demo, actors):
    a = receive(session_factory, demo, 5, expires_on=EARLY)
    b = receive(session_factory, demo, 10, expires_on=LATE)
    # 8 kg: all 5 of lot A, then 3 of lot B; all at 80, so cost = 8 × 80 = 640.00.
    shipment = ship(session_factory, demo, 8, actor=actors["老孙"], unit_price=D(100))
    assert _picks(shipment) == [(a.lot_id, D(5)), (b.lot_id, D(3))]
    assert shipment.cost == D("640.00") and shipment.revenue == D("800.00")
    assert _balance(session_factory, demo, a) == (D(0), D(0))
    assert _balance(session_factory, demo, b) == (D(7), D("560.00"))
    with session_factory() as s:
        doc = s.get_one(Document, shipment.document_id)
        assert (doc.kind, doc.status, doc.party_id) == (DocKind.SHIPMENT, DocStatus.POSTED, demo.parties["杭州茶城"])
        assert [(ln.lot_id, ln.quantity, ln.amount) for ln in doc.lines] == [
            (a.lot_id, D(5), D("500.00")), (b.lot_id, D(3), D("300.00")),
        ]
        moves = s.scalars(select(StockMove).where(StockMove.document_id == doc.id).order_by(StockMove.lot_id)).all()
        assert [(m.lot_id, m.quantity, m.value) for m in moves] == [
            (a.lot_id, D(-5), D("-400.00")), (b.lot_id, D(-3), D("-240.00")),
        ]
    assert_books_ok(session_factory, demo.org_id)


def test_explicit_lot_overrides_fefo_and_is_not_topped_up_from_others(session_factory, demo, actors):
    receive(session_factory, demo, 5, expires_on=EARLY)
    b = receive(session_factory, demo, 3, expires_on=LATE)
    shipment = ship(session_factory, demo, 2, actor=actors["老孙"], lot_id=b.lot_id)
    assert _picks(shipment) == [(b.lot_id, D(2))]
    # Only 1 left in lot B: the 5 in lot A do not make up the difference.
    err = _refused(session_factory, demo, ship, 2, lot_id=b.lot_id, error=InsufficientStock)
    assert (err.details["available"], err.details["requested"]) == ("1", "2")
    assert_books_ok(session_factory, demo.org_id)


def test_cost_is_the_moving_average_across_lots_not_the_lot_price(session_factory, demo, actors):
    a = receive(session_factory, demo, 10, grade="一级", expires_on=EARLY)  # 10 × 80 = 800
    receive(session_factory, demo, 10, grade="特级", expires_on=LATE)  # 10 × 120 = 1200
    # Average (800 + 1200) / 20 = 100; 4 kg from lot A cost 4 × 100 = 400.00 (its own price says 320).
    shipment = ship(session_factory, demo, 4, actor=actors["老孙"], unit_price=D(150))
    assert _picks(shipment) == [(a.lot_id, D(4))]
    assert shipment.cost == D("400.00")
    assert _balance(session_factory, demo, a) == (D(6), D("400.00"))
    with session_factory() as s:
        level = stock_level(s, demo.org_id, demo.items["茶青"], demo.sites["ZC"])
        move = s.scalars(select(StockMove).where(StockMove.document_id == shipment.document_id)).one()
    assert (level.on_hand, level.value) == (D(16), D("1600.00"))
    assert move.unit_cost == D(100)
    assert_books_ok(session_factory, demo.org_id)


def test_moving_average_is_rounded_to_the_fen_per_move(session_factory, demo):
    receive(session_factory, demo, 3, grade="一级", expires_on=EARLY)  # 3 × 80 = 240
    receive(session_factory, demo, 4, grade="二级", expires_on=LATE)  # 4 × 50 = 200
    # Average 440 / 7 = 62.857142857… → 62.857143 per kg; 2 kg → 125.714286 → 125.71.
    shipment = ship(session_factory, demo, 2)
    assert shipment.cost == D("125.71")
    with session_factory() as s:
        move = s.scalars(select(StockMove).where(StockMove.document_id == shipment.document_id)).one()
        level = stock_level(s, demo.org_id, demo.items["茶青"], demo.sites["ZC"])
    assert move.unit_cost == D("62.857143")
    assert level.value == D("314.29")  # 440.00 − 125.71
    assert_books_ok(session_factory, demo.org_id)


def test_average_is_recomputed_after_each_issue_and_no_value_is_stranded(session_factory, demo):
    # 3 kg at 3.333333 = 9.999999 → 10.00 in the books.
    lot = receive(session_factory, demo, 3, party="包装厂", grade=None, unit_price=D("3.333333"))
    assert lot.amount == D("10.00")
    costs = [ship(session_factory, demo, 1).cost for _ in range(3)]
    # 1 × (10.00 / 3 = 3.333333) → 3.33, leaving 6.67 for 2 kg; 1 × 3.335 → 3.34 (half up), leaving
    # 3.33 for the last kg, which empties the lot and takes exactly that.
    assert costs == [D("3.33"), D("3.34"), D("3.33")]
    assert sum(costs) == lot.amount
    assert _balance(session_factory, demo, lot) == (D(0), D(0))
    assert_books_ok(session_factory, demo.org_id)


def test_a_lot_that_empties_leaves_at_average_and_hands_its_remainder_on(session_factory, demo):
    a = receive(session_factory, demo, 3, party="包装厂", grade=None, unit_price=D("3.333333"),
                expires_on=EARLY)  # 9.999999 → 10.00
    b = receive(session_factory, demo, 1, party="包装厂", grade=None, unit_price=D("3.34"), expires_on=LATE)
    # Average (10.00 + 3.34) / 4 = 3.335: the 3 kg leave at 10.01 (the average, rounded), and the
    # −0.01 left on the emptied lot A moves to lot B, so nothing is stranded on an empty lot.
    first = ship(session_factory, demo, 3)
    assert _picks(first) == [(a.lot_id, D(3))]
    assert first.cost == D("10.01")
    assert _balance(session_factory, demo, a) == (D(0), D(0))
    assert _balance(session_factory, demo, b) == (D(1), D("3.33"))
    # The last unit empties the site and takes exactly what is left: 10.01 + 3.33 = 13.34 in all.
    assert ship(session_factory, demo, 1).cost == D("3.33")
    assert _balance(session_factory, demo, b) == (D(0), D(0))
    assert_books_ok(session_factory, demo.org_id)


def test_shipment_voucher_posts_receivable_revenue_tax_and_cost(session_factory, demo, actors):
    receive(session_factory, demo, 5)  # 5 × 80 = 400
    # 2 kg × 100 = 200.00 revenue, 13 % tax 26.00, receivable 226.00; cost 2 × 80 = 160.00.
    shipment = ship(session_factory, demo, 2, actor=actors["老孙"], unit_price=D(100), tax_rate=D("0.13"))
    assert (shipment.revenue, shipment.tax, shipment.total, shipment.cost) == (
        D("200.00"), D("26.00"), D("226.00"), D("160.00"))
    assert shipment.number.startswith("CK-ZC-") and shipment.voucher_number is not None
    assert voucher_lines(session_factory, shipment.document_id) == [
        ("1122", D("226.00"), D(0)), ("6001", D(0), D("200.00")), ("222102", D(0), D("26.00")),
        ("6401", D("160.00"), D(0)), ("1405", D(0), D("160.00")),
    ]
    with session_factory() as s:
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.document_id == shipment.document_id)).one()
    assert event.kind == "shipment.posted"
    assert event.payload["quantity"] == "2" and event.payload["amount"] == "226" and event.payload["cost"] == "160"
    assert event.payload["lots"] == [{"lot_id": shipment.picks[0].lot_id, "quantity": "2"}]
    assert_books_ok(session_factory, demo.org_id)


def test_default_price_is_the_items_sale_price_and_packs_convert(session_factory, demo, actors):
    receive(session_factory, demo, 2, unit="箱", item="龙井", party="包装厂", grade=None, unit_price=D(30))
    # 1 箱 = 20 罐 at the list price 168 → revenue 3360.00; cost 20 × 30 = 600.00.
    shipment = ship(session_factory, demo, 1, actor=actors["老孙"], item="龙井", unit="箱", unit_price=None)
    assert (shipment.quantity, shipment.base_unit) == (D(20), "罐")
    assert (shipment.revenue, shipment.cost) == (D("3360.00"), D("600.00"))
    assert_books_ok(session_factory, demo.org_id)


def test_frozen_lot_is_skipped(session_factory, demo, actors):
    a = receive(session_factory, demo, 5, expires_on=EARLY)
    b = receive(session_factory, demo, 5, expires_on=LATE)
    run(session_factory, freeze_stock, actors["老孙"], FreezeStock(
        demo.items["茶青"], FreezeDirection.OUTBOUND, "疑似农残", site_id=demo.sites["ZC"], lot_id=a.lot_id))
    shipment = ship(session_factory, demo, 3, actor=actors["老孙"])
    assert _picks(shipment) == [(b.lot_id, D(3))]
    # 5 frozen + 2 free: asking for 5 is short, not frozen, because some stock is free.
    err = _refused(session_factory, demo, ship, 5, error=InsufficientStock)
    assert err.details["available"] == "2"
    assert_books_ok(session_factory, demo.org_id)


def test_qc_failed_lot_is_skipped(session_factory, demo, actors):
    a = receive(session_factory, demo, 5, expires_on=EARLY)
    b = receive(session_factory, demo, 5, expires_on=LATE)
    run(session_factory, record_qc, actors["赵经理"], RecordQc(a.lot_id, False, "农残超标"))
    shipment = ship(session_factory, demo, 4, actor=actors["老孙"])
    assert _picks(shipment) == [(b.lot_id, D(4))]
    assert _balance(session_factory, demo, a)[0] == D(5)
    assert_books_ok(session_factory, demo.org_id)


def test_all_stock_frozen_is_stock_frozen_not_insufficient(session_factory, demo, actors):
    receive(session_factory, demo, 5, expires_on=EARLY)
    receive(session_factory, demo, 5, expires_on=LATE)
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.BOTH, "全仓封存", site_id=demo.sites["ZC"]))
    err = _refused(session_factory, demo, ship, 1, error=StockFrozen)
    assert err.details["frozen"] == "10"
    # The freeze is per site: stock elsewhere still moves.
    receive(session_factory, demo, 2, site="SX")
    ship(session_factory, demo, 1, site="SX")
    assert_books_ok(session_factory, demo.org_id)


def test_insufficient_stock_writes_nothing(session_factory, demo):
    a = receive(session_factory, demo, 5)
    err = _refused(session_factory, demo, ship, "5.001", error=InsufficientStock)
    assert (err.details["available"], err.details["requested"]) == ("5", "5.001")
    assert err.code == "INSUFFICIENT_STOCK"
    _refused(session_factory, demo, ship, 1, site="MD", error=InsufficientStock)  # nothing ever there
    assert _balance(session_factory, demo, a) == (D(5), D("400.00"))
    ship(session_factory, demo, 5)  # exactly what is there is fine
    assert_books_ok(session_factory, demo.org_id)


def test_site_that_allows_negative_stock_may_sell_ahead(session_factory, demo):
    system = Actor.system_actor(demo.org_id)
    shop = run(session_factory, create_site, system, CreateSite("WD", "网店", SiteKind.STORE, allow_negative=True))
    demo.sites["WD"] = shop
    lot = receive(session_factory, demo, 5, site="WD")  # 5 × 80 = 400
    # 8 kg: the 5 on hand (whole value 400.00) plus 3 ahead of receipt at the average 80 → 240.00.
    shipment = ship(session_factory, demo, 8, site="WD")
    assert shipment.cost == D("640.00")
    assert sum(p.quantity for p in shipment.picks) == D(8)
    assert {p.lot_id for p in shipment.picks} == {lot.lot_id}
    assert _balance(session_factory, demo, lot, site="WD") == (D(-3), D("-240.00"))
    with session_factory() as s:
        assert stock_level(s, demo.org_id, demo.items["茶青"], shop).on_hand == D(-3)
    assert_books_ok(session_factory, demo.org_id)
    # The same at a site that forbids it is refused.
    receive(session_factory, demo, 5)
    _refused(session_factory, demo, ship, 8, error=InsufficientStock)


def test_selling_ahead_never_takes_from_a_frozen_or_failed_lot(session_factory, demo, actors):
    shop = run(session_factory, create_site, Actor.system_actor(demo.org_id),
               CreateSite("WD", "网店", SiteKind.STORE, allow_negative=True))
    demo.sites["WD"] = shop
    good = receive(session_factory, demo, 5, site="WD", expires_on=LATE)
    failed = receive(session_factory, demo, 5, site="WD", expires_on=EARLY)  # the newest lot
    run(session_factory, record_qc, actors["赵经理"], RecordQc(failed.lot_id, False, "农残超标"))
    # 8 kg: the 5 good ones, and the 3 sold ahead go negative on the good lot, not the failed one.
    shipment = ship(session_factory, demo, 8, site="WD")
    assert {p.lot_id for p in shipment.picks} == {good.lot_id}
    assert _balance(session_factory, demo, good, site="WD")[0] == D(-3)
    assert _balance(session_factory, demo, failed, site="WD") == (D(5), D("400.00"))
    assert_books_ok(session_factory, demo.org_id)


def test_selling_ahead_is_refused_when_every_lot_is_blocked(session_factory, demo, actors):
    shop = run(session_factory, create_site, Actor.system_actor(demo.org_id),
               CreateSite("WD", "网店", SiteKind.STORE, allow_negative=True))
    demo.sites["WD"] = shop
    lot = receive(session_factory, demo, 5, site="WD")
    run(session_factory, record_qc, actors["赵经理"], RecordQc(lot.lot_id, False, "农残超标"))
    _refused(session_factory, demo, ship, 3, site="WD", error=StockFrozen)
    assert _balance(session_factory, demo, lot, site="WD") == (D(5), D("400.00"))


@pytest.mark.parametrize("party", ["王阿姨", "包装厂"])
def test_only_customers_can_be_shipped_to(session_factory, demo, party):
    receive(session_factory, demo, 5)
    err = _refused(session_factory, demo, ship, 1, party=party, error=ValidationError)
    assert err.details["field"] == "party_id"


def test_bad_price_or_tax_rate_is_refused(session_factory, demo):
    receive(session_factory, demo, 5)
    _refused(session_factory, demo, ship, 1, unit_price=D(-1), error=ValidationError)
    _refused(session_factory, demo, ship, 1, tax_rate=D(1), error=ValidationError)


def test_clerk_of_another_site_cannot_ship(session_factory, demo, actors):
    receive(session_factory, demo, 5)
    cmd = ShipGoods(demo.sites["ZC"], demo.items["茶青"], D(1), party_id=demo.parties["杭州茶城"])
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(PermissionDenied):
        run(session_factory, ship_goods, actors["小周"], cmd)
    assert row_counts(session_factory, demo.org_id) == before
