"""Import items, parties and opening stock (期初库存) from an .xlsx workbook: every row checked
first, then all rows written or none.

The shape follows ``demand_import``: parse → a report of every bad row (row number, column, a
Chinese reason) → ``ImportRejected`` with the report and nothing written, or every row written
through the ordinary operations (``create_item``, ``create_party``; opening stock: one
``post_opening_stock`` per site, its lines in sheet order), so each row
gets the same checks, events and audit as one typed into a form. A dry run is the same path that
stops before writing.

An upload is hostile until checked: at most ``MAX_BYTES`` on the wire, a zip whose members
unpack to at most ``MAX_UNPACKED`` (a zip bomb is refused before openpyxl inflates anything), at
most ``MAX_ROWS`` data rows, formulas never evaluated (a cell "=HYPERLINK(…)" is read as the text
it is, and written back to exports as a text cell).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import openpyxl
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.catalog import Dimension, Item
from models.chart import MASS_UNITS
from models.errors import ValidationError
from models.idempotency import idempotent
from models.operations.common import MAX_UNIT_PRICE
from models.operations.demand_import import ImportRejected
from models.operations.masterdata import CreateItem, CreateParty, GradeSpec, create_item, create_party
from models.operations.opening_stock import LOT_CODE_MAX, OpeningLine, PostOpeningStock, post_opening_stock
from models.org import Party, PartyKind, SiteKind
from models.outbox import emit
from models.stock import Lot
from models.timeutil import local_date
from models.unit_of_work import catalog_of

MAX_BYTES = 5 * 1024 * 1024
#: What the workbook's parts may unpack to, all together (a real 5,000-row sheet is ~1 MB).
MAX_UNPACKED = 50 * 1024 * 1024
MAX_ROWS = 5_000
#: Rows a report lists one by one (the count says how many more).
MAX_REPORTED = 200


class ImportKind(StrEnum):
    ITEMS = "items"
    PARTIES = "parties"
    OPENING_STOCK = "opening_stock"


KIND_LABELS = {ImportKind.ITEMS: "商品", ImportKind.PARTIES: "往来单位", ImportKind.OPENING_STOCK: "期初库存"}

#: Each kind's columns in template order: (header, required, note shown in the template's 2nd sheet).
COLUMNS: dict[ImportKind, tuple[tuple[str, bool, str], ...]] = {
    ImportKind.ITEMS: (
        ("编码", True, "本单位内唯一，最多 32 个字符"),
        ("名称", True, "最多 128 个字"),
        ("基本单位", True, "重量商品填 公斤/斤/克 等；计数商品填 罐、瓶、袋 等"),
        ("类型", False, "重量 或 计数；不填按 重量"),
        ("保质期天数", False, "整数，1–36500"),
        ("别名", False, "用 、 分隔，如 鲜叶、茶叶青"),
        ("售价", False, "每基本单位，元"),
        ("等级收购价", False, "如 特级=120、一级=80（每基本单位，元）"),
    ),
    ImportKind.PARTIES: (
        ("编码", True, "本单位内唯一，最多 32 个字符"),
        ("名称", True, "最多 128 个字"),
        ("类型", True, "农户、供货商 或 客户"),
        ("手机号", False, "数字"),
    ),
    ImportKind.OPENING_STOCK: (
        ("站点编码", True, "如 ZC；每个站点写成一张期初入库单"),
        ("商品编码", True, "如 CQ"),
        ("数量", True, "大于 0"),
        ("单位", False, "不填按商品的基本单位；可填 斤、箱 等商品认得的单位"),
        ("批次号", False, f"最多 {LOT_CODE_MAX} 个字符，该商品内不能与已有批次重复；不填自动编号"),
        ("等级", False, "该商品已有的等级，如 特级"),
        ("单位成本", True, "每基本单位，元，不小于 0"),
        ("生产日期", False, "年-月-日，不晚于今天"),
        ("到期日", False, "年-月-日，不早于生产日期；不填按保质期推算"),
    ),
}
PARTY_KINDS = {"农户": PartyKind.FARMER, "供货商": PartyKind.SUPPLIER, "供应商": PartyKind.SUPPLIER,
               "客户": PartyKind.CUSTOMER}
DIMENSIONS = {"": Dimension.MASS, "重量": Dimension.MASS, "计数": Dimension.COUNT, "件数": Dimension.COUNT}


@dataclass(frozen=True)
class ImportMasterData:
    kind: ImportKind
    content: bytes
    filename: str = ""
    #: Validate and report only; write nothing.
    dry_run: bool = False


@dataclass(frozen=True)
class RowError:
    #: 1-based worksheet row (the header is row 1), as Excel shows it.
    row: int
    column: str
    message: str


@dataclass(frozen=True)
class MasterDataReport:
    kind: str
    filename: str
    dry_run: bool
    written: bool
    rows_total: int
    rows_valid: int
    errors: list[RowError] = field(default_factory=list)
    #: Errors beyond the ones listed.
    more_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- reading the workbook -------------------------------------------------------------------------

def read_sheet(content: bytes, max_rows: int = MAX_ROWS) -> list[list[Any]]:
    """The first worksheet's rows (header first) as values, refusing oversized and bomb-like files."""
    if len(content) > MAX_BYTES:
        raise ValidationError(f"文件不能超过 {MAX_BYTES // (1024 * 1024)}MB", field="file")
    if not content.startswith(b"PK\x03\x04"):
        raise ValidationError("请上传 .xlsx 格式的 Excel 文件（旧的 .xls 请先另存为 .xlsx）", field="file")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise ValidationError("无法读取 Excel 文件", field="file") from None
    if unpacked > MAX_UNPACKED:
        raise ValidationError("文件解压后过大，不能导入（请删去多余的行和工作表）", field="file")
    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged file
        raise ValidationError("无法读取 Excel 文件", field="file") from None
    try:
        rows: list[list[Any]] = []
        for raw in book.worksheets[0].iter_rows(values_only=True):
            if all(c is None or str(c).strip() == "" for c in raw):
                continue
            rows.append(list(raw))
            if len(rows) > max_rows + 1:
                raise ValidationError(f"一次最多导入 {max_rows} 行，请分成几个文件", field="file")
    finally:
        book.close()
    if not rows:
        raise ValidationError("文件是空的", field="file")
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or _text(value) == "":
        raise InvalidOperation
    if isinstance(value, float):  # Excel keeps numbers as binary floats: 2.3 may read 2.2999999999999998
        value = round(value, 6)
    number = Decimal(_text(value).replace(",", ""))
    if not number.is_finite() or abs(number) >= Decimal(10) ** 10:
        raise InvalidOperation
    return number


