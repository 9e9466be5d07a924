"""The three finance reports as PDF to print (科目余额表, 资产负债表, 利润表), beside their .xlsx in
``exports.books_xlsx``: the same rows, a title, and the report's own check in words under the table.
Built with the PDF helpers of ``exports.pdf`` (same font, grid and page set-up as the other papers)."""

from __future__ import annotations

from typing import Any

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer

from exports.amounts import money_text
from exports.pdf import _BODY, _SUB, _TITLE, _build, _p, _table
from exports.shapes import BalanceSheetLike, IncomeStatementLike, ReportRowLike, TrialBalanceLike


def _period(period: str) -> str:
    return f"{int(period[:4])}年{int(period[4:])}月" if len(period) == 6 and period.isdigit() else period


def _check(ok: bool, what: str) -> str:
    return f"{what}：{'平衡' if ok else '不平衡，请核查'}"


def _m(value: Any) -> str:
    return money_text(value) if value else ""


def _head(title: str, org_name: str, subtitle: str) -> list[Flowable]:
    return [_p(title, _TITLE), _p(org_name, _SUB), _p(subtitle, _SUB), Spacer(0, 3 * mm)]


def trial_balance_pdf(report: TrialBalanceLike, org_name: str) -> bytes:
    """科目余额表: per account 期初 / 本期 / 期末 借方 and 贷方, the totals, the balance check."""
    pagesize = landscape(A4)
    width = pagesize[0] - 24 * mm
    heads = ["科目编码", "科目名称", "期初借方", "期初贷方", "本期借方", "本期贷方", "期末借方", "期末贷方"]
    rows: list[list[Any]] = [heads]
    for r in [*report.rows, report.totals]:
        rows.append([r.code if r is not report.totals else "合计", _p(r.name if r is not report.totals else ""),
                     _m(r.opening_debit), _m(r.opening_credit), _m(r.debit), _m(r.credit), _m(r.closing_debit),
                     _m(r.closing_credit)])
    story = _head("科目余额表", org_name, f"{_period(report.period)}（{report.date_from.isoformat()} 至 "
                                        f"{report.date_to.isoformat()}）· 单位：元")
    story += [_table(rows, [width * f for f in (0.1, 0.18, *(0.12,) * 6)], [("ALIGN", (2, 1), (-1, -1), "RIGHT")]),
              Spacer(0, 3 * mm), _p(_check(report.balanced, "借贷"), _BODY)]
    return _build(story, pagesize, f"科目余额表 {report.period}")


def _rows(rows: Any) -> list[list[Any]]:
    return [[_p(r.label), str(r.line), _m(r.amount), _m(r.other)] for r in rows]


def balance_sheet_pdf(report: BalanceSheetLike, org_name: str) -> bytes:
    """资产负债表 (会小企01表): 资产, then 负债和所有者权益, each with 行次, 期末余额 and 年初余额."""
    pagesize = A4
    width = pagesize[0] - 24 * mm
    widths = [width * f for f in (0.52, 0.1, 0.19, 0.19)]
    left: list[ReportRowLike] = list(report.assets)
    right: list[ReportRowLike] = list(report.liabilities_and_equity)
    story = _head("资产负债表", org_name, f"会小企01表 · {report.as_of.isoformat()} · 单位：元")
    story += [_table([["资产", "行次", "期末余额", "年初余额"], *_rows(left)], widths,
                     [("ALIGN", (2, 1), (-1, -1), "RIGHT")]), Spacer(0, 3 * mm),
              _table([["负债和所有者权益", "行次", "期末余额", "年初余额"], *_rows(right)], widths,
                     [("ALIGN", (2, 1), (-1, -1), "RIGHT")]), Spacer(0, 3 * mm),
              _p(_check(report.balanced, "资产总计 = 负债和所有者权益总计"), _BODY)]
    return _build(story, pagesize, f"资产负债表 {report.period}")


def income_statement_pdf(report: IncomeStatementLike, org_name: str) -> bytes:
    """利润表 (会小企02表): 项目, 行次, 本期金额, 本年累计金额."""
    pagesize = A4
    width = pagesize[0] - 24 * mm
    story = _head("利润表", org_name, f"会小企02表 · {_period(report.period)} · 单位：元")
    story += [_table([["项目", "行次", "本期金额", "本年累计金额"], *_rows(report.rows)],
                     [width * f for f in (0.52, 0.1, 0.19, 0.19)], [("ALIGN", (2, 1), (-1, -1), "RIGHT")]),
              Spacer(0, 3 * mm), _p(_check(report.balanced, "净利润与损益类科目核对"), _BODY)]
    return _build(story, pagesize, f"利润表 {report.period}")
