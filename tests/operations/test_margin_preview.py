"""经营推演: a draft sales order's margin at today's average cost, the customer's exposure and the
cash hook; a sales order over the credit limit or under the margin threshold goes for approval,
ships nothing until approved, and its card shows the preview."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from models.actor import Actor
from models.approvals import ApprovalRequest
from models.documents import DocKind
from models.errors import NotFound, SalesOrderNotApproved, ValidationError
from models.operations import CreateOrder, OrderLineIn, create_order
from models.operations.approvals import DecideApproval, decide_approval
from models.operations.money import SetCreditTerms, set_credit_terms
from models.org import Org
from models.queries.margin_preview import DraftLine, DraftOrder, margin_preview, no_cash_position
from models.uow import run
from tests.factories import receive, ship


def _draft(demo, price, qty=10, changes=()):
    return DraftOrder(demo.parties["杭州茶城"], demo.sites["ZC"],
                      (DraftLine(demo.items["茶青"], D(qty), unit_price=D(price)),), tuple(D(c) for c in changes))


def _preview(session_factory, demo, draft, **kw):
    with session_factory() as s:
        return margin_preview(s, Actor.system_actor(demo.org_id), draft, **kw)


def test_preview_costs_at_the_moving_average_and_prices_the_alternatives(session_factory, demo):
    receive(session_factory, demo, 10)  # 一级 at 80
    receive(session_factory, demo, 10, grade="特级")  # at 120: the average is 100
    p = _preview(session_factory, demo, _draft(demo, 110, changes=("-10", "5")), cash_position=no_cash_position)
    line = p.lines[0]
    assert (line.average_cost, line.revenue, line.cost, line.margin) == (D(100), D("1100.00"), D("1000.00"),
                                                                          D("100.00"))
    assert str(line.average_cost) == "100.000000"  # the ledger's rounding; never 1E+2 on a screen
    assert [(s.label, s.revenue, s.margin, s.margin_pct) for s in p.scenarios] == [
        ("报价", D("1100.00"), D("100.00"), D("9.1")),
        ("-10%", D("990.00"), D("-10.00"), D("-1.0")),
        ("+5%", D("1155.00"), D("155.00"), D("13.4"))]
    assert not p.quoted.needs_approval and p.scenarios[1].needs_approval  # under the 5 % default
    assert p.cost_known and p.cash_72h is None and "现金预测暂不可用" in p.notes


def test_exposure_counts_open_receivables_and_this_order_against_the_limit(session_factory, demo, actors):
    receive(session_factory, demo, 20)
    ship(session_factory, demo, 5, unit_price=100)  # 500 owed
    run(session_factory, set_credit_terms, actors["吴会计"], SetCreditTerms(demo.parties["杭州茶城"], 30, D(1000)))
    p = _preview(session_factory, demo, _draft(demo, 100, qty=6))
    e = p.quoted.exposure
    assert (e.open_receivables, e.order_amount, e.after, e.credit_limit, e.over_limit, e.headroom) == (
        D("500.00"), D("600.00"), D("1100.00"), D("1000.00"), True, D("-100.00"))
    assert p.quoted.needs_approval and p.quoted.reasons[0].startswith("超出信用额度")
    assert not _preview(session_factory, demo, _draft(demo, 100, qty=5)).quoted.exposure.over_limit


def test_exposure_counts_what_the_customers_other_orders_still_have_to_ship(session_factory, demo, actors):
    receive(session_factory, demo, 20)
    run(session_factory, set_credit_terms, actors["吴会计"], SetCreditTerms(demo.parties["杭州茶城"], 30, D(1000)))
    order = run(session_factory, create_order, actors["赵经理"], CreateOrder(
        DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
        (OrderLineIn(demo.items["茶青"], D(3), unit_price=D(100)),)))  # 300 to ship, nothing owed yet
    assert order.approval_reasons == ()  # it does not count against itself: 0 + 300 within 1000
    e = _preview(session_factory, demo, _draft(demo, 100, qty=6)).quoted.exposure
    assert (e.open_receivables, e.open_orders, e.order_amount, e.after, e.over_limit) == (
        D(0), D("300.00"), D("600.00"), D("900.00"), False)
    assert _preview(session_factory, demo, _draft(demo, 100, qty=8)).quoted.exposure.over_limit  # 1100
    ship(session_factory, demo, 1, sales_order_id=order.document_id)  # 100 now owed, 200 still to ship
    e = _preview(session_factory, demo, _draft(demo, 100, qty=6)).quoted.exposure
    assert (e.open_receivables, e.open_orders, e.after) == (D("100.00"), D("200.00"), D("900.00"))


def test_the_cash_hook_gives_the_72_hour_position_and_a_short_term_order_adds_to_it(session_factory, demo):
    receive(session_factory, demo, 10)
    p = _preview(session_factory, demo, _draft(demo, 100, qty=2), cash_position=lambda _s, _o: D("5000.00"))
    assert p.cash_72h == D("5000.00") and p.quoted.cash_72h_after == D("5200.00")  # credit days 0: due in 72 h


def test_the_default_hook_is_the_cash_forecasts_72_hour_closing_figure(session_factory, demo):
    from models.base import utcnow
    from models.queries.cash_forecast import cash_forecast

    receive(session_factory, demo, 10)
    p = _preview(session_factory, demo, _draft(demo, 100, qty=1))
    with session_factory() as s:
        expected = cash_forecast(s, demo.org_id, utcnow(), hours=72).closing
    assert expected < 0  # the farmer's money falls due inside the window: a hook answering 0 would not pass
    assert p.cash_72h == expected


def test_bad_drafts_are_refused(session_factory, demo):
    receive(session_factory, demo, 10)
    for draft, error in (
        (_draft(demo, 100, changes=("1", "2", "3", "4")), ValidationError),
        (_draft(demo, 100, changes=("-100",)), ValidationError),
        (_draft(demo, -1), ValidationError),
        (_draft(demo, 100, qty=0), ValidationError),
        (DraftOrder(demo.parties["王阿姨"], demo.sites["ZC"], (DraftLine(demo.items["茶青"], D(1)),)), ValidationError),
        (DraftOrder(demo.parties["杭州茶城"], demo.sites["ZC"], ()), ValidationError),
        (DraftOrder(demo.parties["杭州茶城"], demo.sites["ZC"], (DraftLine(10**9, D(1)),)), NotFound),
    ):
        with pytest.raises(error):
            _preview(session_factory, demo, draft)


def _sales_order(session_factory, demo, actor, price, qty=5):
    return run(session_factory, create_order, actor, CreateOrder(
        DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
        (OrderLineIn(demo.items["茶青"], D(qty), unit_price=D(price)),)))


def _request(session_factory, document_id):
    with session_factory() as s:
        return s.scalar(select(ApprovalRequest).where(ApprovalRequest.doc_kind == "sales_order",
                                                      ApprovalRequest.document_id == document_id))


def test_a_thin_margin_order_waits_for_approval_and_ships_nothing_until_approved(session_factory, demo, actors):
    receive(session_factory, demo, 20)
    fine = _sales_order(session_factory, demo, actors["赵经理"], 100)
    assert fine.approval_reasons == () and _request(session_factory, fine.document_id) is None
    thin = _sales_order(session_factory, demo, actors["赵经理"], 82)  # 2.4 % over an 80 cost
    assert thin.approval_reasons == ("毛利率 2.4% 低于 5%",)
    req = _request(session_factory, thin.document_id)
    assert req is not None and req.status.value == "pending"
    with pytest.raises(SalesOrderNotApproved):
        ship(session_factory, demo, 1, sales_order_id=thin.document_id)
    run(session_factory, decide_approval, actors["钱总监"], DecideApproval(req.id, True))
    shipped = ship(session_factory, demo, 1, unit_price=None, sales_order_id=thin.document_id)
    assert shipped.revenue == D("82.00")


def test_the_margin_threshold_is_an_org_setting(session_factory, demo, actors):
    receive(session_factory, demo, 20)
    with session_factory() as s:
        org = s.get_one(Org, demo.org_id)
        org.settings = {**(org.settings or {}), "margin_approval_threshold_pct": 30}
        s.commit()
    assert _sales_order(session_factory, demo, actors["赵经理"], 100).approval_reasons == ("毛利率 20.0% 低于 30%",)


def test_an_order_over_the_credit_limit_goes_for_approval_and_its_card_shows_the_preview(
        session_factory, demo, actors):
    from cards.approval import dingtalk_card, wechat_subscribe
    from workflows.approvals import card_for

    receive(session_factory, demo, 20)
    run(session_factory, set_credit_terms, actors["吴会计"], SetCreditTerms(demo.parties["杭州茶城"], 30, D(300)))
    order = _sales_order(session_factory, demo, actors["赵经理"], 100)
    assert order.approval_reasons == ("超出信用额度 300.00",)
    with session_factory() as s:
        req = s.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == order.document_id))
        card = card_for(s, req)
    params = dingtalk_card(card)
    assert params["title"].startswith("销售订单 XS-")
    assert params["preview"] == "毛利 100.00 元，毛利率 20.0%\n应收 0.00 + 本单 500.00 = 500.00，额度 300.00（超额度）"
    assert wechat_subscribe(card, template_id="t")["data"]["thing3"]["value"] == "毛利100.00元 20.0% 超额度"