class _Row:
    """One data row: cells by header, and the errors found in it."""

    def __init__(self, number: int, cells: dict[str, Any], errors: list[RowError]) -> None:
        self.line, self.cells, self.errors = number, cells, errors

    def text(self, column: str, *, required: bool = False, max_len: int = 128) -> str:
        value = _text(self.cells.get(column))
        if required and not value:
            self.fail(column, "不能为空")
        elif len(value) > max_len:
            self.fail(column, f"最多 {max_len} 个字")
        elif any(ord(ch) < 32 for ch in value):
            self.fail(column, "含有不可见字符")
        return value

    def number(self, column: str, *, required: bool = False, minimum: Decimal = Decimal(0),
               integer: bool = False) -> Decimal | None:
        raw = self.cells.get(column)
        if _text(raw) == "":
            if required:
                self.fail(column, "不能为空")
            return None
        try:
            value = _decimal(raw)
        except (InvalidOperation, ValueError):
            self.fail(column, f"“{_text(raw)[:20]}”不是数字")
            return None
        if value < minimum:
            self.fail(column, f"不能小于 {minimum}")
            return None
        if integer and value != value.to_integral_value():
            self.fail(column, "应为整数")
            return None
        return value

    def day(self, column: str) -> date | None:
        raw = self.cells.get(column)
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        text = _text(raw)
        if not text:
            return None
        try:
            return date.fromisoformat(text.replace("/", "-").replace(".", "-"))
        except ValueError:
            self.fail(column, f"“{text[:20]}”不是日期（年-月-日）")
            return None

    def fail(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.line, column, message))


