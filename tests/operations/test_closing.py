"""结账 / 反结账: checks, the closing voucher, gap-free numbers, the lock on a closed period, and the
three statements before and after a close."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.audit import AuditEntry
from models.errors import InvalidState, PeriodClosed, PeriodNotReady, PermissionDenied, ValidationError
from models.finance import Voucher, VoucherLine
from models.infra import OutboxEvent
from models.numbering import allocate
from models.operations import ReverseDocument, reverse_document
from models.operations.closing import CLOSING_EVENT, ClosePeriod, ReopenPeriod, close_period, reopen_period
from models.operations.money import RecordMoney, receive_money
from models.periods import AccountingPeriod
from models.queries.statements import balance_sheet, income_statement, periods, trial_balance
from models.timeutil import SHANGHAI, period_of
from models.uow import run
from tests.factories import assert_books_ok, receive, row_counts, ship

NOV = "202611"
OCT = "202610"


def at(day: int, month: int = 11, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def _numbers(session_factory, org_id: int, period: str) -> list[tuple[str, str]]:
    with session_factory() as s:
        return list(s.execute(select(Voucher.number, Voucher.event).where(
            Voucher.org_id == org_id, Voucher.period == period).order_by(Voucher.number)).all())


def _account(session_factory, org_id: int, code: str, through: datetime) -> D:
    with session_factory() as s:
        return s.scalar(select(func.coalesce(func.sum(VoucherLine.debit - VoucherLine.credit), 0)).where(
            VoucherLine.org_id == org_id, VoucherLine.account_code == code,
            VoucherLine.voucher_date <= through.date())) or D(0)


def _month(session_factory, demo) -> None:
    """Buy 100 kg and sell 30 kg at 100 in November; a customer pays 1000."""
    receive(session_factory, demo, 100, business_time=at(3))
    ship(session_factory, demo, 30, unit_price=100, business_time=at(10))
    run(session_factory, receive_money, _system(demo), RecordMoney(demo.parties["杭州茶城"], D("1000"),
                                                                   business_time=at(20)))


def _system(demo):
    from models.actor import Actor
    return Actor.system_actor(demo.org_id)


def test_close_moves_profit_to_本年利润_numbers_gap_free_and_the_statements_agree(session_factory, demo, actors):
    _month(session_factory, demo)
    before = income_statement_of(session_factory, demo)
    assert before.net_profit > 0 and before.balanced

    state = run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    assert state.status == "closed" and state.profit == before.net_profit
    numbers = _numbers(session_factory, demo.org_id, NOV)
    assert [n for n, _e in numbers] == [f"记-{NOV}-{i:05d}" for i in range(1, len(numbers) + 1)]
    assert numbers[-1] == (state.closing_voucher_number, CLOSING_EVENT) and state.voucher_count == len(numbers)
    # Every income and expense account is empty at the month end; 本年利润 holds the profit.
    for code in ("6001", "6401"):
        assert _account(session_factory, demo.org_id, code, at(30)) == 0
    assert -_account(session_factory, demo.org_id, "3103", at(30)) == state.profit

    after = income_statement_of(session_factory, demo)
    assert after.net_profit == before.net_profit and after.balanced  # the closing voucher is left out
    with session_factory() as s:
        sheet = balance_sheet(s, demo.org_id, NOV)
        tb = trial_balance(s, demo.org_id, NOV)
    assert sheet.balanced and sheet.total_assets == sheet.total_liabilities_and_equity
    assert next(r.amount for r in sheet.liabilities_and_equity if r.label == "未分配利润") == state.profit
    assert tb.balanced and tb.totals.debit == tb.totals.credit
    assert {r.code for r in tb.rows} >= {"1122", "1405", "6001", "6401", "3103"}
    audit_and_events(session_factory, demo, "period.close", "period.closed")
    assert_books_ok(session_factory, demo.org_id)


def income_statement_of(session_factory, demo, period: str = NOV):
    with session_factory() as s:
        return income_statement(s, demo.org_id, period)


def audit_and_events(session_factory, demo, action: str, event: str) -> None:
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.action == action)) == 1
        assert s.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == event)) == 1


def test_nothing_posts_into_a_closed_period_and_a_correction_goes_into_the_open_one(session_factory, demo, actors):
    _month(session_factory, demo)
    shipped = ship(session_factory, demo, 5, unit_price=120, business_time=at(12))
    run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    counts = row_counts(session_factory, demo.org_id)
    with pytest.raises(PeriodClosed, match="2026年11月已结账"):
        receive(session_factory, demo, 10, business_time=at(25))  # the posting writer's path
    with pytest.raises(PeriodClosed):
        run(session_factory, receive_money, _system(demo), RecordMoney(demo.parties["杭州茶城"], D("5"),
                                                                       business_time=at(25)))  # the ORM path
    with pytest.raises(PeriodClosed):
        run(session_factory, reverse_document, _system(demo), ReverseDocument(shipped.document_id, "价格错",
                                                                              business_time=at(26)))
    assert row_counts(session_factory, demo.org_id) == counts
    # The reversal dated now lands in the open period; the closed one is untouched.
    closed = _numbers(session_factory, demo.org_id, NOV)
    rev = run(session_factory, reverse_document, _system(demo), ReverseDocument(shipped.document_id, "价格错"))
    assert all(n.startswith(f"记-{period_of(datetime.now(SHANGHAI))}-") for n in rev.voucher_numbers)
    assert _numbers(session_factory, demo.org_id, NOV) == closed


def test_reopen_with_a_reason_then_post_then_close_again(session_factory, demo, actors):
    _month(session_factory, demo)
    first = run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    with pytest.raises(PermissionDenied):
        run(session_factory, reopen_period, actors["吴会计"], ReopenPeriod(NOV, "补单"))
    with pytest.raises(ValidationError):
        run(session_factory, reopen_period, actors["钱总监"], ReopenPeriod(NOV, "  "))
    reopened = run(session_factory, reopen_period, actors["钱总监"], ReopenPeriod(NOV, "漏记一笔销售"))
    assert reopened.status == "open" and reopened.reason == "漏记一笔销售"
    audit_and_events(session_factory, demo, "period.reopen", "period.reopened")
    ship(session_factory, demo, 10, unit_price=200, business_time=at(28))  # posts again
    second = run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    numbers = _numbers(session_factory, demo.org_id, NOV)
    assert [n for n, _e in numbers] == [f"记-{NOV}-{i:05d}" for i in range(1, len(numbers) + 1)]
    assert [e for _n, e in numbers[-2:]] == [CLOSING_EVENT, CLOSING_EVENT]  # both closings last
    assert second.profit > 0 and first.profit + second.profit == income_statement_of(
        session_factory, demo).net_profit
    assert _account(session_factory, demo.org_id, "6001", at(30)) == 0
    with session_factory() as s:
        listed = {p.period: p for p in periods(s, demo.org_id)}
    assert listed[NOV].status == "closed" and listed[NOV].vouchers == len(numbers)


def test_close_refuses_with_the_list_of_what_fails_and_writes_nothing(session_factory, demo, actors):
    receive(session_factory, demo, 10, business_time=at(20, month=10))  # October, not closed
    draft = receive(session_factory, demo, 5000, business_time=at(4))  # above the review limit: a draft
    assert draft.status == "draft"
    counts = row_counts(session_factory, demo.org_id)
    with pytest.raises(PeriodNotReady) as refused:
        run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    problems = refused.value.details["problems"]
    assert any("草稿" in p and draft.number in p for p in problems)
    assert any("上一期间2026年10月尚未结账" in p for p in problems)
    assert row_counts(session_factory, demo.org_id) == counts
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(AccountingPeriod).where(
            AccountingPeriod.org_id == demo.org_id)) == 0
    # October first, then November (the draft still blocks it).
    run(session_factory, close_period, actors["吴会计"], ClosePeriod(OCT))
    with pytest.raises(PeriodNotReady, match="草稿"):
        run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    with pytest.raises(InvalidState, match="没有结账"):
        run(session_factory, reopen_period, actors["钱总监"], ReopenPeriod(NOV, "x"))


def test_reopen_goes_backwards_from_the_latest_closed_period(session_factory, demo, actors):
    receive(session_factory, demo, 10, business_time=at(20, month=10))
    receive(session_factory, demo, 10, business_time=at(20))
    run(session_factory, close_period, actors["吴会计"], ClosePeriod(OCT))
    run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    with pytest.raises(InvalidState, match="请先反结账2026年11月"):
        run(session_factory, reopen_period, actors["钱总监"], ReopenPeriod(OCT, "改十月"))
    with pytest.raises(InvalidState, match="已结账"):
        run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    run(session_factory, reopen_period, actors["钱总监"], ReopenPeriod(NOV, "改十月"))
    run(session_factory, reopen_period, actors["钱总监"], ReopenPeriod(OCT, "改十月"))


@pytest.mark.parametrize("period", ["2026-11", "202613", "abc", "209912"])
def test_close_refuses_a_malformed_or_future_period(session_factory, demo, actors, period):
    with pytest.raises(ValidationError):
        run(session_factory, close_period, actors["吴会计"], ClosePeriod(period))


def test_a_number_lost_to_a_gap_is_taken_back_at_close(session_factory, demo, actors):
    receive(session_factory, demo, 10, business_time=at(2))
    with session_factory() as s:  # a number taken and never used (a gap in the posted numbers)
        allocate(s, demo.org_id, "voucher", NOV)
        s.commit()
    receive(session_factory, demo, 10, business_time=at(1))  # earlier date, later id
    receive(session_factory, demo, 10, business_time=at(3))
    before = _numbers(session_factory, demo.org_id, NOV)
    assert len(before) == 3 and "00002" not in [n[-5:] for n, _e in before]  # (on PostgreSQL, blocks may leave more)
    run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    with session_factory() as s:
        rows = list(s.execute(select(Voucher.number, Voucher.voucher_date).where(
            Voucher.org_id == demo.org_id, Voucher.period == NOV).order_by(Voucher.number)).all())
    assert [n[-5:] for n, _d in rows] == ["00001", "00002", "00003"]
    assert [d.day for _n, d in rows] == [1, 2, 3]  # in date order


def test_the_books_are_closed_through_the_latest_closed_period(session_factory, demo, actors):
    """An empty month before the closed one is locked too: it would change the closed month's opening."""
    receive(session_factory, demo, 10, business_time=at(20, month=10))
    run(session_factory, close_period, actors["吴会计"], ClosePeriod(OCT))
    counts = row_counts(session_factory, demo.org_id)
    with pytest.raises(PeriodClosed, match="账已结到2026年10月，2026年9月不能再记入"):
        receive(session_factory, demo, 10, business_time=at(20, month=9))
    assert row_counts(session_factory, demo.org_id) == counts
    receive(session_factory, demo, 10, business_time=at(2))  # November is open


