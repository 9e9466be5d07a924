"""The 72-hour cash forecast: hand-computed books, and the invariants over random ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.actor import Actor
from models.base import utcnow
from models.demo import DemoOrg, seed_demo
from models.documents import DocKind
from models.errors import ValidationError
from models.operations import CreateOrder, OrderLineIn, create_order
from models.operations.masterdata import CreateParty, create_party
from models.operations.money import MatchTo, RecordMoney, SetCreditTerms, pay_money, receive_money, set_credit_terms
from models.operations.orders import CancelOrder, cancel_order
from models.operations.quality import RecordQc, record_qc
from models.operations.settlement import SettleFarmer, settle_farmer
from models.org import PartyKind
from models.queries.cash_forecast import cash_forecast
from models.queries.receivables import party_open_items
from models.subledger import Side
from models.timeutil import SHANGHAI, local_date
from models.uow import run
from tests.factories import receive, ship

TODAY = local_date(utcnow())


def noon(days_ago: int) -> datetime:
    """Noon (Shanghai) ``days_ago`` days back: always in the past, whatever the hour the test runs."""
    return datetime.combine(TODAY - timedelta(days=days_ago), time(12), SHANGHAI)


#: The window starts at 08:00 today: hour 2 is 10:00 today, hour 26 10:00 tomorrow …
START = datetime.combine(TODAY, time(8), SHANGHAI)


@pytest.fixture(autouse=True)
def _today_at_test_time():
    """TODAY and START as of each test, not of collection: a run that crosses midnight in China
    would otherwise post today's vouchers after a forecast that starts yesterday."""
    global TODAY, START
    TODAY = local_date(utcnow())
    START = datetime.combine(TODAY, time(8), SHANGHAI)


def forecast(session_factory, demo: DemoOrg, hours: int = 72, start: datetime | None = None):
    with session_factory() as s:
        return cash_forecast(s, demo.org_id, START if start is None else start, hours)


def _terms(session_factory, demo, party: int, days: int) -> None:
    run(session_factory, set_credit_terms, Actor.system_actor(demo.org_id), SetCreditTerms(party, days))


def _book(session_factory, demo: DemoOrg) -> dict[str, int]:
    """The hand-computed book (see test_the_forecast_of_a_hand_computed_book)."""
    system = Actor.system_actor(demo.org_id)
    customer, supplier = demo.parties["杭州茶城"], demo.parties["包装厂"]
    _terms(session_factory, demo, customer, 3)
    _terms(session_factory, demo, supplier, 2)
    other = run(session_factory, create_party, system, CreateParty("C009", "绍兴茶楼", PartyKind.CUSTOMER))
    _terms(session_factory, demo, other, 5)
    receive(session_factory, demo, 100, party=None)  # stock to sell (no farmer: nothing owed)
    a = ship(session_factory, demo, 1, unit_price=300, business_time=noon(3))  # due today 10:00
    b = ship(session_factory, demo, 1, unit_price=200, business_time=noon(1))  # due in two days
    c = ship(session_factory, demo, 1, unit_price=100, business_time=noon(10))  # overdue a week
    ship(session_factory, replace(demo, parties={**demo.parties, "绍兴茶楼": other}), 1, unit_price=50,
         party="绍兴茶楼", business_time=noon(1))  # due in 4 days: out
    with session_factory() as s:
        line_a = next(i.line_id for i in party_open_items(s, demo.org_id, customer, Side.RECEIVABLE).items
                      if i.document_id == a.document_id)
    # 250 in cash; 120 of it set against A (A leaves 180 open), the rest unapplied.
    run(session_factory, receive_money, system, RecordMoney(customer, D(250), via="cash",
                                                            matches=(MatchTo(line_a, D(120)),)))
    supplied = receive(session_factory, demo, 5, party="包装厂", business_time=noon(1))  # 400, due tomorrow 10:00
    order = run(session_factory, create_order, system, CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], supplier, (OrderLineIn(demo.items["茶青"], D(10), None, D(30)),),
        business_time=noon(1)))
    against = receive(session_factory, demo, 4, party="包装厂", grade=None, purchase_order_id=order.document_id,
                      business_time=noon(1))  # 120 payable due tomorrow 10:00; 180 of the order still to come
    cancelled = run(session_factory, create_order, system, CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], supplier, (OrderLineIn(demo.items["茶青"], D(5), None, D(30)),),
        business_time=noon(1)))
    run(session_factory, cancel_order, system, CancelOrder(cancelled.document_id))
    pending = run(session_factory, create_order, system, CreateOrder(  # 10,000 or more: waits for approval
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], supplier, (OrderLineIn(demo.items["茶青"], D(100), None, D(100)),),
        business_time=noon(1)))
    farmer = receive(session_factory, demo, 10, business_time=noon(1))  # 王阿姨: 800, prepayment 560 due
    receive(session_factory, demo, 10, party="李大伯", business_time=noon(1))
    run(session_factory, settle_farmer, system, SettleFarmer(demo.parties["李大伯"]))  # prepaid: nothing due
    return {"a": a.document_id, "b": b.document_id, "c": c.document_id, "supplied": supplied.document_id,
            "order": order.document_id, "against": against.document_id,
            "cancelled": cancelled.document_id, "pending": pending.document_id,
            "farmer": farmer.document_id}


