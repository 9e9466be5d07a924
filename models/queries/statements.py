"""The books' three reports: 科目余额表 (trial balance), 资产负债表 (balance sheet) and 利润表 (income
statement) in the 小企业会计准则 row layout (会小企01表, 会小企02表), and the list of periods.

Each report is one GROUP BY account over one org's voucher lines up to a day (conditional sums give
the columns), read through ``ix_voucher_lines_org_account_date`` (org, account, date; on PostgreSQL
with the amounts included, so from the index alone). Rows are then put together from the few
dozen account totals in Python. Every account lands in exactly one row, and every voucher balances,
so the reports balance by construction — and each one checks it and says so. 未分配利润 takes
本年利润 and every income and expense account not yet closed, so the balance sheet balances before
and after 结账; the income statement leaves out the closing vouchers (结转损益), which would
otherwise cancel the period's profit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import ColumnElement, case, func, select, type_coerce
from sqlalchemy.orm import Session

from models.finance import Account, AccountCategory, Voucher, VoucherLine
from models.periods import CLOSING_EVENT, AccountingPeriod, PeriodStatus, checked_period, period_days, period_label
from models.types import Money

ZERO = Decimal("0.00")

_BY_DIGIT = {"1": AccountCategory.ASSET, "2": AccountCategory.LIABILITY, "3": AccountCategory.EQUITY,
             "4": AccountCategory.COST, "5": AccountCategory.COST, "6": AccountCategory.PROFIT_LOSS}


@dataclass(frozen=True)
class _AccountInfo:
    name: str
    category: AccountCategory
    normal_side: str


def _chart(session: Session, org_id: int) -> dict[str, _AccountInfo]:
    return {a.code: _AccountInfo(a.name, a.category, a.normal_side)
            for a in session.scalars(select(Account).where(Account.org_id == org_id))}


def _info(chart: dict[str, _AccountInfo], code: str) -> _AccountInfo:
    """The org's account, or (a code no longer in its chart) the category its first digit gives."""
    found = chart.get(code)
    if found is not None:
        return found
    category = _BY_DIGIT.get(code[:1], AccountCategory.ASSET)
    side = "credit" if category in (AccountCategory.LIABILITY, AccountCategory.EQUITY) else "debit"
    return _AccountInfo(code, category, side)


def _net(condition: ColumnElement[bool]) -> ColumnElement[Decimal]:
    """Σ debit − credit of the lines meeting ``condition`` (to the fen on both databases)."""
    return type_coerce(func.sum(case((condition, VoucherLine.debit - VoucherLine.credit), else_=0)), Money())


def _amount(value: object) -> Decimal:
    return cast(Decimal, value) if value is not None else ZERO


# --- 科目余额表 -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrialBalanceRow:
    code: str
    name: str
    category: str
    opening_debit: Decimal
    opening_credit: Decimal
    debit: Decimal
    credit: Decimal
    closing_debit: Decimal
    closing_credit: Decimal


@dataclass(frozen=True)
class TrialBalance:
    period: str
    date_from: date
    date_to: date
    rows: list[TrialBalanceRow]
    totals: TrialBalanceRow
    #: Opening, the period's and closing debits each equal the credits.
    balanced: bool


def _sides(net: Decimal) -> tuple[Decimal, Decimal]:
    """A balance as (debit, credit): on the side it stands."""
    return (net, ZERO) if net >= 0 else (ZERO, -net)


def trial_balance(session: Session, org_id: int, period: str) -> TrialBalance:
    """科目余额表 of a period: per account the opening balance, the period's debits and credits and
    the closing balance (each on the side it stands)."""
    period = checked_period(period)
    first, last = period_days(period)
    day = VoucherLine.voucher_date
    rows = session.execute(
        select(VoucherLine.account_code, _net(day < first),
               type_coerce(func.sum(case((day >= first, VoucherLine.debit), else_=0)), Money()),
               type_coerce(func.sum(case((day >= first, VoucherLine.credit), else_=0)), Money()))
        .where(VoucherLine.org_id == org_id, day <= last)
        .group_by(VoucherLine.account_code).order_by(VoucherLine.account_code)).all()
    chart = _chart(session, org_id)
    out = []
    for code, opening, debit, credit in cast(list[tuple[str, Decimal, Decimal, Decimal]], rows):
        opening, debit, credit = _amount(opening), _amount(debit), _amount(credit)
        if not (opening or debit or credit):
            continue
        info = _info(chart, code)
        od, oc = _sides(opening)
        cd, cc = _sides(opening + debit - credit)
        out.append(TrialBalanceRow(code, info.name, info.category.value, od, oc, debit, credit, cd, cc))

    def total(attr: str) -> Decimal:
        return sum((getattr(r, attr) for r in out), ZERO)

    totals = TrialBalanceRow("", "合计", "", *(total(a) for a in (
        "opening_debit", "opening_credit", "debit", "credit", "closing_debit", "closing_credit")))
    balanced = (totals.opening_debit == totals.opening_credit and totals.debit == totals.credit
                and totals.closing_debit == totals.closing_credit)
    return TrialBalance(period, first, last, out, totals, balanced)


