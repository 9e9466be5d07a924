"""The finance reports that came after the first exports, as .xlsx: 科目余额表, 资产负债表, 利润表,
订单毛利, 增值税汇总 and the cash forecast (72小时现金).

Built on ``exports.xlsx`` (Sheet → workbook): a title row, a subtitle, Chinese headers, amounts as
number cells, a totals row and, under the table, the report's own check (借贷平衡, 资产 = 负债 + 权益,
票面税额 = 账面税额) in words, so a printed sheet says whether its figures agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from exports.shapes import (
    BalanceSheetLike,
    CashForecastLike,
    IncomeStatementLike,
    MarginFiguresLike,
    MarginRollupLike,
    ReportRowLike,
    TrialBalanceLike,
    VatSummaryLike,
)
from exports.xlsx import Column, Kind, Sheet, local_naive, title_rows, workbook

#: The margin rollup's first column, by group_by.
GROUP_HEADS = {"customer": "客户", "item": "商品", "site": "地点", "month": "月份"}
VAT_KINDS = {"shipment": "出库（销项）", "receipt": "收货（进项）"}
DIRECTIONS = {"in": "流入", "out": "流出"}


def _period(period: str) -> str:
    return f"{int(period[:4])}年{int(period[4:])}月" if len(period) == 6 and period.isdigit() else period


def _check(ok: bool, what: str) -> str:
    return f"{what}：{'平衡' if ok else '不平衡，请核查'}"


def _when(value: datetime) -> str:
    return f"{local_naive(value):%Y-%m-%d %H:%M}"


# -- 科目余额表 ------------------------------------------------------------------------------------

def trial_balance_xlsx(report: TrialBalanceLike, org_name: str) -> bytes:
    """科目余额表: per account 期初 / 本期 / 期末, each on its debit or credit side; the totals row."""
    money = ("期初借方", "期初贷方", "本期借方", "本期贷方", "期末借方", "期末贷方")
    columns = [Column("科目编码"), Column("科目名称"), *(Column(h, Kind.MONEY) for h in money)]

    def figures(r: Any) -> list[Decimal]:
        return [r.opening_debit, r.opening_credit, r.debit, r.credit, r.closing_debit, r.closing_credit]

    return workbook([Sheet(
        name="科目余额表", columns=columns, rows=[[r.code, r.name, *figures(r)] for r in report.rows],
        title=title_rows(org_name, "科目余额表", f"{_period(report.period)}（{report.date_from.isoformat()} 至 "
                                             f"{report.date_to.isoformat()}）· 单位：元"),
        totals=["合计", "", *figures(report.totals)],
        footer=(_check(report.balanced, "借贷"),),
    )])


# -- 资产负债表 / 利润表 ------------------------------------------------------------------------------

def balance_sheet_xlsx(report: BalanceSheetLike, org_name: str) -> bytes:
    """资产负债表 (会小企01表) side by side as printed: 资产 on the left, 负债和所有者权益 on the right,
    each with 行次, 期末余额 and 年初余额."""
    columns = [Column("资产"), Column("行次", Kind.INT), Column("期末余额", Kind.MONEY), Column("年初余额", Kind.MONEY),
               Column("负债和所有者权益（或股东权益）"), Column("行次", Kind.INT), Column("期末余额", Kind.MONEY),
               Column("年初余额", Kind.MONEY)]
    left, right = list(report.assets), list(report.liabilities_and_equity)

    def cells(row: ReportRowLike | None) -> list[Any]:
        return [row.label, row.line, row.amount, row.other] if row is not None else [None] * 4

    rows = [cells(left[n] if n < len(left) else None) + cells(right[n] if n < len(right) else None)
            for n in range(max(len(left), len(right)))]
    return workbook([Sheet(
        name="资产负债表", columns=columns, rows=rows,
        title=title_rows(org_name, "资产负债表", f"会小企01表 · {report.as_of.isoformat()} · 单位：元"),
        footer=(_check(report.balanced, "资产总计 = 负债和所有者权益总计"),),
    )])


def income_statement_xlsx(report: IncomeStatementLike, org_name: str) -> bytes:
    """利润表 (会小企02表): 项目, 行次, 本期金额, 本年累计金额."""
    columns = [Column("项目"), Column("行次", Kind.INT), Column("本期金额", Kind.MONEY),
               Column("本年累计金额", Kind.MONEY)]
    return workbook([Sheet(
        name="利润表", columns=columns, rows=[[r.label, r.line, r.amount, r.other] for r in report.rows],
        title=title_rows(org_name, "利润表", f"会小企02表 · {_period(report.period)}（本年累计自 "
                                          f"{report.year_from.isoformat()}）· 单位：元"),
        footer=(_check(report.balanced, "净利润与损益类科目核对"),),
    )])


# -- 订单毛利 --------------------------------------------------------------------------------------

def margin_xlsx(report: MarginRollupLike, org_name: str) -> bytes:
    """订单毛利 by customer, item, site or month: 收入, 成本, 费用, 毛利, 毛利率(%); the weighted totals."""
    head = GROUP_HEADS.get(report.group_by, report.group_by)
    columns = [Column(head), Column("收入", Kind.MONEY), Column("成本", Kind.MONEY), Column("费用", Kind.MONEY),
               Column("毛利", Kind.MONEY), Column("毛利率(%)", Kind.QTY)]

    def figures(f: MarginFiguresLike) -> list[Any]:
        return [f.revenue, f.cost, f.extras, f.margin, f.margin_pct]  # no revenue: no %, an empty cell

    footer = [f"出库单 {report.shipments} 张；毛利率为加权（毛利合计 ÷ 收入合计）"]
    if report.unallocated_extras:
        footer.append(f"另有未分摊到出库的订单费用：{report.unallocated_extras:,.2f}（不在上表中）")
    return workbook([Sheet(
        name=f"订单毛利_按{head}", columns=columns, rows=[[r.label, *figures(r.figures)] for r in report.rows],
        title=title_rows(org_name, f"订单毛利（按{head}）",
                         f"出库日期 {report.date_from.isoformat()} 至 {report.date_to.isoformat()} · 单位：元"),
        totals=["合计", *figures(report.totals)], footer=footer,
    )])


# -- 增值税汇总 ------------------------------------------------------------------------------------

def vat_summary_xlsx(report: VatSummaryLike, org_name: str) -> bytes:
    """增值税汇总: a sheet by rate (sales, output tax, purchases, input tax; totals; the books' figures
    and the tax payable under it) and a sheet of the month's documents with their invoice numbers."""
    subtitle = f"{_period(report.period)}（{report.date_from.isoformat()} 至 {report.date_to.isoformat()}）· 单位：元"
    by_rate = Sheet(
        name="按税率", columns=[Column("税率", Kind.PERCENT), Column("销售额", Kind.MONEY),
                                Column("销项税额", Kind.MONEY), Column("采购额", Kind.MONEY),
                                Column("进项税额", Kind.MONEY)],
        rows=[[r.rate if r.rate is not None else "未记税率", r.sales, r.output_tax, r.purchases, r.input_tax]
              for r in report.rates],
        title=title_rows(org_name, "增值税汇总", subtitle),
        totals=["合计", report.sales, report.output_tax, report.purchases, report.input_tax],
        footer=(f"账面销项税额（222102）：{report.output_tax_booked:,.2f}；"
                f"账面进项税额（222101）：{report.input_tax_booked:,.2f}",
                f"应纳税额：{report.tax_payable:,.2f}" + ("（负数为留抵）" if report.tax_payable < 0 else ""),
                f"单据税额与账面{'一致' if report.balanced else '不一致，请核查'}"),
    )
    documents = Sheet(
        name="单据", columns=[Column("日期", Kind.DATE), Column("单据号"), Column("类型"), Column("往来单位"),
                              Column("发票号码"), Column("不含税金额", Kind.MONEY), Column("税率", Kind.PERCENT),
                              Column("税额", Kind.MONEY), Column("备注")],
        rows=[[d.business_date, d.number, VAT_KINDS.get(d.kind, d.kind), d.party_name, d.invoice_number or "",
               d.amount, d.rate, d.tax, "冲销" if d.reverses_document_id else ""] for d in report.documents],
        title=title_rows(org_name, "增值税汇总 · 单据", subtitle),
        footer=("单据较多，仅列出前面部分；合计以“按税率”表为准",) if report.documents_truncated else (),
    )
    return workbook([by_rate, documents])


