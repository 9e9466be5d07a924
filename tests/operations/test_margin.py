"""Order extras and order-level margin: revenue, cost as posted on the moves, allocated extras,
rollups whose groups add up, and reversals that net out."""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from models.base import utcnow
from models.charges import OrderCharge
from models.documents import DocKind, Document
from models.errors import InvalidState, NotFound, PermissionDenied, ValidationError
from models.infra import AuditEntry
from models.operations import CreateOrder, OrderLineIn, ReverseDocument, create_order, reverse_document
from models.operations.charges import AddCharge, ReverseCharge, add_charge, reverse_charge
from models.queries.margin import GROUPS, document_margin, margin_rollup
from models.stock import StockMove
from models.timeutil import local_date
from models.uow import run
from tests.factories import receive, ship


def _today():
    return local_date(utcnow())


def _order(session_factory, demo, actors, qty=10, price=100):
    return run(session_factory, create_order, actors["钱总监"], CreateOrder(
        DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
        (OrderLineIn(demo.items["茶青"], D(qty), unit_price=D(price)),)))


def _margin(session_factory, demo, document_id):
    with session_factory() as s:
        return document_margin(s, demo.org_id, document_id)


def _rollup(session_factory, demo, group_by="customer", days=3):
    with session_factory() as s:
        return margin_rollup(s, demo.org_id, _today() - timedelta(days=days), _today() + timedelta(days=1), group_by)


def test_a_shipment_earns_its_price_less_the_cost_posted_and_its_extras(session_factory, demo, actors):
    receive(session_factory, demo, 10)  # 茶青 一级 at 80 a kilo
    shipped = ship(session_factory, demo, 2, unit_price=100)
    run(session_factory, add_charge, actors["吴会计"], AddCharge(shipped.document_id, "freight", D("12.50")))
    m = _margin(session_factory, demo, shipped.document_id)
    assert (m.figures.revenue, m.figures.cost, m.figures.extras) == (D("200.00"), D("160.00"), D("12.50"))
    assert m.figures.margin == D("27.50") and m.figures.margin_pct == D("13.8")
    # Today's average cost changes later; the margin keeps the cost posted when it shipped.
    receive(session_factory, demo, 10, grade="特级")
    assert _margin(session_factory, demo, shipped.document_id).figures.cost == D("160.00")


def test_order_charges_are_shared_by_revenue_and_a_reversal_nets_out(session_factory, demo, actors):
    receive(session_factory, demo, 20)
    order = _order(session_factory, demo, actors)
    first = ship(session_factory, demo, 3, sales_order_id=order.document_id)
    second = ship(session_factory, demo, 1, sales_order_id=order.document_id)
    run(session_factory, add_charge, actors["吴会计"], AddCharge(order.document_id, "commission", D("10")))
    m = _margin(session_factory, demo, order.document_id)
    assert [s.figures.extras for s in m.shipments] == [D("7.50"), D("2.50")]
    assert m.figures.revenue == D("400.00") and m.figures.extras == D("10.00") and m.unallocated_extras == 0
    # Reverse the first shipment: it nets to zero, and the order's charges all go to the second.
    run(session_factory, reverse_document, actors["吴会计"], ReverseDocument(first.document_id, "退货"))
    m = _margin(session_factory, demo, order.document_id)
    gone, kept = m.shipments
    assert gone.reversed and (gone.figures.revenue, gone.figures.cost, gone.figures.extras, gone.figures.margin) == (
        0, 0, 0, 0)
    assert kept.figures.extras == D("10.00") and m.figures.margin == D("10.00")
    assert _margin(session_factory, demo, second.document_id).figures.margin == D("10.00")


def test_an_orders_charges_are_shared_to_the_fen_and_add_up_exactly(session_factory, demo, actors):
    receive(session_factory, demo, 20)
    order = _order(session_factory, demo, actors)
    for _ in range(3):
        ship(session_factory, demo, 1, sales_order_id=order.document_id)
    run(session_factory, add_charge, actors["吴会计"], AddCharge(order.document_id, "freight", D("10")))
    m = _margin(session_factory, demo, order.document_id)
    assert [s.figures.extras for s in m.shipments] == [D("3.33"), D("3.34"), D("3.33")]
    assert m.figures.extras == D("10.00") and m.unallocated_extras == 0