# --- 资产负债表 / 利润表 layouts ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Row:
    line: int
    label: str
    #: +1: the row shows debit − credit (assets, expenses); −1: credit − debit.
    natural: int
    codes: tuple[str, ...] = ()
    #: A subtotal: (line, sign) of the rows it adds.
    total: tuple[tuple[int, int], ...] = ()
    #: A "其中" row: shown, never added (its accounts are in another row).
    memo: bool = False


def _sum(*lines: int) -> tuple[tuple[int, int], ...]:
    return tuple((n, 1) for n in lines)


_A, _L = 1, -1
#: 会小企01表. Lines 1–30 assets, 31–53 liabilities and equity.
BALANCE_SHEET: tuple[_Row, ...] = (
    _Row(1, "货币资金", _A, ("1001", "1002", "1012")),
    _Row(2, "短期投资", _A, ("1101",)),
    _Row(3, "应收票据", _A, ("1121",)),
    _Row(4, "应收账款", _A, ("1122",)),
    _Row(5, "预付账款", _A, ("1123",)),
    _Row(6, "应收股利", _A, ("1131",)),
    _Row(7, "应收利息", _A, ("1132",)),
    _Row(8, "其他应收款", _A, ("1221",)),
    _Row(9, "存货", _A, ("1401", "1402", "1403", "1404", "1405", "1406", "1407", "1408", "1411", "1421",
                          "5001", "5101", "5201", "5301", "5401", "5402", "5403")),
    _Row(10, "其中：原材料", _A, ("1403",), memo=True),
    _Row(11, "在产品", _A, ("5001",), memo=True),
    _Row(12, "库存商品", _A, ("1405",), memo=True),
    _Row(13, "周转材料", _A, ("1411",), memo=True),
    _Row(14, "其他流动资产", _A, ("1901",)),
    _Row(15, "流动资产合计", _A, total=_sum(1, 2, 3, 4, 5, 6, 7, 8, 9, 14)),
    _Row(16, "长期债券投资", _A, ("1501",)),
    _Row(17, "长期股权投资", _A, ("1511",)),
    _Row(18, "固定资产原价", _A, ("1601",)),
    _Row(19, "减：累计折旧", _L, ("1602",)),
    _Row(20, "固定资产账面价值", _A, total=((18, 1), (19, -1))),
    _Row(21, "在建工程", _A, ("1604",)),
    _Row(22, "工程物资", _A, ("1605",)),
    _Row(23, "固定资产清理", _A, ("1606",)),
    _Row(24, "生产性生物资产", _A, ("1621", "1622")),
    _Row(25, "无形资产", _A, ("1701", "1702")),
    _Row(26, "开发支出", _A, ()),
    _Row(27, "长期待摊费用", _A, ("1801",)),
    _Row(28, "其他非流动资产", _A, ()),
    _Row(29, "非流动资产合计", _A, total=_sum(16, 17, 20, 21, 22, 23, 24, 25, 26, 27, 28)),
    _Row(30, "资产总计", _A, total=_sum(15, 29)),
    _Row(31, "短期借款", _L, ("2001",)),
    _Row(32, "应付票据", _L, ("2201",)),
    _Row(33, "应付账款", _L, ("2202",)),
    _Row(34, "预收账款", _L, ("2203",)),
    _Row(35, "应付职工薪酬", _L, ("2211",)),
    _Row(36, "应交税费", _L, ("2221",)),
    _Row(37, "应付利息", _L, ("2231",)),
    _Row(38, "应付利润", _L, ("2232",)),
    _Row(39, "其他应付款", _L, ("2241",)),
    _Row(40, "其他流动负债", _L, ()),
    _Row(41, "流动负债合计", _L, total=_sum(31, 32, 33, 34, 35, 36, 37, 38, 39, 40)),
    _Row(42, "长期借款", _L, ("2501",)),
    _Row(43, "长期应付款", _L, ("2701",)),
    _Row(44, "递延收益", _L, ("2401",)),
    _Row(45, "其他非流动负债", _L, ()),
    _Row(46, "非流动负债合计", _L, total=_sum(42, 43, 44, 45)),
    _Row(47, "负债合计", _L, total=_sum(41, 46)),
    _Row(48, "实收资本（或股本）", _L, ("3001",)),
    _Row(49, "资本公积", _L, ("3002",)),
    _Row(50, "盈余公积", _L, ("3101",)),
    _Row(51, "未分配利润", _L, ("3103", "3104")),
    _Row(52, "所有者权益（或股东权益）合计", _L, total=_sum(48, 49, 50, 51)),
    _Row(53, "负债和所有者权益（或股东权益）总计", _L, total=_sum(47, 52)),
)
#: Where an account no row names goes, by category (未分配利润 also takes every income and expense account).
_BS_OTHER = {AccountCategory.ASSET: 14, AccountCategory.COST: 9, AccountCategory.LIABILITY: 40,
             AccountCategory.EQUITY: 51, AccountCategory.PROFIT_LOSS: 51}