def test_the_forecast_of_a_hand_computed_book(session_factory, demo):
    ids = _book(session_factory, demo)
    # Opening: 250 received in cash, less 李大伯's prepayment paid from the bank (10 kg × 80 × 0.7).
    f = forecast(session_factory, demo)
    assert (f.cash, f.bank, f.opening) == (D("250.00"), D("-560.00"), D("-310.00"))
    got = [(i.kind, i.document_id, i.amount, i.hour, i.overdue) for i in f.items]
    assert got == [
        ("farmer", ids["farmer"], D("560.00"), 0, True),  # owed since the delivery: prudence, hour 0
        ("receivable", ids["a"], D("180.00"), 2, False),  # 300 less the 120 matched
        ("payable", ids["supplied"], D("400.00"), 26, False),
        ("payable", ids["against"], D("120.00"), 26, False),
        ("purchase_order", ids["order"], D("180.00"), 28, False),  # 6 kg × 30 not yet received
        ("receivable", ids["b"], D("200.00"), 50, False),
    ]
    assert f.totals == {"receivable": D("380.00"), "payable": D("520.00"), "farmer": D("560.00"),
                        "purchase_order": D("180.00")}
    assert (f.inflow, f.outflow) == (D("380.00"), D("1260.00"))
    assert f.closing == D("-310.00") + D("380.00") - D("1260.00") == f.by_hour[-1].balance
    assert [(h.hour, h.balance) for h in f.by_hour if h.inflow or h.outflow] == [
        (0, D("-870.00")), (2, D("-690.00")), (26, D("-1210.00")), (28, D("-1390.00")), (50, D("-1190.00"))]
    assert f.lowest == D("-1390.00") and f.lowest_at == START + timedelta(hours=28)
    # The week-old sale is late: shown, not counted on.
    assert (f.overdue_receivables.total, f.overdue_receivables.parties) == (D("100.00"), 1)
    assert [(p.party_id, p.amount) for p in f.overdue_receivables.largest] == [(demo.parties["杭州茶城"], D("100.00"))]
    assert {i.document_id for i in f.items}.isdisjoint({ids["cancelled"], ids["pending"], ids["c"]})


def test_the_receipt_against_an_order_is_a_payable_of_its_own(session_factory, demo):
    ids = _book(session_factory, demo)
    f = forecast(session_factory, demo)
    receipt = next(i for i in f.items if i.kind == "payable" and i.amount == D("120.00"))
    assert receipt.number.startswith("RK-") and receipt.party_name == "新昌包装厂"
    order = next(i for i in f.items if i.kind == "purchase_order")
    assert order.document_id == ids["order"] and order.note == "未到货部分"


def test_credit_days_move_the_due_date(session_factory, demo):
    _book(session_factory, demo)
    _terms(session_factory, demo, demo.parties["杭州茶城"], 20)  # all three now fall due after the window
    f = forecast(session_factory, demo)
    assert f.totals["receivable"] == 0 and f.overdue_receivables.parties == 0
    _terms(session_factory, demo, demo.parties["杭州茶城"], 0)  # everything already due: late
    f = forecast(session_factory, demo)
    assert f.totals["receivable"] == 0 and f.overdue_receivables.total == D("480.00")
    assert f.overdue_receivables.parties == 1


def test_a_short_window_and_a_later_start(session_factory, demo):
    ids = _book(session_factory, demo)
    f = forecast(session_factory, demo, hours=3)  # 08:00–11:00: the farmer and A only
    assert [i.document_id for i in f.items] == [ids["farmer"], ids["a"]]
    later = forecast(session_factory, demo, start=START + timedelta(hours=3, minutes=20))
    # From 11:00, A fell due an hour ago: late, out of the projection, into 已逾期.
    assert ids["a"] not in [i.document_id for i in later.items]
    assert later.overdue_receivables.total == D("280.00") and later.start == START + timedelta(hours=3)