def test_charges_on_a_reversed_shipment_are_reversed_with_it(session_factory, demo, actors):
    receive(session_factory, demo, 5)
    shipped = ship(session_factory, demo, 1)
    run(session_factory, add_charge, actors["吴会计"], AddCharge(shipped.document_id, "packaging", D("3")))
    run(session_factory, reverse_document, actors["吴会计"], ReverseDocument(shipped.document_id, "错发"))
    m = _margin(session_factory, demo, shipped.document_id)
    assert m.figures.margin == 0 and m.shipments[0].reversed
    with pytest.raises(InvalidState):
        run(session_factory, add_charge, actors["吴会计"], AddCharge(shipped.document_id, "freight", D("1")))


def test_an_order_with_nothing_shipped_carries_its_charges_unallocated(session_factory, demo, actors):
    receive(session_factory, demo, 20)
    order = _order(session_factory, demo, actors)
    run(session_factory, add_charge, actors["吴会计"], AddCharge(order.document_id, "freight", D("30")))
    m = _margin(session_factory, demo, order.document_id)
    assert m.unallocated_extras == D("30.00") and m.figures.margin == D("-30.00") and m.figures.margin_pct is None
    assert _rollup(session_factory, demo).unallocated_extras == D("30.00")


def test_reversing_a_charge_once(session_factory, demo, actors):
    receive(session_factory, demo, 5)
    shipped = ship(session_factory, demo, 1)
    added = run(session_factory, add_charge, actors["吴会计"], AddCharge(shipped.document_id, "other", D("4")))
    undone = run(session_factory, reverse_charge, actors["吴会计"], ReverseCharge(added.charge_id, "录错"))
    assert undone.amount == D("-4") and undone.reverses_charge_id == added.charge_id
    assert _margin(session_factory, demo, shipped.document_id).figures.extras == 0
    for charge_id in (added.charge_id, undone.charge_id):
        with pytest.raises(InvalidState):
            run(session_factory, reverse_charge, actors["吴会计"], ReverseCharge(charge_id, "again"))
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.entity == "order_charge")) == 2


@pytest.mark.parametrize("amount", [D(0), D(-5), D("1e9"), D("1.234"), D("NaN"), D("Infinity")])
def test_absurd_charges_are_refused(session_factory, demo, actors, amount):
    receive(session_factory, demo, 5)
    shipped = ship(session_factory, demo, 1)
    with pytest.raises(ValidationError):
        run(session_factory, add_charge, actors["吴会计"], AddCharge(shipped.document_id, "freight", amount))


def test_who_may_enter_charges_and_on_what(session_factory, demo, actors):
    receipt = receive(session_factory, demo, 5)
    shipped = ship(session_factory, demo, 1)
    with pytest.raises(PermissionDenied):
        run(session_factory, add_charge, actors["小周"], AddCharge(shipped.document_id, "freight", D(1)))
    with pytest.raises(ValidationError):  # a receipt is not a sales document
        run(session_factory, add_charge, actors["吴会计"], AddCharge(receipt.document_id, "freight", D(1)))
    with pytest.raises(ValidationError):
        run(session_factory, add_charge, actors["吴会计"], AddCharge(shipped.document_id, "bribe", D(1)))
    from models.demo import seed_demo

    other = run(session_factory, seed_demo, f"o-{demo.org_id}")
    receive(session_factory, other, 5)
    theirs = ship(session_factory, other, 1)
    with pytest.raises(NotFound):
        run(session_factory, add_charge, actors["吴会计"], AddCharge(theirs.document_id, "freight", D(1)))
    with pytest.raises(NotFound), session_factory() as s:
        document_margin(s, demo.org_id, theirs.document_id)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(OrderCharge).where(OrderCharge.org_id == demo.org_id)) == 0


