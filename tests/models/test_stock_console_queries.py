"""The 库存 queries: the stock list's figures are stock_availability's, value by site sums the balances,
slow movers are stock with no outbound move for N days, a lot's trace is scoped to the sites a member sees."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.base import utcnow
from models.errors import NotFound, PermissionDenied, ValidationError
from models.operations import ReceiveGoods, ShipGoods, receive_goods, ship_goods
from models.queries.lot_trace import lot_trace
from models.queries.stock_availability import stock_availability
from models.queries.stock_list import StockFilter, stock_page
from models.queries.stock_value import slow_movers, stock_value_by_site
from models.stock import Balance
from models.uow import run
from tests.console.stock_fixtures import stock_demo


@pytest.fixture
def stocked(session_factory, demo, actors):
    return stock_demo(session_factory, demo, actors)


def test_the_list_shows_what_stock_availability_says(session_factory, actors, stocked):
    with session_factory() as s:
        page = stock_page(s, actors["赵经理"], StockFilter())
        levels = stock_availability(s, actors["赵经理"])
    assert [r.stock for r in page.rows] == levels
    sx = page.rows[0]
    assert {line.lot.lot_code: line.origin_name for line in sx.lots} == {stocked.wang_code: "王阿姨",
                                                                          stocked.li_code: "李大伯"}


def test_value_by_site_is_the_balances_sum(session_factory, demo, actors, stocked):
    with session_factory() as s:
        value = stock_value_by_site(s, actors["赵经理"])
        expected = s.scalar(select(func.sum(Balance.value)).where(
            Balance.org_id == demo.org_id, Balance.site_id.in_(list(demo.sites.values()))))
        listed = sum((r.stock.value for r in stock_page(s, actors["赵经理"], StockFilter()).rows), D(0))
    assert value.total == expected == listed
    with session_factory() as s:
        clerk = stock_value_by_site(s, actors["小周"])
    assert [v.site_name for v in clerk.sites] == ["绍兴收购点"]


def test_value_by_site_counts_items_and_lots_with_stock(session_factory, demo, actors, stocked):
    """Per site: items with stock (two lots of one item count once), lots with stock, their value."""
    run(session_factory, receive_goods, actors["钱总监"], ReceiveGoods(
        site_id=demo.sites["ZC"], item_id=demo.items["龙井"], quantity=D(40), unit="罐",
        party_id=demo.parties["包装厂"], unit_price=D(50), price_reason="采购合同价"))
    with session_factory() as s:
        value = stock_value_by_site(s, actors["赵经理"])
        balances = s.scalars(select(Balance).where(Balance.org_id == demo.org_id, Balance.on_hand != 0)).all()
    expected = {site: (sum((b.value for b in balances if b.site_id == site), D(0)),
                       len({b.item_id for b in balances if b.site_id == site}),
                       sum(1 for b in balances if b.site_id == site)) for site in demo.sites.values()}
    assert {v.site_id: (v.value, v.items, v.lots) for v in value.sites} == {
        site: got for site, got in expected.items() if site in {v.site_id for v in value.sites}}
    assert any(lots > items > 0 for _v, items, lots in expected.values())  # a site with two lots of one item


def test_slow_movers_are_old_stock_without_outbound_moves(session_factory, demo, actors):
    old = utcnow() - timedelta(days=60)
    run(session_factory, receive_goods, actors["钱总监"], ReceiveGoods(
        site_id=demo.sites["ZC"], item_id=demo.items["龙井"], quantity=D(40), unit="罐",
        party_id=demo.parties["包装厂"], unit_price=D(50), price_reason="采购合同价", business_time=old))
    with session_factory() as s:
        slow = slow_movers(s, actors["赵经理"], 30)
    assert [(r.site_name, r.item_name, r.on_hand, r.last_outbound) for r in slow.rows] == [("总仓", "龙井 250g 罐",
                                                                                           D(40), None)]
    assert slow.rows[0].idle_days >= 59 and slow.total_value == D(2000)
    run(session_factory, ship_goods, actors["赵经理"], ShipGoods(
        site_id=demo.sites["ZC"], item_id=demo.items["龙井"], quantity=D(1), party_id=demo.parties["杭州茶城"]))
    with session_factory() as s:
        assert slow_movers(s, actors["赵经理"], 30).rows == ()
        assert slow_movers(s, actors["小周"], 30).rows == ()  # she sees 绍兴 only
    with session_factory() as s, pytest.raises(ValidationError):
        slow_movers(s, actors["赵经理"], 0)


def test_a_lot_trace_shows_only_the_sites_a_member_sees(session_factory, demo, actors, stocked):
    with session_factory() as s:
        full = lot_trace(s, actors["赵经理"], stocked.wang_lot)
        keeper = lot_trace(s, actors["老孙"], stocked.wang_lot)
    assert {m.site_name for m in full.moves} >= {"绍兴收购点", "总仓"}
    assert {m.site_name for m in keeper.moves} == {"总仓"}
    assert keeper.receipt is None and keeper.destinations == ()  # the farmer's receipt and the sale were at 绍兴
    assert [(d.party_name, d.quantity) for d in full.destinations] == [("杭州茶城", D(5))]
    with session_factory() as s, pytest.raises(PermissionDenied):
        lot_trace(s, actors["老孙"], stocked.li_lot)  # never left 绍兴
    with session_factory() as s, pytest.raises(NotFound):
        lot_trace(s, actors["赵经理"], 10**9)


def test_the_ledger_pages_in_time_order(session_factory, actors, stocked):
    with session_factory() as s:
        everything = lot_trace(s, actors["赵经理"], stocked.wang_lot).moves
        first = lot_trace(s, actors["赵经理"], stocked.wang_lot, limit=2)
        rest = lot_trace(s, actors["赵经理"], stocked.wang_lot, after=first.next_after)
    assert first.next_after is not None and first.moves + rest.moves == everything
    assert rest.receipt is not None and rest.receipt.document_number == stocked.wang_receipt
