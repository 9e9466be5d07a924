"""Printed documents as PDF with Chinese text: 记账凭证, 送货单, 交货单, 对账单.

ReportLab with its built-in CID font STSong-Light (Adobe-GB1): the PDF names the font and a
reader supplies the glyphs, so nothing is downloaded or embedded and a page is a few kilobytes.
Amounts print in figures and, where a paper needs it, in capitals (大写, ``amounts.rmb_upper``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4, A5, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from exports.amounts import money_text, quantity_text, rmb_upper
from exports.shapes import DeliveryNoteLike, PrintedVoucherLike, ShipmentNoteLike, StatementLike

PDF_MIME = "application/pdf"
FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
#: Times print in the co-operative's zone (the books' days are Asia/Shanghai days).
_LOCAL = timezone(timedelta(hours=8), "CST")
STATUS_MARKS = {"reversed": "（已冲销）", "draft": "（草稿）", "cancelled": "（已作废）"}
_SIDE = {"receivable": ("应收", "本期应收", "本期收回"), "payable": ("应付", "本期应付", "本期支付")}

_TITLE = ParagraphStyle("title", fontName=FONT, fontSize=18, leading=24, alignment=TA_CENTER, spaceAfter=2)
_SUB = ParagraphStyle("sub", fontName=FONT, fontSize=10, leading=14, alignment=TA_CENTER)
_BODY = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13, wordWrap="CJK")
# wordWrap="CJK": Chinese has no spaces to break at; a long summary wraps inside its cell.
_CELL = ParagraphStyle("cell", fontName=FONT, fontSize=9, leading=11.5, wordWrap="CJK")
_NUM = ParagraphStyle("num", parent=_CELL, alignment=TA_RIGHT)
_GRID = [
    ("FONTNAME", (0, 0), (-1, -1), FONT),
    ("FONTSIZE", (0, 0), (-1, -1), 9),
    ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEF3F8")),
    ("ALIGN", (0, 0), (-1, 0), "CENTER"),
]


def _p(text: str, style: ParagraphStyle = _CELL) -> Paragraph:
    # Paragraph reads a little markup: escape what a name or summary could carry.
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Paragraph(safe, style)


def _day(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(_LOCAL).date() if value.tzinfo else value.date()
    return f"{value.year}年{value.month}月{value.day}日"


def _money(value: Decimal | None) -> str:
    return money_text(value) if value else ""


def _build(story: list[Flowable], pagesize: tuple[float, float], title: str) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=pagesize, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=10 * mm,
                            bottomMargin=10 * mm, title=title, author="流转", creator="流转")
    doc.build(story)
    return buffer.getvalue()


def _table(rows: Sequence[Sequence[Any]], widths: Sequence[float], extra: Sequence[tuple[Any, ...]] = (),
           repeat: int = 1) -> Table:
    table = Table([list(r) for r in rows], colWidths=list(widths), repeatRows=repeat)
    table.setStyle(TableStyle([*_GRID, *extra]))
    return table


def _signatures(labels: Sequence[str], width: float) -> Table:
    """A row of signature boxes: a label and room to sign."""
    cells = [[label if "：" in label else f"{label}：" for label in labels]]
    table = Table(cells, colWidths=[width / len(labels)] * len(labels), rowHeights=[12 * mm])
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 10),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


# -- 记账凭证 ------------------------------------------------------------------------------------

def voucher_pdf(voucher: PrintedVoucherLike) -> bytes:
    """记账凭证: header, one row per line (summary, account, party, debit, credit), the totals in
    figures and in capitals, the sign-off row."""
    pagesize = landscape(A5)
    width = pagesize[0] - 24 * mm
    seq = voucher.seq if voucher.seq is not None else voucher.number
    story: list[Flowable] = [
        _p(f"记 账 凭 证{STATUS_MARKS.get(voucher.status, '')}", _TITLE),
        _p(voucher.org_name, _SUB),
        Spacer(0, 2 * mm),
        _table([[f"日期：{_day(voucher.voucher_date)}", f"{voucher.word}字第 {seq} 号",
                 f"附单据 {voucher.attachments} 张"]], [width * 0.4, width * 0.3, width * 0.3],
               [("GRID", (0, 0), (-1, -1), 0, colors.white), ("BACKGROUND", (0, 0), (-1, 0), colors.white),
                ("ALIGN", (0, 0), (0, 0), "LEFT"), ("ALIGN", (2, 0), (2, 0), "RIGHT")]),
    ]
    rows: list[list[Any]] = [["摘要", "会计科目", "往来单位", "借方金额", "贷方金额"]]
    for line in voucher.lines:
        rows.append([_p(line.summary), _p(f"{line.account_code} {line.account_name}"), _p(line.party_name or ""),
                     _money(line.debit), _money(line.credit)])
    rows.append([_p(f"合计：人民币（大写）{rmb_upper(voucher.debit_total)}"), "", "",
                 money_text(voucher.debit_total), money_text(voucher.credit_total)])
    last = len(rows) - 1
    story.append(_table(rows, [width * 0.26, width * 0.24, width * 0.16, width * 0.17, width * 0.17], [
        ("ALIGN", (3, 1), (4, -1), "RIGHT"), ("SPAN", (0, last), (2, last)),
        ("FONTSIZE", (0, last), (-1, last), 10)]))
    if voucher.document_number:
        story += [Spacer(0, 1.5 * mm), _p(f"业务单据：{voucher.document_number}", _BODY)]
    story += [Spacer(0, 3 * mm), _signatures(("会计主管", "记账", "审核", f"制单：{voucher.prepared_by}"), width)]
    return _build(story, pagesize, f"记账凭证 {voucher.number}")


# -- 送货单 --------------------------------------------------------------------------------------

def shipment_pdf(note: ShipmentNoteLike) -> bytes:
    """送货单: number, customer, site; lines item / lot / quantity / unit / price / amount; goods,
    tax and total (total in capitals); boxes for the deliverer's and the receiver's signatures."""
    pagesize = A4
    width = pagesize[0] - 24 * mm
    story: list[Flowable] = [
        _p(f"送 货 单{STATUS_MARKS.get(note.status, '')}", _TITLE), _p(note.org_name, _SUB), Spacer(0, 3 * mm),
        _table([[f"单号：{note.number}", f"日期：{_day(note.business_time)}"],
                [_p(f"客户：{note.party_name or '—'}"), _p(f"发货地点：{note.site_name or '—'}")]],
               [width / 2, width / 2],
               [("GRID", (0, 0), (-1, -1), 0, colors.white), ("BACKGROUND", (0, 0), (-1, 0), colors.white),
                ("ALIGN", (0, 0), (-1, 0), "LEFT")]),
        Spacer(0, 2 * mm),
    ]
    rows: list[list[Any]] = [["序号", "品名", "批次", "数量", "单位", "单价（元）", "金额（元）"]]
    for n, line in enumerate(note.lines, start=1):
        rows.append([str(n), _p(line.item_name), _p("、".join(line.lot_codes)), quantity_text(line.quantity),
                     line.unit, quantity_text(line.unit_price), money_text(line.amount)])
    rows += [["", "货款合计", "", "", "", "", money_text(note.goods)],
             ["", "税额", "", "", "", "", money_text(note.tax)],
             ["", _p(f"价税合计（大写）：{rmb_upper(note.total)}"), "", "", "", "", money_text(note.total)]]
    end = len(rows)
    story.append(_table(rows, [width * f for f in (0.06, 0.22, 0.2, 0.12, 0.08, 0.14, 0.18)], [
        ("ALIGN", (3, 1), (-1, -1), "RIGHT"), ("ALIGN", (0, 1), (0, -1), "CENTER"),
        ("ALIGN", (4, 1), (4, -1), "CENTER"),
        *(("SPAN", (1, r), (5, r)) for r in range(end - 3, end))]))
    if note.note:
        story += [Spacer(0, 2 * mm), _p(f"备注：{note.note}", _BODY)]
    story += [Spacer(0, 6 * mm), _signatures(("送货人（签字）", "收货人（签字）", "收货日期"), width),
              _p("请核对品名、数量后签收；一式两联，双方各执一联。", _BODY)]
    return _build(story, pagesize, f"送货单 {note.number}")


# -- 交货单 (a farmer's delivery) ------------------------------------------------------------------

def delivery_note_pdf(note: DeliveryNoteLike) -> bytes:
    """交货单: the paper twin of the delivery note page a farmer gets on the phone."""
    pagesize = landscape(A5)
    width = pagesize[0] - 24 * mm
    weight = f"{quantity_text(note.quantity)} {note.unit}"
    if note.unit != note.base_unit:
        weight += f"（{quantity_text(note.base_quantity)} {note.base_unit}）"
    rows = [["单号", note.number, "时间", note.business_time.astimezone(_LOCAL).strftime("%Y-%m-%d %H:%M")],
            ["交售人", _p(note.party_name or "—"), "收购点", _p(note.site_name or "—")],
            ["品名", _p(note.item_name), "等级", note.grade or "—"],
            ["重量", weight, "单价", f"{quantity_text(note.unit_price)} 元/{note.base_unit}"],
            ["金额", f"{money_text(note.amount)} 元", "大写", _p(rmb_upper(note.amount))],
            ["预付款", f"{money_text(note.prepayment)} 元", "质检后尾款", f"{money_text(note.balance_after_qc)} 元"]]
    story: list[Flowable] = [
        _p(f"交 货 单{STATUS_MARKS.get(note.status, '')}", _TITLE), _p(note.org_name, _SUB), Spacer(0, 3 * mm),
        _table(rows, [width * 0.14, width * 0.36, width * 0.14, width * 0.36],
               [("BACKGROUND", (0, 0), (-1, 0), colors.white),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#EEF3F8")),
                ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#EEF3F8"))], repeat=0),
        Spacer(0, 5 * mm), _signatures(("交售人（签字）", "收货员（签字）"), width),
    ]
    return _build(story, pagesize, f"交货单 {note.number}")


# -- 对账单 --------------------------------------------------------------------------------------

def statement_pdf(statement: StatementLike, org_name: str) -> bytes:
    """对账单: opening balance, the period's movements with the running balance, the closing
    balance in figures and capitals, and a confirmation block for both sides to sign."""
    pagesize = A4
    width = pagesize[0] - 24 * mm
    side, up, down = _SIDE.get(statement.side, ("", "增加", "减少"))
    story: list[Flowable] = [
        _p("对 账 单", _TITLE), _p(org_name, _SUB), Spacer(0, 3 * mm),
        _p(f"往来单位：{statement.party_name}　　类别：{side}　　"
           f"期间：{statement.date_from.isoformat()} 至 {statement.date_to.isoformat()}", _BODY),
        Spacer(0, 2 * mm),
    ]
    rows: list[list[Any]] = [["日期", "凭证号", "单据号", "摘要", up, down, "余额"],
                             [statement.date_from.isoformat(), "", "", "期初余额", "", "",
                              money_text(statement.opening)]]
    for line in statement.lines:
        rows.append([line.voucher_date.isoformat(), line.voucher_number, _p(line.document_number or ""),
                     _p(line.summary), _money(line.charge), _money(line.credit), money_text(line.balance)])
    rows.append([statement.date_to.isoformat(), "", "", "本期合计", money_text(statement.charges),
                 money_text(statement.credits), money_text(statement.closing)])
    story.append(_table(rows, [width * f for f in (0.12, 0.16, 0.16, 0.2, 0.12, 0.12, 0.12)], [
        ("ALIGN", (4, 1), (-1, -1), "RIGHT"), ("FONTSIZE", (0, 0), (-1, -1), 8.5)]))
    who = "贵方尚欠我方" if statement.side == "receivable" else "我方尚欠贵方"
    closing = statement.closing
    if closing < 0:
        who = "我方尚欠贵方" if statement.side == "receivable" else "贵方尚欠我方"
    story += [
        Spacer(0, 3 * mm),
        _p(f"截至 {statement.date_to.isoformat()}，{who}：{money_text(abs(closing))} 元"
           f"（大写：{rmb_upper(abs(closing))}）。", _BODY),
        _p("请核对上述往来，如有不符请注明差异并及时告知；核对无误请签字盖章后回传。", _BODY),
        Spacer(0, 6 * mm),
        _signatures((f"{org_name}（盖章）", f"{statement.party_name}（盖章）"), width),
        _signatures(("经办人", "经办人"), width),
        _signatures(("日期", "日期"), width),
    ]
    return _build(story, pagesize, f"对账单 {statement.party_name}")