def _rows(kind: ImportKind, sheet: list[list[Any]], errors: list[RowError]) -> list[_Row]:
    header = [_text(h) for h in sheet[0]]
    known = [c for c, _, _ in COLUMNS[kind]]
    missing = [c for c, required, _ in COLUMNS[kind] if required and c not in header]
    if missing:
        raise ValidationError(f"缺少列：{'、'.join(missing)}（请用下载的模板）", missing=missing)
    index = {name: n for n, name in reversed(list(enumerate(header))) if name in known}
    out = []
    for number, raw in enumerate(sheet[1:], start=2):
        cells = {name: raw[n] if n < len(raw) else None for name, n in index.items()}
        out.append(_Row(number, cells, errors))
    return out


# --- the kinds ---------------------------------------------------------------------------------------

Writer = Callable[[Session, Actor], None]


def _duplicates(rows: list[_Row], column: str, codes: list[str], existing: set[str]) -> None:
    seen: dict[str, int] = {}
    for row, code in zip(rows, codes, strict=True):
        if not code:
            continue
        if code in existing:
            row.fail(column, f"编码 {code} 已存在")
        elif code in seen:
            row.fail(column, f"编码 {code} 与第 {seen[code]} 行重复")
        else:
            seen[code] = row.line


def _grades(row: _Row) -> tuple[GradeSpec, ...]:
    raw = row.text("等级收购价", max_len=500)
    specs = []
    for rank, part in enumerate((p for p in raw.replace("，", "、").replace(",", "、").split("、") if p.strip()),
                                start=1):
        name, sep, price = part.partition("=")
        try:
            value = _decimal(price) if sep else None
        except (InvalidOperation, ValueError):
            value = None
        if not name.strip() or value is None or value < 0 or len(name.strip()) > 32:
            row.fail("等级收购价", f"“{part.strip()[:20]}”应写成 等级=价格")
            return ()
        specs.append(GradeSpec(name.strip(), value, rank))
    return tuple(specs)


def _plan_items(session: Session, actor: Actor, rows: list[_Row]) -> list[Writer]:
    actor.require(Permission.PRICES)
    existing = set(session.scalars(select(Item.code).where(Item.org_id == actor.org_id)))
    commands: list[CreateItem | None] = []
    codes = []
    for row in rows:
        before = len(row.errors)
        code, name = row.text("编码", required=True, max_len=32), row.text("名称", required=True)
        unit = row.text("基本单位", required=True, max_len=16)
        kind_text = row.text("类型", max_len=8)
        dimension = DIMENSIONS.get(kind_text)
        if dimension is None:
            row.fail("类型", "应为 重量 或 计数")
        elif dimension == Dimension.MASS and unit and unit not in MASS_UNITS:
            row.fail("基本单位", f"重量商品的基本单位须为重量单位（{'、'.join(list(MASS_UNITS)[:5])}…）")
        shelf = row.number("保质期天数", minimum=Decimal(1), integer=True)
        if shelf is not None and shelf > 36500:
            row.fail("保质期天数", "不能超过 36500 天")
        aliases = tuple(a.strip() for a in row.text("别名", max_len=256).replace("，", "、").split("、") if a.strip())
        price = row.number("售价")
        grades = _grades(row)
        codes.append(code)
        ok = len(row.errors) == before and dimension is not None
        commands.append(CreateItem(code=code, name=name, base_unit=unit, dimension=dimension or Dimension.MASS,
                                   shelf_life_days=int(shelf) if shelf is not None else None, aliases=aliases,
                                   sale_price=price, grades=grades) if ok else None)
    _duplicates(rows, "编码", codes, existing)
    return [_writer(create_item, c) for c in commands if c is not None]