def test_paying_the_farmer_and_the_supplier_takes_them_out(session_factory, demo):
    ids = _book(session_factory, demo)
    system = Actor.system_actor(demo.org_id)
    run(session_factory, settle_farmer, system, SettleFarmer(demo.parties["王阿姨"]))
    run(session_factory, pay_money, system, RecordMoney(demo.parties["包装厂"], D(450)))  # oldest first
    f = forecast(session_factory, demo)
    assert ids["farmer"] not in [i.document_id for i in f.items]
    assert [(i.document_id, i.amount) for i in f.items if i.kind == "payable"] == [(ids["against"], D("70.00"))]
    assert f.opening == D("-310.00") - D("560.00") - D("450.00")


def test_a_farmer_paid_with_a_payment_instead_of_her_settlement_is_not_owed_again(session_factory, demo):
    """付款单 to 王阿姨 matched against her delivery: the settlement row still says 预付款 due, but the
    delivery's payable is closed, so the forecast owes her nothing (and half of it, after half)."""
    ids = _book(session_factory, demo)
    system = Actor.system_actor(demo.org_id)
    run(session_factory, pay_money, system, RecordMoney(demo.parties["王阿姨"], D(500)))  # of 800 owed
    f = forecast(session_factory, demo)
    assert [(i.document_id, i.amount) for i in f.items if i.kind == "farmer"] == [(ids["farmer"], D("300.00"))]
    run(session_factory, pay_money, system, RecordMoney(demo.parties["王阿姨"], D(300)))
    f = forecast(session_factory, demo)
    assert ids["farmer"] not in [i.document_id for i in f.items]


def test_bad_windows_are_refused(session_factory, demo):
    for hours in (0, -1, 169, True):
        with pytest.raises(ValidationError):
            forecast(session_factory, demo, hours=hours)
    with pytest.raises(ValidationError):
        forecast(session_factory, demo, start=datetime(2026, 12, 5, 8))  # naive


def test_another_orgs_book_is_not_in_ours(session_factory, demo):
    _book(session_factory, demo)
    other = run(session_factory, seed_demo, f"cash-other-{demo.org_id}")
    f = forecast(session_factory, other)
    assert f.items == [] and f.opening == 0 and f.overdue_receivables.parties == 0


_step = st.one_of(
    st.tuples(st.just("sell"), st.integers(1, 500), st.integers(1, 6)),
    st.tuples(st.just("supply"), st.integers(1, 5), st.integers(1, 6)),
    st.tuples(st.just("farmer"), st.integers(1, 5), st.integers(1, 6)),
    st.tuples(st.just("receive"), st.integers(1, 600), st.integers(0, 2)),
    st.tuples(st.just("pay"), st.integers(1, 600), st.integers(0, 2)),
    st.tuples(st.just("terms"), st.integers(0, 4), st.just(0)),
)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(_step, min_size=1, max_size=8), hours=st.integers(1, 168))
def test_the_projection_adds_up_and_lists_each_item_once(session_factory, steps, hours):
    """Whatever is sold, supplied, delivered, received and paid: the final projected balance is the
    opening plus inflows less outflows, which is also the last hour's balance and the running sum of the
    hours; the items sum to the hours' flows, each listed once; receivables in the window are what the
    open-items query says is open."""
    demo = run(session_factory, seed_demo, f"cf-{hours}-{abs(hash(tuple(steps))) % 10**10}")
    system = Actor.system_actor(demo.org_id)
    receive(session_factory, demo, 200, party=None)
    for kind, amount, days in steps:
        if kind == "sell":
            ship(session_factory, demo, 1, unit_price=amount, business_time=noon(days))
        elif kind == "supply":
            receive(session_factory, demo, amount, party="包装厂", business_time=noon(days))
        elif kind == "farmer":
            receive(session_factory, demo, amount, party="陈小芳", business_time=noon(days))
        elif kind == "receive":
            run(session_factory, receive_money, system, RecordMoney(demo.parties["杭州茶城"], D(amount)))
        elif kind == "pay":
            run(session_factory, pay_money, system, RecordMoney(demo.parties["包装厂"], D(amount), via="cash"))
        else:
            _terms(session_factory, demo, demo.parties["杭州茶城"], amount)
    f = forecast(session_factory, demo, hours=hours)
    assert len(f.by_hour) == hours
    assert f.closing == f.opening + f.inflow - f.outflow == f.by_hour[-1].balance
    running = f.opening
    for h in f.by_hour:
        running += h.inflow - h.outflow
        assert h.balance == running
        assert h.inflow == sum((i.amount for i in f.items if i.hour == h.hour and i.direction == "in"), D(0))
        assert h.outflow == sum((i.amount for i in f.items if i.hour == h.hour and i.direction == "out"), D(0))
    keys = [(i.kind, i.document_id, i.number) for i in f.items]
    assert len(keys) == len(set(keys))
    assert f.inflow == sum(f.totals[k] for k in ("receivable",))
    assert f.outflow == sum(f.totals[k] for k in ("payable", "farmer", "purchase_order"))
    assert f.lowest == min([f.opening, *(h.balance for h in f.by_hour)])
    with session_factory() as s:
        charges = [i for i in party_open_items(s, demo.org_id, demo.parties["杭州茶城"], Side.RECEIVABLE).items
                   if i.is_charge]
    open_ = {i.document_id: i.open for i in charges}
    # The late ones, by the open-items query's own due dates: what the forecast sums apart.
    late = sum((i.open for i in charges if datetime.combine(i.due_on, time(10), SHANGHAI) < f.start), D(0))
    assert f.overdue_receivables.total == late
    for item in f.items:
        assert item.amount > 0 and 0 <= item.hour < hours
        if item.kind == "receivable":
            assert open_[item.document_id] == item.amount and not item.overdue