def test_a_locked_counter_refuses_a_posting_as_period_closed_when_the_snapshot_said_open(
        session_factory, engine, demo, actors):
    """The backstop under ensure_open: a posting whose snapshot still read the period as open meets the
    counter locked at close (ck_number_sequences_open) and is refused as PERIOD_CLOSED, not as a bare
    CONFLICT (models.uow.as_conflict), with nothing written."""
    from sqlalchemy import update

    from models import number_blocks
    from models.documents import NumberSequence

    receive(session_factory, demo, 10, business_time=at(3))
    with session_factory() as s:  # the counter as a close leaves it, with no period row (so: "open")
        s.execute(update(NumberSequence).where(
            NumberSequence.org_id == demo.org_id, NumberSequence.series == "voucher", NumberSequence.period == NOV,
        ).values(locked_through=NumberSequence.last))
        s.commit()
    number_blocks.forget(engine.url.render_as_string(hide_password=False))  # no number held ahead
    counts = row_counts(session_factory, demo.org_id)
    with pytest.raises(PeriodClosed) as refused:
        receive(session_factory, demo, 10, business_time=at(4))
    assert refused.value.code == "PERIOD_CLOSED"
    assert row_counts(session_factory, demo.org_id) == counts


def test_matching_after_a_close_does_not_change_the_closed_months_aging(session_factory, demo, actors):
    """Sold 300 on 11-10, an advance of 100 on 11-20 left unapplied, November closed; 核销 in
    December. Aging as of 11-30 reads as it did at the close; as of today the advance is applied."""
    from datetime import date

    from models.base import utcnow
    from models.operations.money import MatchOpenItems, match_open_items
    from models.queries.receivables import aging
    from models.subledger import Side
    from models.timeutil import local_date

    receive(session_factory, demo, 100, business_time=at(3))
    ship(session_factory, demo, 3, unit_price=100, business_time=at(10))
    run(session_factory, receive_money, _system(demo), RecordMoney(demo.parties["杭州茶城"], D(100), matches=(),
                                                                   business_time=at(20)))
    end_of_november = date(2026, 11, 30)

    def november() -> dict[str, D]:
        with session_factory() as s:
            report = aging(s, demo.org_id, Side.RECEIVABLE, end_of_november, "document")
        return {k: v for k, v in report.totals.items() if v}

    at_close = november()
    assert at_close == {"d1_30": D("300.00"), "unapplied": D("-100.00")}
    run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    result = run(session_factory, match_open_items, _system(demo), MatchOpenItems(demo.parties["杭州茶城"],
                                                                                 Side.RECEIVABLE))
    assert sum(m.amount for m in result.matched) == D("100.00")
    assert november() == at_close  # the closed month is not rewritten …
    with session_factory() as s:
        now = aging(s, demo.org_id, Side.RECEIVABLE, local_date(utcnow()), "document")
    assert now.totals["unapplied"] == 0 and now.total == D("200.00")  # … the open one shows the 核销