def _plan_parties(session: Session, actor: Actor, rows: list[_Row]) -> list[Writer]:
    existing = set(session.scalars(select(Party.code).where(Party.org_id == actor.org_id)))
    commands: list[CreateParty | None] = []
    codes = []
    for row in rows:
        before = len(row.errors)
        code, name = row.text("编码", required=True, max_len=32), row.text("名称", required=True)
        kind = PARTY_KINDS.get(row.text("类型", required=True, max_len=8))
        if kind is None and not any(e.column == "类型" for e in row.errors[before:]):
            row.fail("类型", "应为 农户、供货商 或 客户")
        phone = row.text("手机号", max_len=32).removeprefix("+86")
        if phone and not (phone.isascii() and phone.replace("-", "").isdigit()):
            row.fail("手机号", "只能是数字")
        codes.append(code)
        ok = len(row.errors) == before and kind is not None
        commands.append(CreateParty(code, name, kind, phone or None) if ok and kind is not None else None)
    # Who may add which kind is the operation's rule; checked once per kind before anything is written.
    for kind in {c.kind for c in commands if c is not None}:
        actor.require(Permission.ORDER_SALES if kind == PartyKind.CUSTOMER else Permission.ORDER_PURCHASE)
    _duplicates(rows, "编码", codes, existing)
    return [_writer(create_party, c) for c in commands if c is not None]


def _plan_opening_stock(session: Session, actor: Actor, rows: list[_Row]) -> list[Writer]:
    """Opening stock: rows checked as post_opening_stock checks them, then one document per site."""
    actor.require(Permission.PRICES)
    catalog = catalog_of(session, actor.org_id)
    sites = {s.code: s for s in catalog.sites.values()}
    items = {i.code: i for i in catalog.items.values()}
    grades = {(g.item_id, g.name): g.id for g in catalog.grades.values()}
    today = local_date(utcnow())
    by_site: dict[int, list[tuple[int, OpeningLine]]] = {}
    lot_rows: dict[tuple[int, str], _Row] = {}
    for row in rows:
        before = len(row.errors)
        site_code = row.text("站点编码", required=True, max_len=32)
        item_code = row.text("商品编码", required=True, max_len=32)
        site, item = sites.get(site_code), items.get(item_code)
        if site_code and site is None:
            row.fail("站点编码", f"没有编码为 {site_code} 的站点")
        elif site is not None and (site.kind == SiteKind.IN_TRANSIT or not site.active):
            row.fail("站点编码", f"{site.name} 不能直接收发货")
        elif site is not None and not (actor.can(Permission.PRICES, site.id)
                                       and actor.can(Permission.RECEIVE, site.id)):
            row.fail("站点编码", f"没有权限登记 {site.name} 的期初库存")
        if item_code and item is None:
            row.fail("商品编码", f"没有编码为 {item_code} 的商品")
        elif item is not None and not item.active:
            row.fail("商品编码", f"{item.name} 已停用")
        quantity = row.number("数量", required=True)
        if quantity is not None and quantity <= 0:
            row.fail("数量", "必须大于 0")
        unit = row.text("单位", max_len=16) or None
        if item is not None and unit and unit != item.base_unit and unit not in item.unit_factors:
            row.fail("单位", f"{item.name} 不认识单位“{unit}”，可用：{'、'.join(sorted(item.unit_factors))}")
        lot_code = row.text("批次号", max_len=LOT_CODE_MAX) or None
        grade_name = row.text("等级", max_len=16)
        grade_id = grades.get((item.id, grade_name)) if item is not None and grade_name else None
        if item is not None and grade_name and grade_id is None:
            row.fail("等级", f"{item.name} 没有等级“{grade_name}”")
        cost = row.number("单位成本", required=True)
        if cost is not None and cost > MAX_UNIT_PRICE:
            row.fail("单位成本", "单位成本过大，请核对")
        elif cost is not None and cost != cost.quantize(Decimal("0.000001")):
            row.fail("单位成本", "最多六位小数")
        produced, expires = row.day("生产日期"), row.day("到期日")
        if produced is not None and produced > today:
            row.fail("生产日期", "不能晚于今天")
        if produced is not None and expires is not None and expires < produced:
            row.fail("到期日", "不能早于生产日期")
        if item is not None and lot_code:
            if (item.id, lot_code) in lot_rows:
                row.fail("批次号", f"批次号 {lot_code} 与第 {lot_rows[item.id, lot_code].line} 行重复")
            else:
                lot_rows[item.id, lot_code] = row
        if len(row.errors) == before and site is not None and item is not None and quantity and cost is not None:
            by_site.setdefault(site.id, []).append((row.line, OpeningLine(
                item.id, quantity, cost, unit=unit, lot_code=lot_code, grade_id=grade_id, produced_on=produced,
                expires_on=expires)))
    if lot_rows:
        for item_id, code in session.execute(select(Lot.item_id, Lot.code).where(
                Lot.org_id == actor.org_id, Lot.item_id.in_({i for i, _ in lot_rows}),
                Lot.code.in_({c for _, c in lot_rows}))):
            if (item_id, code) in lot_rows:
                lot_rows[item_id, code].fail("批次号", f"批次号 {code} 已存在，请用新的批次号")
    return [_opening_writer(site_id, lines) for site_id, lines in by_site.items()]


