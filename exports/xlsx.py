"""Reports as .xlsx: Chinese headers, numbers as numbers, dates as dates.

One generic writer (``Sheet`` → ``workbook``): a title row (organisation · report), a subtitle
(as of / period), the header row frozen under them, the data, a totals row. Money is a number
cell formatted ``#,##0.00``; a quantity keeps its own decimals; a date is a date cell. Text is
always a string cell, so a party called "=HYPERLINK(…)" stays text and never becomes a formula.
Workbooks are written in openpyxl's write-only mode (rows stream out; no cell objects kept).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from exports.shapes import AgingLike, DocumentRowLike, OpenItemsLike, StatementLike, VoucherListLike

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
SIDE_NAMES = {"receivable": "应收", "payable": "应付"}
#: Statement columns by side: what raises the balance and what lowers it.
STATEMENT_HEADS = {"receivable": ("本期应收", "本期收回"), "payable": ("本期应付", "本期支付")}
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_MAX_WIDTH = 60
_LOCAL = timezone(timedelta(hours=8), "CST")


class Kind(StrEnum):
    TEXT = "text"
    MONEY = "money"
    QTY = "qty"
    DATE = "date"
    INT = "int"
    #: A moment, written in the books' zone (UTC+8) as Excel has no time zones.
    DATETIME = "datetime"
    #: A fraction (0.13) shown as a percentage (13%).
    PERCENT = "percent"


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind = Kind.TEXT
    #: Fixed width in characters; default: fitted to the header and the values.
    width: float | None = None


@dataclass
class Sheet:
    """One worksheet: ``rows`` are sequences of cell values in ``columns`` order."""

    name: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    #: Title rows above the header (organisation · report; as of …). Empty: the header is row 1,
    #: as import templates expect.
    title: Sequence[str] = ()
    totals: Sequence[Any] | None = None
    #: Lines under the table (a check, a note).
    footer: Sequence[str] = field(default_factory=tuple)
    #: Date columns: an explicit strftime format writes text instead of a date cell.
    date_format: str | None = None


def workbook(sheets: Sequence[Sheet]) -> bytes:
    """The .xlsx file of ``sheets``."""
    book = Workbook(write_only=True)
    for sheet in sheets:
        _write(book.create_sheet(_sheet_name(sheet.name)), sheet)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_name(name: str) -> str:
    # Excel refuses []:*?/\ in a sheet name and more than 31 characters.
    return "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31] or "Sheet1"


def _write(ws: Any, sheet: Sheet) -> None:
    rows = [list(r) for r in sheet.rows]  # widths need the values before the first row goes out
    columns = list(sheet.columns)
    for n, column in enumerate(columns, start=1):
        values = [r[n - 1] for r in rows] + ([sheet.totals[n - 1]] if sheet.totals else [])
        ws.column_dimensions[get_column_letter(n)].width = column.width or _fit(column, values, sheet.date_format)
    top = len(sheet.title)
    ws.freeze_panes = f"A{top + 2}"  # the title rows and the header stay in view
    for n, text in enumerate(sheet.title):
        ws.append([_text(ws, text, _TITLE if n == 0 else None)])
    ws.append([_head(ws, c.header) for c in columns])
    for row in rows:
        ws.append([_cell(ws, value, column, sheet.date_format) for value, column in zip(row, columns, strict=True)])
    if sheet.totals is not None:
        ws.append([_cell(ws, value, column, sheet.date_format, bold=True)
                   for value, column in zip(sheet.totals, columns, strict=True)])
    for text in sheet.footer:
        ws.append([_text(ws, text)])


def _clean(text: str) -> str:
    """Drop the control characters a worksheet cannot hold (openpyxl would refuse the whole file)."""
    return ILLEGAL_CHARACTERS_RE.sub("", text)


def _text(ws: Any, value: str, font: Font | None = None) -> Cell:
    cell = WriteOnlyCell(ws, value=_clean(value))
    cell.data_type = "s"  # never a formula, whatever the text starts with
    if font is not None:
        cell.font = font
    return cell


def _head(ws: Any, header: str) -> Cell:
    cell = _text(ws, header, _BOLD)
    cell.fill = _HEAD_FILL
    cell.alignment = Alignment(horizontal="center", vertical="center")
    return cell


def _cell(ws: Any, value: Any, column: Column, date_format: str | None,
          *, bold: bool = False) -> Cell | str | None:
    if (value is None or value == "") and not bold:
        return None
    if isinstance(value, str) and not bold and not value.startswith("="):
        return _clean(value)  # a plain string: openpyxl writes it as text without a cell object (fast path)
    if value is None or value == "":
        cell = WriteOnlyCell(ws, value=None)
    elif column.kind == Kind.MONEY and isinstance(value, Decimal | int):
        cell = _valued(ws, Decimal(value))
        cell.number_format = MONEY_FORMAT
    elif column.kind == Kind.QTY and isinstance(value, Decimal | int):
        cell = _valued(ws, Decimal(value))
        cell.number_format = quantity_format(Decimal(value))
    elif column.kind == Kind.INT and isinstance(value, int):
        cell = WriteOnlyCell(ws, value=value)
    elif column.kind == Kind.DATETIME and isinstance(value, datetime):
        cell = _valued(ws, local_naive(value))
        cell.number_format = DATETIME_FORMAT
    elif column.kind == Kind.PERCENT and isinstance(value, Decimal | int):
        cell = _valued(ws, Decimal(value))
        cell.number_format = percent_format(Decimal(value))
    elif column.kind == Kind.DATE and isinstance(value, date):
        if date_format:
            return _text(ws, value.strftime(date_format), _BOLD if bold else None)
        cell = _valued(ws, value.date() if isinstance(value, datetime) else value)
        cell.number_format = DATE_FORMAT
    else:
        return _text(ws, str(value), _BOLD if bold else None)
    if bold:
        cell.font = _BOLD
    return cell


def local_naive(value: datetime) -> datetime:
    """The moment in UTC+8 (the books' days are Asia/Shanghai days), without a zone: what a cell holds."""
    return value.astimezone(_LOCAL).replace(tzinfo=None) if value.tzinfo else value


def percent_format(value: Decimal) -> str:
    """0% for 0.13, 0.0% for 0.015: a rate's own decimals, as a percentage."""
    exponent = value.normalize().as_tuple().exponent
    places = min(4, max(0, -exponent - 2)) if isinstance(exponent, int) else 0
    return "0" + ("." + "0" * places if places else "") + "%"


def _valued(ws: Any, value: Decimal | date) -> Cell:
    cell = WriteOnlyCell(ws)
    cell.value = value  # openpyxl writes a Decimal as a number and a date as a date serial
    return cell


def quantity_format(value: Decimal) -> str:
    """A number format showing the quantity's own decimals (at most six: the ledger's scale)."""
    exponent = value.normalize().as_tuple().exponent
    places = min(6, max(0, -exponent)) if isinstance(exponent, int) else 0
    return "#,##0" + ("." + "0" * places if places else "")


def _fit(column: Column, values: Sequence[Any], date_format: str | None) -> float:
    longest = _display_width(column.header)
    for value in values[:2000]:  # a sample is enough to size a column
        if value is None:
            continue
        if column.kind == Kind.MONEY and isinstance(value, Decimal | int):
            text = f"{Decimal(value):,.2f}"
        elif column.kind == Kind.DATETIME and isinstance(value, datetime):
            text = "2026-01-01 00:00"
        elif column.kind == Kind.DATE and isinstance(value, date):
            text = value.strftime(date_format) if date_format else "2026-01-01"
        else:
            text = str(value)
        longest = max(longest, _display_width(text))
    return min(_MAX_WIDTH, longest + 2)


def _display_width(text: str) -> int:
    """Characters as a spreadsheet shows them: a CJK character takes two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def title_rows(org_name: str, report: str, subtitle: str) -> tuple[str, str]:
    return f"{org_name} · {report}", subtitle


# -- the reports ---------------------------------------------------------------------------------

def aging_xlsx(report: AgingLike, org_name: str, labels: Mapping[str, str]) -> bytes:
    """账龄表: one row per party, one column per bucket (``labels``: bucket key → Chinese head, in order)."""
    side = SIDE_NAMES.get(report.side, report.side)
    keys = list(labels)
    columns = [Column("往来单位"), *(Column(labels[k], Kind.MONEY) for k in keys),
               Column("逾期合计", Kind.MONEY), Column("合计", Kind.MONEY)]
    rows = [[r.party_name, *(r.buckets.get(k, Decimal(0)) for k in keys), r.overdue, r.total] for r in report.rows]
    overdue = sum((report.totals.get(k, Decimal(0)) for k in keys if k not in ("current", "unapplied")),
                  Decimal("0.00"))
    basis = "到期日" if report.basis == "due" else "单据日期"
    check = "一致" if report.balanced else "不一致，请核查"
    return workbook([Sheet(
        name=f"{side}账龄", columns=columns, rows=rows,
        title=title_rows(org_name, f"{side}账款账龄表", f"截至 {report.as_of.isoformat()} · 按{basis}计算"),
        totals=["合计", *(report.totals.get(k, Decimal(0)) for k in keys), overdue, report.total],
        footer=(f"控制科目余额：{report.control_balance:,.2f}（与合计{check}）",),
    )])


def statement_xlsx(statement: StatementLike, org_name: str) -> bytes:
    """对账单: opening balance, each movement with the running balance, the period's totals."""
    up, down = STATEMENT_HEADS.get(statement.side, ("借方", "贷方"))
    columns = [Column("日期", Kind.DATE), Column("凭证号"), Column("单据号"), Column("摘要"),
               Column(up, Kind.MONEY), Column(down, Kind.MONEY), Column("余额", Kind.MONEY)]
    rows: list[list[Any]] = [[statement.date_from, "", "", "期初余额", None, None, statement.opening]]
    rows += [[ln.voucher_date, ln.voucher_number, ln.document_number or "", ln.summary, ln.charge or None,
              ln.credit or None, ln.balance] for ln in statement.lines]
    side = SIDE_NAMES.get(statement.side, statement.side)
    return workbook([Sheet(
        name="对账单", columns=columns, rows=rows,
        title=title_rows(org_name, f"对账单（{side}）· {statement.party_name}",
                         f"{statement.date_from.isoformat()} 至 {statement.date_to.isoformat()}"),
        totals=[statement.date_to, "", "", "本期合计 / 期末余额", statement.charges, statement.credits,
                statement.closing],
    )])


def open_items_xlsx(report: OpenItemsLike, org_name: str) -> bytes:
    """未核销明细: a party's open charges and credits, oldest due first."""
    columns = [Column("凭证日期", Kind.DATE), Column("到期日", Kind.DATE), Column("单据号"), Column("摘要"),
               Column("科目编码"), Column("原金额", Kind.MONEY), Column("未核销金额", Kind.MONEY)]
    rows = [[i.voucher_date, i.due_on, i.number or "", i.summary, i.account_code, i.amount, i.open]
            for i in report.items]
    side = SIDE_NAMES.get(report.side, report.side)
    total = report.open_charges + report.unapplied_credits
    return workbook([Sheet(
        name="未核销明细", columns=columns, rows=rows,
        title=title_rows(org_name, f"未核销明细（{side}）· {report.party_name}", f"账期 {report.credit_days} 天"),
        totals=["合计", None, "", "", "", None, total],
        footer=(f"未核销单据：{report.open_charges:,.2f}；未核销预收/预付：{report.unapplied_credits:,.2f}",),
    )])


def voucher_list_xlsx(vouchers: VoucherListLike, org_name: str) -> bytes:
    """凭证列表 in the default layout (the neutral export with ``voucher_layout.DEFAULT_MAP``)."""
    from exports.voucher_layout import DEFAULT_MAP, mapped_xlsx

    return mapped_xlsx(vouchers, DEFAULT_MAP, org_name=org_name)


def document_list_xlsx(rows: Sequence[DocumentRowLike], org_name: str) -> bytes:
    """单据列表: the filtered list as the console and the API show it (one row per document)."""
    columns = [Column("单号"), Column("类型"), Column("状态"), Column("业务时间", Kind.DATETIME), Column("地点"),
               Column("调入地点"), Column("往来单位"), Column("金额", Kind.MONEY)]
    return workbook([Sheet("单据", columns, [
        (r.number, r.kind_label, r.status_label, r.business_time, r.site_name or "", r.to_site_name or "",
         r.party_name or "", r.total_amount) for r in rows],
        title=title_rows(org_name, "单据列表", f"共 {len(rows)} 张"))])
