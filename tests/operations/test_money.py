"""收款单 / 付款单, matching (核销), aging as of a day and statements of account."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from models.base import utcnow
from models.errors import NotFound, PermissionDenied, ValidationError
from models.finance import STILL_OPEN, OpenItemMatch, VoucherLine
from models.operations import ReverseDocument, reverse_document
from models.operations.money import (
    MatchOpenItems,
    MatchTo,
    RecordMoney,
    SetCreditTerms,
    match_open_items,
    pay_money,
    receive_money,
    set_credit_terms,
)
from models.queries.receivables import aging, control_balance, party_open_items, statement
from models.subledger import Side
from models.timeutil import local_date
from models.uow import run
from tests.factories import receive, row_counts, ship


def _sell(session_factory, demo, actors, amounts: list[int], days_ago: list[int]) -> list:
    """Ship 1 kg at each price (a receivable of that amount), each ``days_ago`` back."""
    receive(session_factory, demo, 50)
    now = utcnow()
    return [ship(session_factory, demo, 1, unit_price=amount, business_time=now - timedelta(days=days))
            for amount, days in zip(amounts, days_ago, strict=True)]


def _open(session_factory, demo, party: str = "杭州茶城", side: Side = Side.RECEIVABLE):
    with session_factory() as s:
        return party_open_items(s, demo.org_id, demo.parties[party], side)


def test_money_received_goes_against_the_oldest_items_and_a_partial_payment_leaves_the_rest_open(
        session_factory, demo, actors):
    old, new = _sell(session_factory, demo, actors, [300, 200], [5, 1])
    paid = run(session_factory, receive_money, actors["吴会计"], RecordMoney(demo.parties["杭州茶城"], D("350")))
    assert paid.number.startswith("SK-") and paid.voucher_number
    assert [(m.document_id, m.amount, m.open_after) for m in paid.matched] == [
        (old.document_id, D("300.00"), D(0)), (new.document_id, D("50.00"), D("150.00"))]
    assert paid.unapplied == 0
    left = _open(session_factory, demo)
    assert [(i.document_id, i.open) for i in left.items] == [(new.document_id, D("150.00"))]
    assert left.open_charges == D("150.00")


def test_the_finance_officer_may_pick_the_items_and_the_rest_stays_unapplied(session_factory, demo, actors):
    old, new = _sell(session_factory, demo, actors, [300, 200], [5, 1])
    line = next(i.line_id for i in _open(session_factory, demo).items if i.document_id == new.document_id)
    paid = run(session_factory, receive_money, actors["吴会计"], RecordMoney(
        demo.parties["杭州茶城"], D("250"), via="cash", matches=(MatchTo(line, D("200")),)))
    assert [(m.document_id, m.amount) for m in paid.matched] == [(new.document_id, D("200"))]
    assert paid.unapplied == D("50")
    left = _open(session_factory, demo)
    assert left.open_charges == D("300.00") and left.unapplied_credits == D("-50.00")
    # A later 核销 sets the advance against the old item.
    result = run(session_factory, match_open_items, actors["吴会计"], MatchOpenItems(demo.parties["杭州茶城"],
                                                                                 Side.RECEIVABLE))
    assert [(m.document_id, m.amount, m.open_after) for m in result.matched] == [
        (old.document_id, D("50.00"), D("250.00"))]
    assert (result.open_charges, result.unapplied_credits) == (D("250.00"), D(0))


@pytest.mark.parametrize("picks, error", [
    (lambda line: (MatchTo(line, D("301")),), ValidationError),  # more than is open
    (lambda line: (MatchTo(line, D("100")), MatchTo(line, D("100"))), ValidationError),  # twice
    (lambda line: (MatchTo(line + 10_000_000, D("1")),), NotFound),  # not an open item of the party
    (lambda line: (MatchTo(line, D("0")),), ValidationError),
    (lambda line: (MatchTo(line, D("0.001")),), ValidationError),
])
def test_bad_matching_is_refused_and_writes_nothing(session_factory, demo, actors, picks, error):
    _sell(session_factory, demo, actors, [300], [2])
    line = _open(session_factory, demo).items[0].line_id
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(error):
        run(session_factory, receive_money, actors["吴会计"], RecordMoney(demo.parties["杭州茶城"], D("300"),
                                                                        matches=picks(line)))
    assert row_counts(session_factory, demo.org_id) == before
    assert _open(session_factory, demo).open_charges == D("300.00")


@pytest.mark.parametrize("amount", [D(0), D(-5), D("1e13"), D("1.234"), D("NaN"), D("Infinity")])
def test_absurd_amounts_are_refused(session_factory, demo, actors, amount):
    with pytest.raises(ValidationError):
        run(session_factory, receive_money, actors["吴会计"], RecordMoney(demo.parties["杭州茶城"], amount))


def test_who_may_record_money_and_to_whom(session_factory, demo, actors):
    with pytest.raises(PermissionDenied):
        run(session_factory, receive_money, actors["小周"], RecordMoney(demo.parties["杭州茶城"], D(10)))
    with pytest.raises(ValidationError):  # money is received from customers, paid to suppliers and farmers
        run(session_factory, receive_money, actors["吴会计"], RecordMoney(demo.parties["王阿姨"], D(10)))
    with pytest.raises(ValidationError):
        run(session_factory, pay_money, actors["吴会计"], RecordMoney(demo.parties["杭州茶城"], D(10)))
    with pytest.raises(ValidationError):
        run(session_factory, pay_money, actors["吴会计"], RecordMoney(demo.parties["王阿姨"], D(10), via="wechat"))


def test_another_orgs_party_is_not_found(session_factory, demo, actors):
    from models.demo import seed_demo

    other = run(session_factory, seed_demo, f"other-{demo.org_id}")
    with pytest.raises(NotFound):
        run(session_factory, receive_money, actors["吴会计"], RecordMoney(other.parties["杭州茶城"], D(10)))
    with pytest.raises(NotFound), session_factory() as s:
        statement(s, demo.org_id, other.parties["杭州茶城"], Side.RECEIVABLE, local_date(utcnow()),
                  local_date(utcnow()))


def test_paying_a_farmer_clears_the_payable_of_the_delivery(session_factory, demo, actors):
    delivery = receive(session_factory, demo, 10, party="王阿姨", grade="一级")
    paid = run(session_factory, pay_money, actors["吴会计"], RecordMoney(demo.parties["王阿姨"], delivery.total))
    assert [(m.document_id, m.open_after) for m in paid.matched] == [(delivery.document_id, D(0))]
    assert _open(session_factory, demo, "王阿姨", Side.PAYABLE).items == []


def test_aging_buckets_follow_the_credit_terms_and_the_total_is_the_control_balance(session_factory, demo, actors):
    _sell(session_factory, demo, actors, [100, 200, 400], [6, 3, 0])
    today = local_date(utcnow())
    with session_factory() as s:
        by_date = aging(s, demo.org_id, Side.RECEIVABLE, today)
    row = next(r for r in by_date.rows if r.party_id == demo.parties["杭州茶城"])
    # No credit terms: every item is due on its date; today's is current, the others 1-30 days late.
    assert (row.buckets["current"], row.buckets["d1_30"], row.total) == (D("400.00"), D("300.00"), D("700.00"))
    assert by_date.balanced and by_date.total == by_date.control_balance == D("700.00")

    run(session_factory, set_credit_terms, actors["吴会计"], SetCreditTerms(demo.parties["杭州茶城"], 5))
    with session_factory() as s:
        due = aging(s, demo.org_id, Side.RECEIVABLE, today)
        by_document = aging(s, demo.org_id, Side.RECEIVABLE, today, basis="document")
    row = next(r for r in due.rows if r.party_id == demo.parties["杭州茶城"])
    assert (row.buckets["current"], row.buckets["d1_30"]) == (D("600.00"), D("100.00"))  # only the 6-day-old is late
    assert next(r for r in by_document.rows if r.party_id == demo.parties["杭州茶城"]).buckets["d1_30"] == D("300.00")
    with pytest.raises(ValidationError), session_factory() as s:
        aging(s, demo.org_id, Side.RECEIVABLE, today, basis="whenever")


def test_aging_as_of_an_earlier_day_does_not_see_later_sales_or_payments(session_factory, demo, actors):
    _sell(session_factory, demo, actors, [300, 200], [4, 0])
    run(session_factory, receive_money, actors["吴会计"], RecordMoney(demo.parties["杭州茶城"], D("300")))
    today = local_date(utcnow())
    with session_factory() as s:
        earlier = aging(s, demo.org_id, Side.RECEIVABLE, today - timedelta(days=2))
        now = aging(s, demo.org_id, Side.RECEIVABLE, today)
    assert earlier.total == earlier.control_balance == D("300.00")  # the old sale, not yet paid then
    assert now.total == now.control_balance == D("200.00")
    assert next(r for r in earlier.rows if r.party_id == demo.parties["杭州茶城"]).buckets["d1_30"] == D("300.00")


def test_a_statement_of_account_runs_from_the_opening_to_the_closing_balance(session_factory, demo, actors):
    _sell(session_factory, demo, actors, [300, 200], [5, 1])
    run(session_factory, receive_money, actors["吴会计"], RecordMoney(demo.parties["杭州茶城"], D("120")))
    today = local_date(utcnow())
    with session_factory() as s:
        stmt = statement(s, demo.org_id, demo.parties["杭州茶城"], Side.RECEIVABLE, today - timedelta(days=2), today)
    assert stmt.opening == D("300.00")
    assert [(ln.charge, ln.credit) for ln in stmt.lines] == [(D("200.00"), D(0)), (D(0), D("120.00"))]
    assert stmt.closing == stmt.opening + stmt.charges - stmt.credits == D("380.00")
    assert stmt.lines[-1].balance == stmt.closing and stmt.lines[-1].document_number.startswith("SK-")


def test_a_reversed_shipment_is_matched_against_itself(session_factory, demo, actors):
    first, second = _sell(session_factory, demo, actors, [300, 200], [3, 1])
    run(session_factory, reverse_document, actors["钱总监"], ReverseDocument(second.document_id, "开错客户"))
    result = run(session_factory, match_open_items, actors["吴会计"], MatchOpenItems(demo.parties["杭州茶城"],
                                                                                 Side.RECEIVABLE))
    assert [(m.document_id, m.amount) for m in result.matched] == [(second.document_id, D("200.00"))]
    assert [i.document_id for i in _open(session_factory, demo).items] == [first.document_id]


def test_a_replayed_payment_is_recorded_once(session_factory, demo, actors):
    _sell(session_factory, demo, actors, [300], [1])
    cmd = RecordMoney(demo.parties["杭州茶城"], D("100"))
    first = run(session_factory, receive_money, actors["吴会计"], cmd, idempotency_key="pay-1")
    again = run(session_factory, receive_money, actors["吴会计"], cmd, idempotency_key="pay-1")
    assert again == first
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(OpenItemMatch).where(
            OpenItemMatch.org_id == demo.org_id)) == 1


_step = st.one_of(
    st.tuples(st.just("sell"), st.integers(1, 500), st.integers(0, 6)),
    st.tuples(st.just("receive"), st.integers(1, 600), st.integers(0, 6)),
    st.tuples(st.just("advance"), st.integers(1, 300), st.integers(0, 6)),
    st.tuples(st.just("match"), st.just(0), st.just(0)),
)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(_step, min_size=1, max_size=8))
def test_aging_always_adds_up_to_the_control_balance(session_factory, steps):
    """Whatever is sold, paid, advanced and matched, on any day: aging total = control balance on
    every day, and no item is matched beyond its amount."""
    from models.actor import Actor
    from models.demo import seed_demo

    demo = run(session_factory, seed_demo, f"h-{len(steps)}-{abs(hash(tuple(steps))) % 10**10}")
    system = Actor.system_actor(demo.org_id)
    customer = demo.parties["杭州茶城"]
    receive(session_factory, demo, 200)
    now = utcnow()
    for kind, amount, days in steps:
        when = now - timedelta(days=days)
        if kind == "sell":
            ship(session_factory, demo, 1, unit_price=amount, business_time=when)
        elif kind in ("receive", "advance"):
            run(session_factory, receive_money, system, RecordMoney(
                customer, D(amount), business_time=when, matches=() if kind == "advance" else None))
        else:
            run(session_factory, match_open_items, system, MatchOpenItems(customer, Side.RECEIVABLE))
    today = local_date(now)
    with session_factory() as s:
        for back in range(8):
            day = today - timedelta(days=back)
            report = aging(s, demo.org_id, Side.RECEIVABLE, day)
            assert report.balanced and report.total == control_balance(s, demo.org_id, Side.RECEIVABLE, day)
        for item in party_open_items(s, demo.org_id, customer, Side.RECEIVABLE).items:
            charge_ok = item.amount > 0 and 0 < item.open <= item.amount
            assert charge_ok or (item.amount < 0 and item.amount <= item.open < 0)
        _assert_closed_exactly_when_settled(s, demo.org_id)


def _assert_closed_exactly_when_settled(s, org_id: int) -> None:
    """A control-account line is closed (on its last match's day) iff its matches reach its amount."""
    lines = s.execute(select(VoucherLine.id, VoucherLine.debit, VoucherLine.credit, VoucherLine.closed_on).where(
        VoucherLine.org_id == org_id, VoucherLine.account_code.in_(("1122", "2203", "2202", "1123")))).all()
    for line_id, debit, credit, closed_on in lines:
        whole = abs(debit - credit)
        matches = s.execute(select(OpenItemMatch.amount, OpenItemMatch.matched_on).where(
            (OpenItemMatch.charge_line_id == line_id) | (OpenItemMatch.credit_line_id == line_id))).all()
        settled = bool(matches) and sum(m.amount for m in matches) == whole
        assert closed_on == (max(m.matched_on for m in matches) if settled else STILL_OPEN), (line_id, matches)


def test_a_reversed_payment_puts_the_debt_back(session_factory, demo, actors):
    _sell(session_factory, demo, actors, [300], [2])
    paid = run(session_factory, receive_money, actors["吴会计"], RecordMoney(demo.parties["杭州茶城"], D("300")))
    assert _open(session_factory, demo).items == []
    with session_factory() as s:
        _assert_closed_exactly_when_settled(s, demo.org_id)  # the sale and the payment are closed
    run(session_factory, reverse_document, actors["吴会计"], ReverseDocument(paid.document_id, "银行退票"))
    left = _open(session_factory, demo)
    assert left.open_charges == D("300.00") and left.items[0].number.startswith("SK-")
    with session_factory() as s:
        report = aging(s, demo.org_id, Side.RECEIVABLE, local_date(utcnow()))
    assert report.balanced and report.total == D("300.00")
