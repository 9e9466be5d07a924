"""The books, margin, VAT and cash-forecast reports as .xlsx: read back with openpyxl."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from exports.books_xlsx import (
    balance_sheet_xlsx,
    cash_forecast_xlsx,
    income_statement_xlsx,
    margin_xlsx,
    trial_balance_xlsx,
    vat_summary_xlsx,
)
from exports.xlsx import percent_format
from models.queries.cash_forecast import CashForecast, CashHour, CashItem, OverdueReceivables
from models.queries.margin import MarginRollup, RollupRow, figures
from models.queries.statements import (
    BalanceSheet,
    IncomeStatement,
    StatementRow,
    TrialBalance,
    TrialBalanceRow,
)
from models.queries.vat import RateRow, VatDocument, VatSummary

ORG = "龙井山茶叶专业合作社"
Z = D("0.00")


def _rows(data: bytes, sheet: int = 0) -> list[tuple]:
    return list(load_workbook(io.BytesIO(data)).worksheets[sheet].iter_rows(values_only=True))


def test_the_trial_balance_has_eight_columns_numbers_and_the_totals_row():
    rows = [TrialBalanceRow("1002", "银行存款", "asset", D("1000.00"), Z, D("500.50"), D("200.00"), D("1300.50"), Z),
            TrialBalanceRow("3001", "实收资本", "equity", Z, D("1000.00"), Z, D("300.50"), Z, D("1300.50"))]
    totals = TrialBalanceRow("", "合计", "", D("1000.00"), D("1000.00"), D("500.50"), D("500.50"), D("1300.50"),
                             D("1300.50"))
    report = TrialBalance("202611", date(2026, 11, 1), date(2026, 11, 30), rows, totals, True)
    data = trial_balance_xlsx(report, ORG)
    ws = load_workbook(io.BytesIO(data)).active
    got = _rows(data)
    assert got[0][0] == f"{ORG} · 科目余额表" and "2026年11月" in got[1][0] and "2026-11-30" in got[1][0]
    assert list(got[2]) == ["科目编码", "科目名称", "期初借方", "期初贷方", "本期借方", "本期贷方", "期末借方",
                            "期末贷方"]
    assert got[3][:3] == ("1002", "银行存款", 1000) and got[3][4] == pytest.approx(500.5)
    assert ws["E4"].data_type == "n" and ws["E4"].number_format == "#,##0.00"
    assert got[5][0] == "合计" and got[5][6] == got[5][7] == pytest.approx(1300.5)
    assert got[6][0] == "借贷：平衡"
    unbalanced = TrialBalance("202611", date(2026, 11, 1), date(2026, 11, 30), rows, totals, False)
    assert "不平衡" in _rows(trial_balance_xlsx(unbalanced, ORG))[-1][0]


def _statement_rows(lines: range, amount: D) -> list[StatementRow]:
    return [StatementRow(n, f"项目{n}", amount * n, amount, False) for n in lines]


def test_the_balance_sheet_puts_assets_beside_liabilities_with_line_numbers():
    report = BalanceSheet("202611", date(2026, 11, 30), date(2026, 1, 1), _statement_rows(range(1, 31), D("1.50")),
                          _statement_rows(range(31, 54), D("2.00")), D("45.00"), D("45.00"), True)
    got = _rows(balance_sheet_xlsx(report, ORG))
    assert got[0][0] == f"{ORG} · 资产负债表" and "会小企01表" in got[1][0] and "2026-11-30" in got[1][0]
    assert list(got[2]) == ["资产", "行次", "期末余额", "年初余额", "负债和所有者权益（或股东权益）", "行次",
                            "期末余额", "年初余额"]
    assert got[3] == ("项目1", 1, 1.5, 1.5, "项目31", 31, 62, 2)
    assert got[3 + 29][:4] == ("项目30", 30, 45, 1.5) and got[3 + 29][4:] == (None,) * 4  # 30 assets, 23 on the right
    assert got[3 + 22][4:6] == ("项目53", 53)
    assert got[-1][0] == "资产总计 = 负债和所有者权益总计：平衡"


def test_the_income_statement_has_this_period_and_the_year_to_date():
    rows = [StatementRow(1, "一、营业收入", D("1234.56"), D("9999.99"), False),
            StatementRow(13, "四、净利润（净亏损以“-”号填列）", D("-10.00"), D("100.00"), True)]
    report = IncomeStatement("202611", date(2026, 11, 1), date(2026, 11, 30), date(2026, 1, 1), rows, D("-10.00"),
                             D("100.00"), True)
    got = _rows(income_statement_xlsx(report, ORG))
    assert got[0][0] == f"{ORG} · 利润表" and "会小企02表" in got[1][0]
    assert list(got[2]) == ["项目", "行次", "本期金额", "本年累计金额"]
    assert got[3] == ("一、营业收入", 1, pytest.approx(1234.56), pytest.approx(9999.99))
    assert got[4][1:] == (13, -10, 100)


def test_the_margin_rollup_has_its_group_label_figures_percent_and_weighted_totals():
    rows = [RollupRow("7", "杭州茶城", figures(D("1000.00"), D("600.00"), D("50.00"))),
            RollupRow("8", "宁波茶庄", figures(Z, D("10.00"), Z))]  # no revenue: no percent
    report = MarginRollup("customer", date(2026, 11, 1), date(2026, 11, 30), rows,
                          figures(D("1000.00"), D("610.00"), D("50.00")), D("12.00"), 3)
    got = _rows(margin_xlsx(report, ORG))
    assert got[0][0] == f"{ORG} · 订单毛利（按客户）" and "2026-11-01 至 2026-11-30" in got[1][0]
    assert list(got[2]) == ["客户", "收入", "成本", "费用", "毛利", "毛利率(%)"]
    assert got[3] == ("杭州茶城", 1000, 600, 50, 350, 35)
    assert got[4][0] == "宁波茶庄" and got[4][4] == -10 and got[4][5] is None
    assert got[5] == ("合计", 1000, 610, 50, 340, 34)
    assert "出库单 3 张" in got[6][0] and "12.00" in got[7][0]
    month = MarginRollup("month", date(2026, 1, 1), date(2026, 11, 30), [], figures(Z, Z, Z), Z, 0)
    assert _rows(margin_xlsx(month, ORG))[2][0] == "月份"


def test_the_vat_summary_has_a_sheet_by_rate_and_a_sheet_of_documents():
    rates = [RateRow(D("0.13"), D("1000.00"), D("130.00"), Z, Z), RateRow(D("0.09"), Z, Z, D("500.00"), D("45.00")),
             RateRow(None, D("10.00"), Z, Z, Z)]
    docs = [VatDocument(11, "CK-20261103-0001", "shipment", date(2026, 11, 3), 7, "杭州茶城", "12345678",
                        D("1000.00"), D("0.13"), D("130.00"), None),
            VatDocument(12, "RK-20261104-0001", "receipt", date(2026, 11, 4), 8, "王阿姨", None, D("-500.00"),
                        D("0.09"), D("-45.00"), 9)]
    report = VatSummary("202611", date(2026, 11, 1), date(2026, 11, 30), rates, D("1010.00"), D("130.00"),
                        D("500.00"), D("45.00"), D("130.00"), D("45.00"), D("85.00"), True, docs, False)
    data = vat_summary_xlsx(report, ORG)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["按税率", "单据"]
    got = _rows(data)
    assert got[0][0] == f"{ORG} · 增值税汇总" and "2026年11月" in got[1][0]
    assert list(got[2]) == ["税率", "销售额", "销项税额", "采购额", "进项税额"]
    assert got[3] == (pytest.approx(0.13), 1000, 130, 0, 0) and book.active["A4"].number_format == "0%"
    assert got[5][0] == "未记税率"
    assert got[6] == ("合计", 1010, 130, 500, 45)
    assert "222102" in got[7][0] and got[8][0] == "应纳税额：85.00" and "一致" in got[9][0]
    documents = _rows(data, 1)
    assert list(documents[2]) == ["日期", "单据号", "类型", "往来单位", "发票号码", "不含税金额", "税率", "税额",
                                  "备注"]
    assert documents[3][1:6] == ("CK-20261103-0001", "出库（销项）", "杭州茶城", "12345678", 1000)
    assert isinstance(documents[3][0], datetime) and documents[3][0].date() == date(2026, 11, 3)
    assert documents[4][5] == -500 and documents[4][7] == -45 and documents[4][8] == "冲销"


def test_the_cash_forecast_has_a_sheet_by_hour_and_a_sheet_of_items():
    local = datetime(2026, 12, 5, 9, 30, tzinfo=UTC) - timedelta(hours=8)  # 09:30 in Shanghai
    first = local.replace(minute=0)
    hours = [CashHour(0, first, Z, D("300.00"), D("700.00")),
             CashHour(1, first + timedelta(hours=1), D("1000.50"), Z, D("1700.50"))]
    items = [CashItem("farmer", "out", 11, "RK-1", None, "王阿姨", D("300.00"), first, 0, True, "质检后尾款"),
             CashItem("receivable", "in", 12, "CK-1", 7, "杭州茶城", D("1000.50"), first + timedelta(hours=1), 1,
                      False)]
    report = CashForecast(local, first, first + timedelta(hours=2), 2, 10, D("400.00"), D("600.00"), D("1000.00"),
                          D("1000.50"), D("300.00"), D("1700.50"), D("700.00"), first, {}, hours, items,
                          OverdueReceivables(Z, 0, []), D("800.00"), first)
    data = cash_forecast_xlsx(report, ORG, {"farmer": "农户货款", "receivable": "应收到期"})
    got = _rows(data)
    assert got[0][0] == f"{ORG} · 2小时现金预测" and "2026-12-05 09:30" in got[1][0] and "1,000.00" in got[1][0]
    assert list(got[2]) == ["时间", "流入", "流出", "余额"]
    assert got[3] == (datetime(2026, 12, 5, 9, 0), None, 300, 700)  # local time, no zone: what Excel shows
    assert got[4][1] == pytest.approx(1000.5) and got[4][3] == pytest.approx(1700.5)
    assert got[5] == ("合计 / 期末余额", pytest.approx(1000.5), 300, pytest.approx(1700.5))
    assert "700.00" in got[6][0] and "800.00" in got[7][0]
    detail = _rows(data, 1)
    assert list(detail[2]) == ["预计时间", "类型", "方向", "单据号", "往来单位", "金额", "已逾期", "说明"]
    assert detail[3][1:] == ("农户货款", "流出", "RK-1", "王阿姨", 300, "是", "质检后尾款")
    assert detail[4][1:4] == ("应收到期", "流入", "CK-1") and detail[4][6] is None


@pytest.mark.parametrize("rate, fmt", [(D("0.13"), "0%"), (D("0.015"), "0.0%"), (D("0"), "0%"), (D("0.0300"), "0%")])
def test_a_rate_shows_its_own_decimals_as_a_percentage(rate, fmt):
    assert percent_format(rate) == fmt


@settings(max_examples=40, deadline=None)
@given(st.lists(st.decimals(min_value=D("-1e9"), max_value=D("1e9"), places=2), min_size=1, max_size=5))
def test_every_amount_reads_back_as_the_same_number(amounts):
    """Whatever the figures, the cell is the figure (to the fen): nothing is rounded, dropped or turned into text."""
    rows = [TrialBalanceRow(f"{1000 + n}", "科目", "asset", a, Z, a, a, Z, a) for n, a in enumerate(amounts)]
    total = sum(amounts, Z)
    report = TrialBalance("202611", date(2026, 11, 1), date(2026, 11, 30), rows,
                          TrialBalanceRow("", "合计", "", total, Z, total, total, Z, total), False)
    got = _rows(trial_balance_xlsx(report, ORG))
    for row, amount in zip(got[3:3 + len(amounts)], amounts, strict=True):
        assert D(str(row[2])).quantize(D("0.01")) == amount and D(str(row[7])).quantize(D("0.01")) == amount
    assert D(str(got[3 + len(amounts)][2])).quantize(D("0.01")) == total