def test_a_page_of_items_has_the_same_figures_as_every_item(session_factory, demo):
    """``items_limit`` (the console's page): old farmer deliveries are summed in SQL, not read one by one;
    the figures must not move and the items listed must be the first of the full list. 王阿姨 has three
    deliveries (two old, one paid in part with a 付款单), 李大伯 one old and one still within his credit
    days, 陈小芳 one settled (nothing owed)."""
    _book(session_factory, demo)
    system = Actor.system_actor(demo.org_id)
    receive(session_factory, demo, 5, business_time=noon(9))  # 王阿姨, 400: the payment below matches it first
    receive(session_factory, demo, 3, business_time=noon(6))
    run(session_factory, pay_money, system, RecordMoney(demo.parties["王阿姨"], D(150)))
    _terms(session_factory, demo, demo.parties["李大伯"], 2)
    receive(session_factory, demo, 4, party="李大伯", business_time=noon(7))
    receive(session_factory, demo, 2, party="李大伯", business_time=START - timedelta(days=1, hours=1))
    receive(session_factory, demo, 6, party="陈小芳", business_time=noon(8))
    run(session_factory, settle_farmer, system, SettleFarmer(demo.parties["陈小芳"]))
    full = forecast(session_factory, demo)
    farmer = [i for i in full.items if i.kind == "farmer"]
    assert len(farmer) == 5 and any(not i.overdue for i in farmer)  # 李大伯's recent one: due tomorrow
    for limit in (0, 1, 3, len(full.items), 100):
        with session_factory() as s:
            page = cash_forecast(s, demo.org_id, START, 72, items_limit=limit)
        assert page.items == full.items[:limit]
        assert replace(page, items=full.items) == full
    # Ten days on every delivery is old: the lump still reaches the figures when no item is listed.
    later = START + timedelta(days=10)
    with session_factory() as s:
        every = cash_forecast(s, demo.org_id, later, 24)
        none_listed = cash_forecast(s, demo.org_id, later, 24, items_limit=0)
    assert every.totals["farmer"] > 0 and none_listed.items == []
    assert replace(none_listed, items=every.items) == every


def test_a_passed_lot_owes_the_whole_delivery_on_a_page_too(session_factory, demo):
    """A delivery whose lot passed QC before its prepayment: all of it is due (as settlement pays it),
    in the sum of the old deliveries as in the full list."""
    _book(session_factory, demo)
    system = Actor.system_actor(demo.org_id)
    passed = receive(session_factory, demo, 5, business_time=noon(9))  # 王阿姨, 400 (prepayment 280)
    receive(session_factory, demo, 3, business_time=noon(6))  # 240, lot pending: its prepayment
    run(session_factory, record_qc, system, RecordQc(passed.lot_id, True))
    full = forecast(session_factory, demo)
    assert [i.amount for i in full.items if i.document_id == passed.document_id] == [D("400.00")]
    for limit in (0, 1, 100):
        with session_factory() as s:
            page = cash_forecast(s, demo.org_id, START, 72, items_limit=limit)
        assert replace(page, items=full.items) == full
