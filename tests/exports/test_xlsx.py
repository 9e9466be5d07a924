"""Reports as .xlsx and the neutral voucher export: read back with openpyxl (and the CSV as GBK)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal as D

import pytest
from openpyxl import load_workbook

from exports.voucher_layout import DEFAULT_MAP, FIELDS, VoucherMap, load_map, mapped_csv, mapped_xlsx
from exports.xlsx import aging_xlsx, open_items_xlsx, quantity_format, statement_xlsx, voucher_list_xlsx
from models.errors import ValidationError
from models.queries.receivables import BUCKET_LABELS, BUCKETS, Aging, AgingRow, PartyOpenItems, Statement, StatementLine
from models.queries.vouchers import VoucherEntry, VoucherList, VoucherListLine
from models.subledger import OpenItem

ORG = "龙井山茶叶专业合作社"


def _sheet(data: bytes):
    return load_workbook(io.BytesIO(data)).active


def _vouchers(party: str = "杭州茶城") -> VoucherList:
    sale = VoucherEntry(1, "记-202611-00001", "记", 1, "202611", date(2026, 11, 3), "CK-ZC-20261103-0001 茶青 出库",
                        11, "CK-ZC-20261103-0001", "posted", [
                            VoucherListLine(1, "1122", "应收账款", D("1234.50"), D("0.00"), "C001", party, ""),
                            VoucherListLine(2, "6001", "主营业务收入", D("0.00"), D("1234.50"), None, None, "")])
    cash = VoucherEntry(2, "记-202611-00002", "记", 2, "202611", date(2026, 11, 20), "SK-20261120-0001 收款",
                        None, None, "posted", [
                            VoucherListLine(1, "1002", "银行存款", D("1000.00"), D("0.00"), None, None, "到账"),
                            VoucherListLine(2, "1122", "应收账款", D("0.00"), D("1000.00"), "C001", party, "")])
    return VoucherList(date(2026, 11, 1), date(2026, 11, 30), [sale, cash], 4, D("2234.50"), D("2234.50"))


def test_the_voucher_list_has_a_title_chinese_headers_numbers_as_numbers_and_totals():
    ws = _sheet(voucher_list_xlsx(_vouchers(), ORG))
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == f"{ORG} · 凭证列表" and "2026-11-01 至 2026-11-30" in rows[1][0]
    assert list(rows[2]) == ["凭证日期", "凭证字", "凭证号", "摘要", "科目编码", "科目名称", "借方金额", "贷方金额",
                             "往来单位", "附单据数", "业务单据号", "完整凭证号"]
    assert ws.freeze_panes == "A4"
    first = ws["A4"], ws["C4"], ws["G4"], ws["H4"]
    assert isinstance(first[0].value, datetime) and first[0].value.date() == date(2026, 11, 3)
    assert first[1].value == 1 and first[2].value == pytest.approx(1234.5) and first[3].value == 0
    assert ws["G4"].number_format == "#,##0.00" and ws["G4"].data_type == "n"
    assert rows[4][3] == "CK-ZC-20261103-0001 茶青 出库" and rows[5][3] == "SK-20261120-0001 收款"
    assert rows[3][8] == "杭州茶城" and rows[3][9] == 1 and rows[5][9] == 0
    totals = rows[7]
    assert totals[0] == "合计" and (totals[6], totals[7]) == (pytest.approx(2234.5), pytest.approx(2234.5))
    assert ws.column_dimensions["D"].width > ws.column_dimensions["B"].width  # fitted to the summaries


def test_a_text_that_looks_like_a_formula_stays_text():
    ws = _sheet(voucher_list_xlsx(_vouchers(party='=HYPERLINK("http://evil","点我")'), ORG))
    cell = ws["I4"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
    data = mapped_csv(_vouchers(party="=1+2"), VoucherMap.from_json(
        {"columns": [{"field": "party_name", "header": "往来单位"}, {"field": "credit", "header": "贷方"}]}))
    rows = list(csv.reader(io.StringIO(data.decode("gbk"))))
    assert rows[1] == ["'=1+2", "0.00"] and rows[4] == ["'=1+2", "1000.00"]


def test_the_mapped_export_has_the_operators_columns_in_order_with_constants_and_a_date_format():
    layout = VoucherMap.from_json(json.loads("""{
        "name": "我的格式", "date_format": "%Y%m%d",
        "columns": [{"field": "account_code", "header": "科目"}, {"field": "voucher_date", "header": "日期"},
                    {"value": "RMB", "header": "币种"}, {"field": "amount", "header": "金额"},
                    {"field": "year", "header": "年"}, {"field": "month", "header": "月"},
                    {"value": 1, "header": "汇率"}]}"""))
    ws = _sheet(mapped_xlsx(_vouchers(), layout))
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == ["科目", "日期", "币种", "金额", "年", "月", "汇率"]  # no title rows: import templates
    assert rows[1] == ("1122", "20261103", "RMB", pytest.approx(1234.5), 2026, 11, 1)
    assert rows[2][3] == pytest.approx(-1234.5) and len(rows) == 5  # no totals row unless asked


@pytest.mark.parametrize("layout, heads", [
    ("yonyou_t3", ["制单日期", "凭证类别字", "凭证号", "附单据数", "摘要", "科目编码", "借方金额", "贷方金额"]),
    ("kingdee_kis", ["日期", "凭证字", "凭证号", "附单据数", "摘要", "科目代码", "科目名称", "借方金额", "贷方金额",
                     "币别", "汇率"]),
])
def test_the_shipped_maps_write_their_vendors_columns_and_the_csv_decodes_as_gbk(layout, heads):
    chosen = load_map(layout)
    assert chosen.source  # where the layout comes from is said in the map itself
    ws = _sheet(mapped_xlsx(_vouchers(), chosen))
    assert [c.value for c in ws[1]] == heads
    data = mapped_csv(_vouchers(), chosen)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # it really is GBK, not UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("gbk"))))
    assert rows[0] == heads and len(rows) == 5
    assert rows[1][:3] == ["2026-11-03", "记", "1"] and "1234.50" in rows[1] and "0.00" in rows[1]
    assert data.endswith(b"\r\n")
    utf8 = mapped_csv(_vouchers(), chosen, encoding="utf-8")
    assert utf8.startswith(b"\xef\xbb\xbf") and utf8.decode("utf-8-sig").splitlines()[0].split(",") == heads


def test_a_name_outside_gbk_survives_the_gbk_csv():
    data = mapped_csv(_vouchers(party="𠮷野家"), DEFAULT_MAP)
    assert "𠮷野家" in data.decode("gb18030") and "杭州" not in data.decode("gb18030")


@pytest.mark.parametrize("bad", [
    [], {"columns": []}, {"columns": [{"header": "x"}]}, {"columns": [{"field": "nope", "header": "x"}]},
    {"columns": [{"field": "debit", "value": "1", "header": "x"}]}, {"columns": [{"field": "debit"}]},
    {"columns": [{"field": "debit", "header": "x"}], "date_format": "YYYY"},
    {"columns": [{"field": "debit", "header": "x"}], "title": "yes"},
    {"columns": [{"value": True, "header": "x"}]},
    {"columns": [{"field": "debit", "header": str(n)} for n in range(65)]},
])
def test_a_bad_map_is_a_clear_error(bad):
    with pytest.raises(ValidationError):
        VoucherMap.from_json(bad)
    with pytest.raises(ValidationError):
        load_map("../../etc/passwd")


def test_every_field_can_be_exported():
    layout = VoucherMap.from_json({"columns": [{"field": f, "header": f} for f in FIELDS]})
    rows = list(_sheet(mapped_xlsx(_vouchers(), layout)).iter_rows(values_only=True))
    assert len(rows) == 5 and all(len(r) == len(FIELDS) for r in rows)


def test_aging_has_a_column_per_bucket_totals_and_the_control_check():
    row = AgingRow(7, "杭州茶城", dict.fromkeys(BUCKETS, D("0.00")) | {"current": D("200.00"), "d31_60": D("300.00")})
    report = Aging("receivable", date(2026, 12, 5), "due", [row], dict(row.buckets), D("500.00"), D("500.00"), True)
    ws = _sheet(aging_xlsx(report, ORG, {k: BUCKET_LABELS[k] for k in BUCKETS}))
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == f"{ORG} · 应收账款账龄表" and "截至 2026-12-05" in rows[1][0]
    assert list(rows[2]) == ["往来单位", *BUCKET_LABELS.values(), "逾期合计", "合计"]
    assert rows[3][0] == "杭州茶城" and rows[3][1] == 200 and rows[3][3] == 300 and rows[3][-1] == 500
    assert rows[4][0] == "合计" and rows[4][-2] == 300 and rows[4][-1] == 500
    assert "控制科目余额：500.00" in rows[5][0] and "一致" in rows[5][0]


def test_statement_and_open_items():
    lines = [StatementLine(date(2026, 11, 3), "记-202611-00001", 11, "CK-1", "出库", D("1234.50"), D(0), D("1334.50")),
             StatementLine(date(2026, 11, 20), "记-202611-00002", None, None, "收款", D(0), D("1000"), D("334.50"))]
    stmt = Statement(7, "杭州茶城", "receivable", date(2026, 11, 1), date(2026, 11, 30), D("100.00"), lines,
                     D("1234.50"), D("1000.00"), D("334.50"))
    rows = list(_sheet(statement_xlsx(stmt, ORG)).iter_rows(values_only=True))
    assert list(rows[2]) == ["日期", "凭证号", "单据号", "摘要", "本期应收", "本期收回", "余额"]
    assert rows[3][3] == "期初余额" and rows[3][6] == 100
    assert rows[4][4] == pytest.approx(1234.5) and rows[4][5] is None and rows[5][5] == 1000
    assert rows[-1][3] == "本期合计 / 期末余额" and rows[-1][6] == pytest.approx(334.5)
    item = OpenItem(1, "1122", date(2026, 11, 3), date(2026, 12, 3), 11, "CK-1", "出库", D("1234.50"), D("234.50"))
    report = PartyOpenItems(7, "杭州茶城", "receivable", 30, None, [item], D("234.50"), D("0.00"))
    rows = list(_sheet(open_items_xlsx(report, ORG)).iter_rows(values_only=True))
    assert rows[3][2] == "CK-1" and rows[3][6] == pytest.approx(234.5) and rows[4][6] == pytest.approx(234.5)


@pytest.mark.parametrize("value, fmt", [(D("5"), "#,##0"), (D("23.500000"), "#,##0.0"), (D("0.001"), "#,##0.000"),
                                        (D("1E+3"), "#,##0")])
def test_quantities_keep_their_own_decimals(value, fmt):
    assert quantity_format(value) == fmt


def test_control_characters_a_worksheet_cannot_hold_are_dropped_not_fatal():
    vouchers = _vouchers(party="杭州\x07茶城")
    ws = _sheet(voucher_list_xlsx(vouchers, "合作社\x00"))
    assert ws["I4"].value == "杭州茶城" and ws["A1"].value.startswith("合作社 ·")