BS_ASSETS, BS_LIABILITIES_EQUITY = 30, 53

_D, _C = 1, -1
#: 会小企02表.
INCOME_STATEMENT: tuple[_Row, ...] = (
    _Row(1, "一、营业收入", _C, ("6001", "6051")),
    _Row(2, "减：营业成本", _D, ("6401", "6402")),
    _Row(3, "税金及附加", _D, ("6403",)),
    _Row(4, "销售费用", _D, ("6601",)),
    _Row(5, "管理费用", _D, ("6602",)),
    _Row(6, "财务费用", _D, ("6603",)),
    _Row(7, "加：投资收益（损失以“-”号填列）", _C, ("6111",)),
    _Row(8, "二、营业利润（亏损以“-”号填列）", _C, total=((1, 1), (2, -1), (3, -1), (4, -1), (5, -1), (6, -1),
                                                     (7, 1))),
    _Row(9, "加：营业外收入", _C, ("6301",)),
    _Row(10, "减：营业外支出", _D, ("6711",)),
    _Row(11, "三、利润总额（亏损总额以“-”号填列）", _C, total=((8, 1), (9, 1), (10, -1))),
    _Row(12, "减：所得税费用", _D, ("6801",)),
    _Row(13, "四、净利润（净亏损以“-”号填列）", _C, total=((11, 1), (12, -1))),
)
IS_NET_PROFIT = 13


def _layout(rows: tuple[_Row, ...], nets: dict[str, Decimal], other: dict[str, int]) -> dict[int, Decimal]:
    """Each row's amount from the accounts' debit − credit (``other``: code → the row an account no
    row names goes to)."""
    named = {code: row.line for row in rows if not row.memo for code in row.codes}
    per_line: dict[int, Decimal] = {row.line: ZERO for row in rows}
    by_line = {row.line: row for row in rows}
    for code, net in nets.items():
        line = named.get(code, other.get(code))
        if line is not None:
            per_line[line] += net * by_line[line].natural
    for row in rows:
        if row.memo:
            per_line[row.line] = sum((nets.get(c, ZERO) * row.natural for c in row.codes), ZERO)
        elif row.total:
            per_line[row.line] = sum((per_line[n] * sign for n, sign in row.total), ZERO)
    return per_line


@dataclass(frozen=True)
class StatementRow:
    line: int
    label: str
    #: 期末余额 (balance sheet) / 本期金额 (income statement).
    amount: Decimal
    #: 年初余额 (balance sheet) / 本年累计金额 (income statement).
    other: Decimal
    subtotal: bool


@dataclass(frozen=True)
class BalanceSheet:
    period: str
    as_of: date
    year_start: date
    assets: list[StatementRow]
    liabilities_and_equity: list[StatementRow]
    total_assets: Decimal
    total_liabilities_and_equity: Decimal
    #: 资产总计 = 负债和所有者权益总计, at the period end and at the year's start.
    balanced: bool


def balance_sheet(session: Session, org_id: int, period: str) -> BalanceSheet:
    """资产负债表 as of the end of ``period`` (年初余额: as of the start of its year)."""
    period = checked_period(period)
    _first, last = period_days(period)
    year_start = date(last.year, 1, 1)
    day = VoucherLine.voucher_date
    rows = cast(list[tuple[str, Decimal, Decimal]], session.execute(
        select(VoucherLine.account_code, _net(day <= last), _net(day < year_start))
        .where(VoucherLine.org_id == org_id, day <= last)
        .group_by(VoucherLine.account_code)).all())
    chart = _chart(session, org_id)
    other = {code: _BS_OTHER[_info(chart, code).category] for code, *_rest in rows}
    end = _layout(BALANCE_SHEET, {c: _amount(n) for c, n, _y in rows}, other)
    start = _layout(BALANCE_SHEET, {c: _amount(y) for c, _n, y in rows}, other)
    made = [StatementRow(r.line, r.label, end[r.line], start[r.line], bool(r.total)) for r in BALANCE_SHEET]
    balanced = (end[BS_ASSETS] == end[BS_LIABILITIES_EQUITY] and start[BS_ASSETS] == start[BS_LIABILITIES_EQUITY])
    return BalanceSheet(period, last, year_start, [r for r in made if r.line <= BS_ASSETS],
                        [r for r in made if r.line > BS_ASSETS], end[BS_ASSETS], end[BS_LIABILITIES_EQUITY],
                        balanced)