# -- 72小时现金 ------------------------------------------------------------------------------------

def cash_forecast_xlsx(report: CashForecastLike, org_name: str, kind_labels: Mapping[str, str]) -> bytes:
    """现金预测: a sheet by hour (时间, 流入, 流出, 余额) from the opening cash and bank, and a sheet of
    the items behind the figures (``kind_labels``: item kind → Chinese name)."""
    subtitle = (f"自 {_when(report.as_of)} 起 {report.hours} 小时 · 期初现金及银行存款 {report.opening:,.2f} 元")
    footer = [f"最低余额：{report.lowest:,.2f}（{_when(report.lowest_at)}）"]
    if report.threshold is not None:
        footer.append(f"现金下限：{report.threshold:,.2f}")
    footer.append("已逾期的应收款不计入流入")
    by_hour = Sheet(
        name="按小时", columns=[Column("时间", Kind.DATETIME), Column("流入", Kind.MONEY), Column("流出", Kind.MONEY),
                                Column("余额", Kind.MONEY)],
        rows=[[h.starts_at, h.inflow or None, h.outflow or None, h.balance] for h in report.by_hour],
        title=title_rows(org_name, f"{report.hours}小时现金预测", subtitle),
        totals=["合计 / 期末余额", report.inflow, report.outflow, report.closing], footer=footer,
    )
    items = Sheet(
        name="明细", columns=[Column("预计时间", Kind.DATETIME), Column("类型"), Column("方向"), Column("单据号"),
                              Column("往来单位"), Column("金额", Kind.MONEY), Column("已逾期"), Column("说明")],
        rows=[[i.expected_at, kind_labels.get(i.kind, i.kind), DIRECTIONS.get(i.direction, i.direction),
               i.number or "", i.party_name, i.amount, "是" if i.overdue else "", i.note] for i in report.items],
        title=title_rows(org_name, f"{report.hours}小时现金预测 · 明细", subtitle),
    )
    return workbook([by_hour, items])
