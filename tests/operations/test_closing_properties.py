"""Properties of the books over random sequences of real documents, payments, reversals, closes and
reopens across four months: the trial balance's debits equal its credits, the balance sheet
balances, a posting into a closed month is refused and writes nothing, and a reopened month takes
postings again."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models.actor import Actor
from models.demo import seed_demo
from models.errors import DomainError, InvalidState, PeriodClosed, PeriodNotReady
from models.finance import AccountCategory, Voucher
from models.operations import ReverseDocument, reverse_document
from models.operations.closing import ClosePeriod, ReopenPeriod, close_period, reopen_period
from models.operations.money import RecordMoney, pay_money, receive_money
from models.queries.statements import balance_sheet, income_statement, trial_balance
from models.timeutil import SHANGHAI
from models.uow import run
from tests.factories import assert_books_ok, receive, row_counts, ship

MONTHS = ("202608", "202609", "202610", "202611")

_step = st.one_of(
    st.tuples(st.sampled_from(["receive", "sell", "money_in", "money_out", "reverse"]),
              st.integers(1, 400), st.integers(0, 3), st.integers(1, 28)),
    st.tuples(st.sampled_from(["close", "reopen"]), st.just(0), st.integers(0, 3), st.just(1)),
)


def _locked(closed: set[str], period: str) -> bool:
    return bool(closed) and period <= max(closed)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(_step, min_size=1, max_size=12))
@example(steps=[("receive", 100, 0, 3), ("sell", 120, 0, 9), ("close", 0, 0, 1), ("receive", 5, 0, 20),
                ("reopen", 0, 0, 1), ("money_in", 50, 0, 21), ("close", 0, 0, 1), ("close", 0, 1, 1),
                ("money_in", 9, 1, 2), ("reverse", 0, 3, 5), ("close", 0, 3, 1), ("close", 0, 2, 1),
                ("close", 0, 3, 1)])
def test_the_books_balance_and_a_closed_month_takes_nothing(session_factory, steps):
    demo = run(session_factory, seed_demo, f"b-{len(steps)}-{abs(hash(tuple(steps))) % 10**10}")
    system = Actor.system_actor(demo.org_id)
    closed: set[str] = set()
    posted: list[int] = []  # documents that may be reversed
    for kind, amount, month, day in steps:
        period = MONTHS[month]
        when = datetime(int(period[:4]), int(period[4:]), day, 10, tzinfo=SHANGHAI)
        if kind == "close":
            try:
                run(session_factory, close_period, system, ClosePeriod(period))
                closed.add(period)
            except (PeriodNotReady, InvalidState):
                pass
            continue
        if kind == "reopen":
            try:
                run(session_factory, reopen_period, system, ReopenPeriod(period, "更正"))
                assert period == max(closed)  # only the latest closed month reopens
                closed.discard(period)
            except InvalidState:
                assert period not in closed or period != max(closed)
            continue
        before = row_counts(session_factory, demo.org_id)
        try:
            if kind == "receive":
                done = receive(session_factory, demo, amount, business_time=when)
            elif kind == "sell":
                done = ship(session_factory, demo, 1, unit_price=amount, business_time=when)
            elif kind == "money_in":
                done = run(session_factory, receive_money, system,
                           RecordMoney(demo.parties["杭州茶城"], D(amount), business_time=when))
            elif kind == "money_out":
                done = run(session_factory, pay_money, system,
                           RecordMoney(demo.parties["王阿姨"], D(amount), business_time=when))
            elif posted:
                done = run(session_factory, reverse_document, system,
                           ReverseDocument(posted.pop(), "更正", business_time=when))
            else:
                continue
        except PeriodClosed:
            assert _locked(closed, period), (kind, period, closed)
            assert row_counts(session_factory, demo.org_id) == before  # nothing written
            continue
        except DomainError:  # not enough stock, a reversal that cannot be: refused as before
            assert row_counts(session_factory, demo.org_id) == before
            continue
        assert not _locked(closed, period), (kind, period, closed)  # it posted: the month was open
        posted.append(done.document_id)

    with session_factory() as s:
        for period in MONTHS:
            tb = trial_balance(s, demo.org_id, period)
            assert tb.balanced, period
            sheet = balance_sheet(s, demo.org_id, period)
            assert sheet.balanced and sheet.total_assets == sheet.total_liabilities_and_equity, period
            assert income_statement(s, demo.org_id, period).balanced
            # A closed month's numbers are 1..N, and its close left nothing on income and expenses.
            if period in closed:
                left = [r for r in tb.rows if r.category == AccountCategory.PROFIT_LOSS.value
                        and (r.closing_debit or r.closing_credit)]
                assert not left, (period, left)
                numbers = sorted(s.scalars(select(Voucher.number).where(
                    Voucher.org_id == demo.org_id, Voucher.period == period)))
                assert numbers == [f"记-{period}-{i:05d}" for i in range(1, len(numbers) + 1)]
    assert_books_ok(session_factory, demo.org_id)