@dataclass(frozen=True)
class IncomeStatement:
    period: str
    date_from: date
    date_to: date
    year_from: date
    rows: list[StatementRow]
    net_profit: Decimal
    net_profit_ytd: Decimal
    #: The net profit equals what the income and expense accounts themselves say (credits − debits).
    balanced: bool


def _pl_codes(session: Session, org_id: int, chart: dict[str, _AccountInfo]) -> list[str]:
    used = session.scalars(select(VoucherLine.account_code).where(
        VoucherLine.org_id == org_id, VoucherLine.account_code.like("6%")).distinct())
    return sorted({c for c, a in chart.items() if a.category == AccountCategory.PROFIT_LOSS} | set(used))


def income_statement(session: Session, org_id: int, period: str) -> IncomeStatement:
    """利润表 of ``period`` (本期金额) and of its year up to it (本年累计金额), closing vouchers left out."""
    period = checked_period(period)
    first, last = period_days(period)
    year_from = date(last.year, 1, 1)
    chart = _chart(session, org_id)
    codes = _pl_codes(session, org_id, chart)
    day = VoucherLine.voucher_date
    in_year = (VoucherLine.org_id == org_id, VoucherLine.account_code.in_(codes), day >= year_from, day <= last)
    columns = (VoucherLine.account_code, _net(day >= first), _net(day >= year_from))
    nets: dict[str, list[Decimal]] = {}
    for code, month, year in cast(list[tuple[str, Decimal, Decimal]], session.execute(
            select(*columns).where(*in_year).group_by(VoucherLine.account_code)).all()):
        nets[code] = [_amount(month), _amount(year)]
    closing = (select(*columns).join(Voucher, Voucher.id == VoucherLine.voucher_id)
               .where(*in_year, Voucher.org_id == org_id, Voucher.event == CLOSING_EVENT)
               .group_by(VoucherLine.account_code))
    for code, month, year in cast(list[tuple[str, Decimal, Decimal]], session.execute(closing).all()):
        nets[code][0] -= _amount(month)
        nets[code][1] -= _amount(year)
    other = {c: (9 if _info(chart, c).normal_side == "credit" else 10) for c in nets}
    month_rows = _layout(INCOME_STATEMENT, {c: v[0] for c, v in nets.items()}, other)
    year_rows = _layout(INCOME_STATEMENT, {c: v[1] for c, v in nets.items()}, other)
    rows = [StatementRow(r.line, r.label, month_rows[r.line], year_rows[r.line], bool(r.total))
            for r in INCOME_STATEMENT]
    own = -sum((v[0] for v in nets.values()), ZERO), -sum((v[1] for v in nets.values()), ZERO)
    balanced = (month_rows[IS_NET_PROFIT], year_rows[IS_NET_PROFIT]) == own
    return IncomeStatement(period, first, last, year_from, rows, month_rows[IS_NET_PROFIT],
                           year_rows[IS_NET_PROFIT], balanced)


# --- periods ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PeriodRow:
    period: str
    label: str
    status: str
    vouchers: int
    closed_at: datetime | None
    reopened_at: datetime | None
    reason: str


def periods(session: Session, org_id: int, *, limit: int = 36) -> list[PeriodRow]:
    """The org's periods with vouchers or a close on record, newest first, with their status."""
    counts = dict(cast(Iterable[tuple[str, int]], session.execute(
        select(Voucher.period, func.count()).where(Voucher.org_id == org_id).group_by(Voucher.period)).all()))
    rows = {p.period: p for p in session.scalars(select(AccountingPeriod).where(AccountingPeriod.org_id == org_id))}
    out = []
    for period in sorted(set(counts) | set(rows), reverse=True)[:limit]:
        row = rows.get(period)
        out.append(PeriodRow(period, period_label(period), row.status.value if row else PeriodStatus.OPEN.value,
                             counts.get(period, 0), row.closed_at if row else None,
                             row.reopened_at if row else None, row.reason if row else ""))
    return out
