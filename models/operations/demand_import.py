"""Import demand history from a CSV or Excel file: validated first, then all rows or none."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import openpyxl
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Item
from models.errors import DomainError, ValidationError
from models.idempotency import idempotent
from models.org import Site, SiteKind
from models.outbox import emit
from models.planning import DemandImport, DemandKind, DemandRow, Granularity
from models.timeutil import week_start

#: Accepted header spellings → field.
HEADERS = {
    "item": ("商品编码", "item code", "item_code", "item", "sku"),
    "site": ("地点编码", "site code", "site_code", "site"),
    "week": ("周", "week"),
    "day": ("日期", "date", "day"),
    "quantity": ("数量", "quantity", "qty"),
    "kind": ("类型", "kind", "type"),
}
KINDS = {
    "": DemandKind.SALE, "sale": DemandKind.SALE, "销售": DemandKind.SALE, "出库": DemandKind.SALE,
    "return": DemandKind.RETURN, "退货": DemandKind.RETURN,
    "giveaway": DemandKind.GIVEAWAY, "赠送": DemandKind.GIVEAWAY, "赠品": DemandKind.GIVEAWAY,
}
MAX_ROWS = 200_000
QTY_QUANTUM = Decimal("0.000001")


class ImportRejected(DomainError):
    code = "IMPORT_REJECTED"
    http_status = 422
    default_message = "导入文件有错误，未写入任何数据"


@dataclass(frozen=True)
class ImportDemand:
    content: bytes
    filename: str = ""
    #: Validate and report only; write nothing.
    dry_run: bool = False


@dataclass(frozen=True)
class ImportIssue:
    code: str  #: UNKNOWN_ITEM, UNKNOWN_SITE, NEGATIVE_VALUE, UNPARSEABLE, DUPLICATE_ROW, MISSING_WEEKS …
    message: str
    rows: list[int] = field(default_factory=list)  #: 1-based, the header being row 1
    item_code: str = ""
    site_code: str = ""
    weeks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportReport:
    import_id: int | None
    filename: str
    dry_run: bool
    written: bool
    granularity: str
    rows_total: int
    rows_valid: int
    series: int
    errors: list[ImportIssue]
    warnings: list[ImportIssue]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Parsed:
    row: int
    item_code: str
    site_code: str
    day: date
    quantity: Decimal
    kind: DemandKind


def _cells(content: bytes, filename: str) -> list[list[Any]]:
    """Return the file's rows as lists of cells (header first)."""
    if content[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        try:
            book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise ValidationError("无法读取 Excel 文件", reason=str(exc)[:200]) from None
        sheet = book.worksheets[0]
        rows = [list(r) for _, r in zip(range(MAX_ROWS + 2), sheet.iter_rows(values_only=True), strict=False)]
        book.close()
        return rows
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationError("无法识别文件编码（请用 UTF-8 或 GBK）")
    return [row for row in csv.reader(io.StringIO(text))][: MAX_ROWS + 2]


def _columns(header: list[Any]) -> dict[str, int]:
    names = [str(h or "").strip().lower() for h in header]
    found: dict[str, int] = {}
    for fld, spellings in HEADERS.items():
        for n, name in enumerate(names):
            if name in spellings:
                found[fld] = n
                break
    missing = [HEADERS[f][0] for f in ("item", "site", "quantity") if f not in found]
    if missing:
        raise ValidationError(f"缺少列：{'、'.join(missing)}", missing=missing)
    if ("week" in found) == ("day" in found):
        raise ValidationError("须有且只有一列“周”或“日期”", field="周/日期")
    return found


_ISO_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)
_DATE = re.compile(r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?$")


def _date(value: Any, weekly: bool) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if weekly and (m := _ISO_WEEK.match(text)):
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    if m := _DATE.match(text.split(" ")[0]):
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    raise ValueError(text)


def _quantity(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None or str(value).strip() == "":
        raise InvalidOperation
    if isinstance(value, float):  # Excel keeps numbers as binary floats: 2.3 may read 2.2999999999999998
        value = round(value, 6)
    qty = Decimal(str(value).replace(",", "").strip())
    if not qty.is_finite():
        raise InvalidOperation
    return qty


def parse_demand(session: Session, org_id: int, content: bytes, filename: str = ""
                 ) -> tuple[ImportReport, list[_Parsed], dict[str, int], dict[str, int]]:
    """Validate a demand file; return (report, good rows, item ids by code, site ids by code)."""
    rows = _cells(content, filename)
    if not rows:
        raise ValidationError("文件是空的")
    cols = _columns(rows[0])
    weekly = "week" in cols
    items = {c: i for c, i in session.execute(select(Item.code, Item.id).where(Item.org_id == org_id))}
    sites = {c: i for c, i in session.execute(select(Site.code, Site.id).where(
        Site.org_id == org_id, Site.kind != SiteKind.IN_TRANSIT, Site.active.is_(True)))}
    problems: dict[tuple[str, str], list[int]] = defaultdict(list)  # (code, subject) → rows
    not_monday: list[int] = []
    parsed: list[_Parsed] = []
    total = 0
    for n, raw in enumerate(rows[1:], start=2):
        cells = list(raw) + [None] * (len(rows[0]) - len(raw))
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        total += 1

        def cell(fld: str, cells: list[Any] = cells) -> Any:
            return cells[cols[fld]] if fld in cols else None

        item_code, site_code = str(cell("item") or "").strip(), str(cell("site") or "").strip()
        bad = False
        if item_code not in items:
            problems[("UNKNOWN_ITEM", item_code)].append(n)
            bad = True
        if site_code not in sites:
            problems[("UNKNOWN_SITE", site_code)].append(n)
            bad = True
        try:
            day = _date(cell("week" if weekly else "day"), weekly)
        except (ValueError, TypeError):
            problems[("UNPARSEABLE", "周" if weekly else "日期")].append(n)
            continue
        if weekly and day.weekday() != 0:
            not_monday.append(n)
            day = week_start(day)
        try:
            qty = _quantity(cell("quantity"))
        except (InvalidOperation, ValueError):
            problems[("UNPARSEABLE", "数量")].append(n)
            continue
        if qty < 0:
            problems[("NEGATIVE_VALUE", "数量")].append(n)
            continue
        if qty != qty.quantize(QTY_QUANTUM):
            problems[("UNPARSEABLE", "数量")].append(n)
            continue
        kind = KINDS.get(str(cell("kind") or "").strip().lower())
        if kind is None:
            problems[("UNPARSEABLE", "类型")].append(n)
            continue
        if not bad:
            parsed.append(_Parsed(n, item_code, site_code, day, qty, kind))
    if total > MAX_ROWS:
        raise ValidationError(f"一次最多导入 {MAX_ROWS} 行", rows=total)

    seen: dict[tuple[str, str, date, DemandKind], list[int]] = defaultdict(list)
    for p in parsed:
        seen[(p.item_code, p.site_code, p.day, p.kind)].append(p.row)
    duplicates = {k: r for k, r in seen.items() if len(r) > 1}
    granularity = Granularity.WEEK if weekly else Granularity.DAY
    already = _already_imported(session, org_id, parsed, items, sites, granularity)

    errors: list[ImportIssue] = []
    messages = {"UNKNOWN_ITEM": "不认识的商品编码 {s}", "UNKNOWN_SITE": "不认识的地点编码 {s}",
                "NEGATIVE_VALUE": "数量不能为负", "UNPARSEABLE": "无法识别的{s}"}
    for (code, subject), at in sorted(problems.items(), key=lambda kv: kv[1][0]):
        errors.append(ImportIssue(code, messages[code].format(s=subject or "（空）"), at,
                                  item_code=subject if code == "UNKNOWN_ITEM" else "",
                                  site_code=subject if code == "UNKNOWN_SITE" else ""))
    for (item_code, site_code, day, kind), at in duplicates.items():
        errors.append(ImportIssue("DUPLICATE_ROW", f"{item_code} @ {site_code} {day.isoformat()} {kind.value} 重复",
                                  at, item_code=item_code, site_code=site_code))
    for (item_code, site_code), at in already.items():
        errors.append(ImportIssue("ALREADY_IMPORTED",
                                  f"{item_code} @ {site_code} 的部分日期已导入过，重复导入会重复计算",
                                  at, item_code=item_code, site_code=site_code))

    warnings: list[ImportIssue] = []
    if not_monday:
        warnings.append(ImportIssue("NOT_MONDAY", "周列不是周一的日期已归到所在周的周一", not_monday))
    by_series: dict[tuple[str, str], set[date]] = defaultdict(set)
    for p in parsed:
        by_series[(p.item_code, p.site_code)].add(week_start(p.day))
    for (item_code, site_code), weeks in sorted(by_series.items()):
        missing, week = [], min(weeks)
        while week < max(weeks):
            if week not in weeks:
                missing.append(week.isoformat())
            week += timedelta(days=7)
        if missing:
            warnings.append(ImportIssue("MISSING_WEEKS",
                                        f"{item_code} @ {site_code} 缺少 {len(missing)} 周的数据（按 0 计）",
                                        item_code=item_code, site_code=site_code, weeks=missing))
    report = ImportReport(None, filename, False, False, granularity.value, total,
                          len(parsed) if not errors else 0, len(by_series), errors, warnings)
    return report, parsed, items, sites


def _already_imported(session: Session, org_id: int, parsed: list[_Parsed], items: dict[str, int],
                      sites: dict[str, int], granularity: Granularity) -> dict[tuple[str, str], list[int]]:
    if not parsed:
        return {}
    lo, hi = min(p.day for p in parsed), max(p.day for p in parsed)
    existing = set(session.execute(select(DemandRow.item_id, DemandRow.site_id, DemandRow.day, DemandRow.kind).where(
        DemandRow.org_id == org_id, DemandRow.granularity == granularity, DemandRow.day >= lo, DemandRow.day <= hi,
        DemandRow.item_id.in_({items[p.item_code] for p in parsed}))).all())
    out: dict[tuple[str, str], list[int]] = defaultdict(list)
    for p in parsed:
        if (items[p.item_code], sites[p.site_code], p.day, p.kind) in existing:
            out[(p.item_code, p.site_code)].append(p.row)
    return out


@idempotent("demand.import")
def import_demand(session: Session, actor: Actor, cmd: ImportDemand) -> ImportReport:
    """Validate a demand file and import every row, or raise ImportRejected (with the report) and write nothing."""
    actor.require(Permission.PLAN)
    report, parsed, items, sites = parse_demand(session, actor.org_id, cmd.content, cmd.filename)
    report = replace(report, dry_run=cmd.dry_run)  # a rejected check-only upload still says it was one
    if report.errors:
        raise ImportRejected(f"导入文件有 {len(report.errors)} 类错误，未写入任何数据", report=report.to_dict())
    if cmd.dry_run:
        return replace(report, dry_run=True, rows_valid=len(parsed))
    batch = DemandImport(org_id=actor.org_id, filename=cmd.filename[:200],
                         content_hash=hashlib.sha256(cmd.content).hexdigest(),
                         granularity=Granularity(report.granularity),
                         rows_total=report.rows_total, rows_imported=len(parsed), created_by=actor.member_id)
    session.add(batch)
    session.flush()
    session.add_all([DemandRow(org_id=actor.org_id, import_id=batch.id, item_id=items[p.item_code],
                               site_id=sites[p.site_code], day=p.day, granularity=batch.granularity,
                               quantity=p.quantity, kind=p.kind) for p in parsed])
    result = replace(report, import_id=batch.id, written=True)
    batch.report = result.to_dict()
    emit(session, actor.org_id, "demand.imported", {"import_id": batch.id, "rows": len(parsed),
                                                    "granularity": batch.granularity.value})
    return result