def _opening_writer(site_id: int, lines: list[tuple[int, OpeningLine]]) -> Writer:
    """One site's rows as one opening document; a line the operation refuses is named by its sheet row."""
    def write(session: Session, actor: Actor) -> None:
        try:
            post_opening_stock(session, actor, PostOpeningStock(site_id, tuple(line for _, line in lines),
                                                                note="期初库存导入"))
        except ValidationError as exc:
            line = exc.details.get("line")
            row = lines[line - 1][0] if isinstance(line, int) and 0 < line <= len(lines) else 0
            message = exc.message.removeprefix(f"第 {line} 行：")
            raise ValidationError(message, **{**exc.details, "row": row}) from None
    return write


def _writer(operation: Callable[[Session, Actor, Any], int], command: object) -> Writer:
    """One planned row: the operation that adds it, run when every row has passed."""
    def write(session: Session, actor: Actor) -> None:
        operation(session, actor, command)
    return write


_PLANNERS: dict[ImportKind, Callable[[Session, Actor, list[_Row]], list[Writer]]] = {
    ImportKind.ITEMS: _plan_items, ImportKind.PARTIES: _plan_parties, ImportKind.OPENING_STOCK: _plan_opening_stock,
}


@idempotent("masterdata.import")
def import_master_data(session: Session, actor: Actor, cmd: ImportMasterData) -> MasterDataReport:
    """Check every row of an items, parties or opening-stock workbook; write them all, or raise
    ImportRejected with the report of every bad row and write nothing."""
    kind = ImportKind(cmd.kind)
    sheet = read_sheet(cmd.content)
    errors: list[RowError] = []
    rows = _rows(kind, sheet, errors)
    writers = _PLANNERS[kind](session, actor, rows)
    errors.sort(key=lambda e: e.row)
    report = MasterDataReport(kind.value, cmd.filename[:200], cmd.dry_run, False, len(rows),
                              0 if errors else len(rows), errors[:MAX_REPORTED],
                              max(0, len(errors) - MAX_REPORTED))
    if errors:
        bad_rows = len({e.row for e in errors})
        raise ImportRejected(f"有 {bad_rows} 行有错误，未写入任何数据", report=report.to_dict())
    if cmd.dry_run:
        return report
    for write in writers:
        # A row the plan passed can still be refused by its operation (a unit the item lacks, a
        # count beyond the policy): the whole import then rolls back with that row named.
        try:
            write(session, actor)
        except ValidationError as exc:
            row = exc.details.get("row") or (rows[writers.index(write)].line if len(writers) == len(rows) else 0)
            raise ImportRejected(f"第 {row} 行：{exc.message}，未写入任何数据", report={
                **report.to_dict(), "errors": [asdict(RowError(row, "", exc.message))]}) from None
    record_audit(session, actor, "masterdata.imported", "import", kind.value, before=None,
                 after={"rows": len(writers), "filename": cmd.filename[:200]})
    emit(session, actor.org_id, "masterdata.imported", {"kind": kind.value, "rows": len(writers)})
    return MasterDataReport(kind.value, cmd.filename[:200], False, True, len(rows), len(rows))


def template(kind: ImportKind) -> tuple[list[str], list[tuple[str, str, str]]]:
    """A kind's header row and its column notes ("必填"/"选填", what to write)."""
    cols = COLUMNS[kind]
    return [c for c, _, _ in cols], [(c, "必填" if req else "选填", note) for c, req, note in cols]

