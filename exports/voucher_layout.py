"""The neutral voucher export and the column maps that fit it to 用友 / 金蝶 import layouts.

Every voucher line becomes one row (the voucher's date, 凭证字 and number repeated on each line,
as both vendors' import templates expect). Which of our fields go in which column, under what
header, in what order, with what date format and which constant columns, is a *map* — JSON an
operator can write:

    {"name": "…", "source": "where the layout comes from",
     "columns": [{"field": "voucher_date", "header": "制单日期"},
                 {"field": "word", "header": "凭证类别字"},
                 {"value": "人民币", "header": "币别"}, …],
     "date_format": "%Y-%m-%d",    // optional: dates as text in this format (CSV always uses it)
     "title": false, "totals": false, "csv_header": true}

``FIELDS`` lists our fields. Two maps ship in exports/voucher_maps/; ``DEFAULT_MAP`` is ours.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

from exports.shapes import VoucherLike, VoucherLineLike, VoucherListLike
from exports.xlsx import Column, Kind, Sheet, title_rows, workbook
from models.errors import ValidationError

CSV_MIME = "text/csv"
_Getter = Callable[[VoucherLike, VoucherLineLike], Any]

#: Our fields: name → (Chinese description, kind, value of a line of a voucher).
FIELDS: dict[str, tuple[str, Kind, _Getter]] = {
    "voucher_date": ("凭证日期", Kind.DATE, lambda v, ln: v.voucher_date),
    "year": ("会计年度", Kind.INT, lambda v, ln: int(v.period[:4])),
    "month": ("会计期间", Kind.INT, lambda v, ln: int(v.period[4:6])),
    "period": ("期间（YYYYMM）", Kind.TEXT, lambda v, ln: v.period),
    "word": ("凭证字", Kind.TEXT, lambda v, ln: v.word),
    "seq": ("凭证号", Kind.INT, lambda v, ln: v.seq if v.seq is not None else v.number),
    "number": ("完整凭证号（记-202611-00012）", Kind.TEXT, lambda v, ln: v.number),
    "line_no": ("分录序号", Kind.INT, lambda v, ln: ln.line_no),
    # The voucher's summary names the business ("CK-ZC-… 茶青 出库"); a line's memo is what the mapping
    # rule wrote (often the account's name), so it is the summary only when the voucher has none.
    "summary": ("摘要（凭证摘要，缺省为分录备注）", Kind.TEXT, lambda v, ln: v.summary or ln.memo),
    "memo": ("分录备注", Kind.TEXT, lambda v, ln: ln.memo),
    "account_code": ("科目编码", Kind.TEXT, lambda v, ln: ln.account_code),
    "account_name": ("科目名称", Kind.TEXT, lambda v, ln: ln.account_name),
    "debit": ("借方金额", Kind.MONEY, lambda v, ln: ln.debit),
    "credit": ("贷方金额", Kind.MONEY, lambda v, ln: ln.credit),
    "amount": ("金额（借正贷负）", Kind.MONEY, lambda v, ln: ln.debit - ln.credit),
    "direction": ("方向（借/贷）", Kind.TEXT, lambda v, ln: "借" if ln.debit >= ln.credit else "贷"),
    "party_code": ("往来单位编码", Kind.TEXT, lambda v, ln: ln.party_code or ""),
    "party_name": ("往来单位", Kind.TEXT, lambda v, ln: ln.party_name or ""),
    "attachments": ("附单据数", Kind.INT, lambda v, ln: v.attachments),
    "document_number": ("业务单据号", Kind.TEXT, lambda v, ln: v.document_number or ""),
    "status": ("状态", Kind.TEXT, lambda v, ln: {"posted": "已过账", "reversed": "已冲销"}.get(v.status, v.status)),
}
#: A map names at most this many columns (a typo in a loop is not a layout).
MAX_COLUMNS = 64
LAYOUTS = ("default", "yonyou_t3", "kingdee_kis")


@dataclass(frozen=True)
class MapColumn:
    header: str
    field: str | None = None
    #: A constant column (币别 人民币, 汇率 1 …) when ``field`` is None.
    value: str | int | None = None


@dataclass(frozen=True)
class VoucherMap:
    name: str
    columns: tuple[MapColumn, ...]
    date_format: str | None = None
    title: bool = False
    totals: bool = False
    csv_header: bool = True
    source: str = ""

    @classmethod
    def from_json(cls, data: Any) -> VoucherMap:
        """Validate an operator's map (a dict parsed from JSON); a bad one is a ValidationError."""
        if not isinstance(data, Mapping):
            raise ValidationError("凭证导出格式须是 JSON 对象", field="map")
        raw_columns = data.get("columns")
        if not isinstance(raw_columns, list) or not 0 < len(raw_columns) <= MAX_COLUMNS:
            raise ValidationError(f"columns 须是 1 到 {MAX_COLUMNS} 个列的列表", field="columns")
        columns = []
        for n, raw in enumerate(raw_columns, start=1):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("header"), str) or not raw["header"].strip():
                raise ValidationError(f"第 {n} 列须有列名 header", field="columns")
            field_name, value = raw.get("field"), raw.get("value")
            if (field_name is None) == (value is None):
                raise ValidationError(f"第 {n} 列须有 field（本系统字段）或 value（固定值）之一", field="columns")
            if field_name is not None and field_name not in FIELDS:
                raise ValidationError(f"第 {n} 列的字段 {field_name!r} 不存在；可用：{'、'.join(FIELDS)}",
                                      field="columns")
            if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
                raise ValidationError(f"第 {n} 列的固定值须是文字或整数", field="columns")
            columns.append(MapColumn(raw["header"].strip()[:64], field_name, value))
        date_format = data.get("date_format")
        if date_format is not None:
            if not isinstance(date_format, str) or not date_format or len(date_format) > 32 or "%" not in date_format:
                raise ValidationError("date_format 须是 strftime 格式，如 %Y-%m-%d", field="date_format")
            try:
                date(2026, 1, 2).strftime(date_format)
            except ValueError as exc:
                raise ValidationError("date_format 不是有效的日期格式", field="date_format") from exc
        flags = {k: data.get(k, default) for k, default in (("title", False), ("totals", False), ("csv_header", True))}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise ValidationError("title、totals、csv_header 须是 true 或 false", field="map")
        return cls(name=str(data.get("name") or "自定义格式")[:64], columns=tuple(columns), date_format=date_format,
                   source=str(data.get("source") or ""), **flags)