def test_rollups_by_item_site_and_month(session_factory, demo, actors):
    receive(session_factory, demo, 10)
    receive(session_factory, demo, 10, item="龙井", site="MD", party="包装厂", grade=None)
    ship(session_factory, demo, 2, unit_price=100)
    ship(session_factory, demo, 2, item="龙井", site="MD", unit_price=150)
    by_item = _rollup(session_factory, demo, "item")
    assert {r.label for r in by_item.rows} == {"茶青", "龙井 250g 罐"}
    by_site = _rollup(session_factory, demo, "site")
    assert {r.label for r in by_site.rows} == {"总仓", "门店"}
    by_month = _rollup(session_factory, demo, "month")
    assert by_month.rows[-1].key == _today().strftime("%Y-%m")
    for report in (by_item, by_site, by_month):
        assert report.totals == _rollup(session_factory, demo, "customer").totals
        assert report.totals.margin_pct == (report.totals.margin * 100 / report.totals.revenue).quantize(D("0.1"))
    with pytest.raises(ValidationError), session_factory() as s:
        margin_rollup(s, demo.org_id, _today(), _today() - timedelta(days=1))
    with pytest.raises(ValidationError), session_factory() as s:
        margin_rollup(s, demo.org_id, _today(), _today(), "weather")


_step = st.one_of(
    st.tuples(st.just("ship"), st.integers(1, 3), st.integers(50, 300), st.booleans()),
    st.tuples(st.just("charge"), st.sampled_from(["order", "last"]), st.integers(1, 5000), st.just(False)),
    st.tuples(st.just("reverse"), st.integers(0, 5), st.just(0), st.just(False)),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=8))
def test_rollups_add_up_to_the_order_totals_and_reversed_shipments_are_zero(session_factory, actors, demo, steps):
    from models.demo import seed_demo

    org = run(session_factory, seed_demo, f"h-{uuid.uuid4().hex[:12]}")
    from models.actor import load_actor

    with session_factory() as s:
        finance = load_actor(s, org.members["吴会计"])
        boss = load_actor(s, org.members["钱总监"])
    receive(session_factory, org, 100)
    order = run(session_factory, create_order, boss, CreateOrder(
        DocKind.SALES_ORDER, org.sites["ZC"], org.parties["杭州茶城"],
        (OrderLineIn(org.items["茶青"], D(30), unit_price=D(90)),)))
    shipments: list[int] = []
    for kind, a, b, with_order in steps:
        if kind == "ship":
            shipped = ship(session_factory, org, a, unit_price=None if with_order else b,  # an order's: 90
                           sales_order_id=order.document_id if with_order else None)
            shipments.append(shipped.document_id)
        elif kind == "charge":
            target = order.document_id if a == "order" or not shipments else shipments[-1]
            with suppress(InvalidState):  # the last shipment was reversed
                run(session_factory, add_charge, finance, AddCharge(target, "freight", D(b) / 100))
        elif shipments:
            with suppress(InvalidState):  # already reversed
                run(session_factory, reverse_document, finance, ReverseDocument(shipments[a % len(shipments)], "x"))
    with session_factory() as s:
        today = _today()
        rollups = {g: margin_rollup(s, org.org_id, today - timedelta(days=1), today + timedelta(days=1), g)
                   for g in GROUPS}
        views = {i: document_margin(s, org.org_id, i) for i in shipments}
        whole_order = document_margin(s, org.org_id, order.document_id)
        for i, view in views.items():  # cost is minus the value posted on the shipment's (and its reversal's) moves
            docs = select(Document.id).where((Document.id == i) | (Document.reverses_document_id == i))
            posted = s.scalar(select(func.sum(StockMove.value)).where(StockMove.document_id.in_(docs)))
            assert view.figures.cost == -posted
    totals = {g: r.totals for g, r in rollups.items()}
    first = totals["customer"]
    assert all(t == first for t in totals.values())
    for r in rollups.values():
        assert sum((row.figures.margin for row in r.rows), D(0)) == first.margin
        assert sum((row.figures.revenue for row in r.rows), D(0)) == first.revenue
    # The order-level view: the order's shipments plus the unordered ones, less what no shipment carries.
    unordered = [v for v in views.values()
                 if all(sh.document_id not in {x.document_id for x in whole_order.shipments} for sh in v.shipments)]
    order_level = whole_order.figures.margin + sum((v.figures.margin for v in unordered), D(0))
    assert order_level + whole_order.unallocated_extras == first.margin
    assert rollups["customer"].unallocated_extras == whole_order.unallocated_extras
    # No rounding residue: an order's charges are all on its standing shipments, or none are.
    assert whole_order.unallocated_extras == 0 or not any(
        sh.figures.revenue for sh in whole_order.shipments)
    for view in views.values():
        for sh in view.shipments:
            if sh.reversed:
                assert (sh.figures.revenue, sh.figures.cost, sh.figures.extras, sh.figures.margin) == (0, 0, 0, 0)
