"""PDFs with Chinese text: they are PDFs, and their text says the names and the 大写 amounts."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal as D

from pypdf import PdfReader

from exports.pdf import delivery_note_pdf, shipment_pdf, statement_pdf, voucher_pdf
from models.operations.intake import DeliveryNote
from models.queries.print_documents import NoteLine, PrintedVoucher, PrintedVoucherLine, ShipmentNote
from models.queries.receivables import Statement, StatementLine

ORG = "龙井山茶叶专业合作社"


def _text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_voucher_prints_its_lines_totals_and_capital_amount():
    lines = [PrintedVoucherLine("出库 <b>茶青</b>", "1122", "应收账款", "杭州茶城", D("1001.00"), D(0)),
             PrintedVoucherLine("出库", "6001", "主营业务收入", None, D(0), D("1001.00"))]
    voucher = PrintedVoucher(ORG, 1, "记-202611-00012", "记", 12, "202611", date(2026, 11, 23), "出库", "posted",
                             "CK-ZC-20261123-0001", 1, "老孙", lines, D("1001.00"), D("1001.00"))
    text = _text(voucher_pdf(voucher))
    for words in ("记 账 凭 证", ORG, "2026年11月23日", "记字第 12 号", "附单据 1 张", "1122 应收账款", "杭州茶城",
                  "主营业务收入", "1,001.00", "壹仟零壹元整", "制单：老孙", "<b>茶青</b>"):
        assert words in text, words


def test_the_shipment_note_prints_customer_lines_tax_and_signature_boxes():
    note = ShipmentNote(ORG, 5, "CK-ZC-20261123-0001", "posted", datetime(2026, 11, 23, 2, tzinfo=UTC), "总仓",
                        "C001", "杭州茶城", "", [NoteLine("CQ", "茶青", ("L1", "L2"), D("2.5"), "公斤", D("400"),
                                                        D("1000.00"))],
                        D("1000.00"), D("130.00"), D("1130.00"))
    text = _text(shipment_pdf(note))
    for words in ("送 货 单", "杭州茶城", "总仓", "CK-ZC-20261123-0001", "茶青", "L1、L2", "2.5", "1,130.00",
                  "税额", "130.00", "壹仟壹佰叁拾元整", "收货人（签字）"):
        assert words in text, words


def test_the_statement_prints_the_closing_balance_in_capitals():
    line = StatementLine(date(2026, 11, 3), "记-202611-00001", 11, "CK-1", "出库", D("10.30"), D(0), D("10.30"))
    stmt = Statement(7, "杭州茶城", "receivable", date(2026, 11, 1), date(2026, 11, 30), D(0), [line],
                     D("10.30"), D(0), D("10.30"))
    text = _text(statement_pdf(stmt, ORG))
    for words in ("对 账 单", "杭州茶城", "期初余额", "本期应收", "贵方尚欠我方：10.30 元", "壹拾元叁角", "盖章"):
        assert words in text, words


def test_many_lines_run_onto_more_pages():
    lines = [StatementLine(date(2026, 11, 3), f"记-202611-{n:05d}", n, f"CK-{n}", "出库", D(1), D(0), D(n))
             for n in range(1, 200)]
    stmt = Statement(7, "杭州茶城", "receivable", date(2026, 11, 1), date(2026, 11, 30), D(0), lines,
                     D(199), D(0), D(199))
    reader = PdfReader(io.BytesIO(statement_pdf(stmt, ORG)))
    assert len(reader.pages) > 1 and "日期" in reader.pages[1].extract_text()  # the header repeats


def test_the_delivery_note_is_the_phones_note_on_paper():
    note = DeliveryNote(1, 9, "RK-SX-20261123-0007", ORG, "绍兴收购点", "王阿姨", "茶青", "一级", D("47"), "斤",
                        D("23.5"), "公斤", D("80"), D("1880.00"), D("1316.00"), D("564.00"),
                        datetime(2026, 11, 23, 1, 30, tzinfo=UTC), "posted")
    text = _text(delivery_note_pdf(note))
    for words in ("交 货 单", "王阿姨", "47 斤（23.5 公斤）", "2026-11-23 09:30", "壹仟捌佰捌拾元整", "1,316.00"):
        assert words in text, words