def load_map(layout: str) -> VoucherMap:
    """One of the shipped maps by name: default, yonyou_t3, kingdee_kis."""
    if layout == "default":
        return DEFAULT_MAP
    if layout not in LAYOUTS:
        raise ValidationError(f"没有导出格式 {layout}；可用：{'、'.join(LAYOUTS)}", field="layout")
    text = resources.files("exports").joinpath("voucher_maps", f"{layout}.json").read_text(encoding="utf-8")
    return VoucherMap.from_json(json.loads(text))


DEFAULT_MAP = VoucherMap(
    name="流转凭证列表", title=True, totals=True,
    columns=tuple(MapColumn(FIELDS[f][0].split("（")[0], f) for f in (
        "voucher_date", "word", "seq", "summary", "account_code", "account_name", "debit", "credit",
        "party_name", "attachments", "document_number", "number")),
)


def _lines(vouchers: VoucherListLike) -> Iterator[tuple[VoucherLike, VoucherLineLike]]:
    for voucher in vouchers.vouchers:
        for line in voucher.lines:
            yield voucher, line


def _kind(column: MapColumn) -> Kind:
    if column.field is None:
        return Kind.INT if isinstance(column.value, int) else Kind.TEXT
    return FIELDS[column.field][1]


def _value(column: MapColumn, voucher: VoucherLike, line: VoucherLineLike) -> Any:
    if column.field is None:
        return column.value
    return FIELDS[column.field][2](voucher, line)


def mapped_xlsx(vouchers: VoucherListLike, layout: VoucherMap, *, org_name: str = "") -> bytes:
    """The voucher lines as .xlsx in ``layout``'s columns and order."""
    columns = [Column(c.header, _kind(c)) for c in layout.columns]
    rows = ([_value(c, v, ln) for c in layout.columns] for v, ln in _lines(vouchers))
    totals = None
    if layout.totals:
        sums = {"debit": vouchers.debit_total, "credit": vouchers.credit_total,
                "amount": vouchers.debit_total - vouchers.credit_total}
        totals = [sums.get(c.field or "", "") for c in layout.columns]
        totals[0] = totals[0] if totals[0] != "" else "合计"
    title: tuple[str, ...] = ()
    if layout.title:
        title = title_rows(org_name, "凭证列表",
                           f"{vouchers.date_from.isoformat()} 至 {vouchers.date_to.isoformat()} · "
                           f"共 {len(vouchers.vouchers)} 张凭证")
    return workbook([Sheet(name="凭证", columns=columns, rows=rows, title=title, totals=totals,
                           date_format=layout.date_format)])


#: Text a spreadsheet would run as a formula when it opens a CSV (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: Any, kind: Kind, date_format: str) -> str:
    if value is None:
        return ""
    if kind == Kind.MONEY and isinstance(value, Decimal | int):
        return f"{Decimal(value):.2f}"
    if kind == Kind.DATE and isinstance(value, date):
        return value.strftime(date_format)
    text = str(value)
    if kind in (Kind.TEXT,) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def mapped_csv(vouchers: VoucherListLike, layout: VoucherMap, *, encoding: str = "gbk") -> bytes:
    """The voucher lines as CSV (CRLF lines) in ``layout``'s columns: GBK for 用友/金蝶, or UTF-8.

    "gbk" is written as GB18030, its superset: every GBK character is the same bytes, and a rare
    character outside GBK (a name's 𠮷) survives instead of failing the whole export.
    """
    if encoding not in ("gbk", "utf-8"):
        raise ValidationError("编码只能是 gbk 或 utf-8", field="encoding")
    date_format = layout.date_format or "%Y-%m-%d"
    kinds = [_kind(c) for c in layout.columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if layout.csv_header:
        writer.writerow([_csv_text(c.header, Kind.TEXT, date_format) for c in layout.columns])
    for voucher, line in _lines(vouchers):
        writer.writerow([_csv_text(_value(c, voucher, line), kind, date_format)
                         for c, kind in zip(layout.columns, kinds, strict=True)])
    text = buffer.getvalue()
    # UTF-8 with a BOM: Excel opens it as UTF-8 instead of guessing the local code page.
    return text.encode("gb18030") if encoding == "gbk" else text.encode("utf-8-sig")
