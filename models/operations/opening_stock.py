"""Opening stock (期初库存): what a site holds when its books start, as one 期初入库 document.

Each line becomes a new lot with an inbound move valued at the given cost per base unit, through
the same ledger helpers a reversal or transfer uses (``lock_balance`` + ``append_move``), and the
document's value is posted under the "opening.posted" mapping rule (default: debit 1405 库存商品,
credit 3104 利润分配). A mistake is corrected by reversing the document (models.operations.reversal),
never by editing it.

Who may do it: whoever may set prices (the master-data permission, as for importing items) and may
receive goods at that site; both checked for the site, so a manager of one site cannot open another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.documents import DocKind, DocStatus, DocumentLine
from models.errors import ValidationError
from models.idempotency import idempotent
from models.ledger import active_freezes, append_move, blocking_freeze, inbound_frozen, lock_balance, money
from models.lookup import not_found
from models.operations.common import (
    business_time_or_now,
    check_unit_price,
    dec,
    item_in,
    open_document,
    quantity_in_base,
    site_in,
)
from models.outbox import emit
from models.posting import ensure_open, post_voucher
from models.stock import Freeze, Lot
from models.timeutil import local_date, period_of
from models.unit_of_work import catalog_of

#: Lines in one opening document (an import's sheet holds at most 5,000 rows).
MAX_LINES = 5_000
#: No opening document is worth this much: a bigger total is a typing error (amount columns are 18,2).
MAX_TOTAL_VALUE = Decimal(10) ** 13
LOT_CODE_MAX = 48


@dataclass(frozen=True)
class OpeningLine:
    item_id: int
    quantity: Decimal
    #: 元 per base unit.
    unit_cost: Decimal
    #: As entered (斤, 箱 …); None means the item's base unit.
    unit: str | None = None
    #: The lot's number; None: the document's number and the line's.
    lot_code: str | None = None
    grade_id: int | None = None
    produced_on: date | None = None
    expires_on: date | None = None


@dataclass(frozen=True)
class PostOpeningStock:
    site_id: int
    lines: tuple[OpeningLine, ...]
    business_time: datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class OpeningLineResult:
    line_no: int
    item_id: int
    lot_id: int
    lot_code: str
    quantity: Decimal
    base_unit: str
    unit_cost: Decimal
    value: Decimal


@dataclass(frozen=True)
class OpeningStock:
    document_id: int
    number: str
    site_id: int
    total_value: Decimal
    voucher_number: str | None
    lines: list[OpeningLineResult]


def _fail(line_no: int, message: str, field: str) -> ValidationError:
    return ValidationError(f"第 {line_no} 行：{message}", field=field, line=line_no)


@idempotent("opening_stock")
def post_opening_stock(session: Session, actor: Actor, cmd: PostOpeningStock) -> OpeningStock:
    """Post a site's opening stock: lots, inbound moves at cost, one voucher, an event, an audit row."""
    catalog = catalog_of(session, actor.org_id)
    site = site_in(catalog, cmd.site_id)
    actor.require(Permission.PRICES, site.id)
    actor.require(Permission.RECEIVE, site.id)
    if not cmd.lines:
        raise ValidationError("期初库存至少要有一行", field="lines")
    if len(cmd.lines) > MAX_LINES:
        raise ValidationError(f"一张期初单最多 {MAX_LINES} 行，请分成几次", field="lines")
    when = business_time_or_now(session, actor, cmd.business_time)
    today = local_date(when)

    planned: list[tuple[OpeningLine, Decimal, Decimal, Decimal]] = []  # line, base quantity, cost, value
    codes: dict[tuple[int, str], int] = {}
    for no, line in enumerate(cmd.lines, start=1):
        item = item_in(catalog, line.item_id)
        try:
            quantity = quantity_in_base(item, line.quantity, line.unit)
            cost = check_unit_price(line.unit_cost, field="unit_cost")
        except ValidationError as exc:
            raise type(exc)(f"第 {no} 行：{exc.message}", **exc.details, line=no) from None
        if line.grade_id is not None:
            grade = catalog.grades.get(line.grade_id)
            if grade is None:
                raise not_found("Grade", line.grade_id)
            if grade.item_id != item.id:
                raise _fail(no, f"{item.name} 没有这个等级", "grade_id")
        if line.produced_on is not None and line.produced_on > today:
            raise _fail(no, "生产日期不能晚于期初日期", "produced_on")
        if line.produced_on and line.expires_on and line.expires_on < line.produced_on:
            raise _fail(no, "到期日期不能早于生产日期", "expires_on")
        code = (line.lot_code or "").strip()
        if len(code) > LOT_CODE_MAX or any(ord(ch) < 32 for ch in code):
            raise _fail(no, f"批次号最多 {LOT_CODE_MAX} 个字符，且不能含不可见字符", "lot_code")
        if code:
            if (item.id, code) in codes:
                raise _fail(no, f"批次号 {code} 与第 {codes[item.id, code]} 行重复", "lot_code")
            codes[item.id, code] = no
        planned.append((line, quantity, cost, money(quantity * cost)))
    total = sum((value for *_, value in planned), Decimal(0))
    if total >= MAX_TOTAL_VALUE:
        raise ValidationError("期初库存总金额过大，请核对单位成本", field="lines")
    _refuse_existing_lots(session, actor.org_id, codes)
    if total:
        ensure_open(catalog, period_of(when))  # before anything is written

    doc = open_document(session, actor, DocKind.OPENING, DocStatus.POSTED, when, site=site,
                        note=cmd.note.strip()[:500], total_amount=total)
    lot_codes = _lot_codes(session, actor.org_id, doc.number, [line for line, *_ in planned])
    results = []
    freezes: dict[int, list[Freeze]] = {}
    for no, (line, quantity, cost, value) in enumerate(planned, start=1):
        item = catalog.items[line.item_id]
        expires = line.expires_on
        if expires is None and item.shelf_life_days:
            expires = (line.produced_on or today) + timedelta(days=item.shelf_life_days)
        lot = Lot(org_id=actor.org_id, item_id=item.id, code=lot_codes[no - 1], received_on=today,
                  produced_on=line.produced_on, expires_on=expires, grade_id=line.grade_id)
        session.add(lot)
        session.flush()
        if item.id not in freezes:
            freezes[item.id] = active_freezes(session, item.id, site.id)
        freeze = blocking_freeze(freezes[item.id], lot.id, outbound=False)
        if freeze is not None:
            raise inbound_frozen(item.name, item.id, site.name, freeze)
        balance = lock_balance(session, actor.org_id, item.id, site.id, lot.id)
        append_move(session, balance, quantity=quantity, unit_cost=cost, value=value, document=doc,
                    business_time=when)
        doc.lines.append(DocumentLine(
            org_id=actor.org_id, line_no=no, item_id=item.id, lot_id=lot.id, grade_id=line.grade_id,
            quantity=quantity, entered_quantity=line.quantity, entered_unit=line.unit or item.base_unit,
            unit_price=cost, amount=value, done_quantity=quantity))
        results.append(OpeningLineResult(no, item.id, lot.id, lot.code, quantity, item.base_unit, cost, value))

    voucher_number = None
    if total:
        voucher = post_voucher(session, doc, "opening.posted", facts={"site_kind": site.kind.value},
                               amounts={"value": total}, when=when, summary=f"{doc.number} {site.name} 期初库存")
        voucher_number = voucher.number
    session.flush()
    record_audit(session, actor, "opening_stock.posted", "document", doc.id, before=None, after={
        "number": doc.number, "site_id": site.id, "lines": len(results), "total_value": dec(total)})
    emit(session, actor.org_id, "opening.posted", {
        "document_id": doc.id, "number": doc.number, "site_id": site.id, "lines": len(results),
        "total_value": dec(total),
    }, document_id=doc.id)
    return OpeningStock(doc.id, doc.number, site.id, total, voucher_number, results)


def _lot_codes(session: Session, org_id: int, number: str, lines: list[OpeningLine]) -> list[str]:
    """Each line's lot number: as given, else the document's number and the line's (QC-ZC-20261205-0001,
    line 2 → ZC-20261205-0001-2), with a random tail in the unlikely case the item already has that one."""
    given = [(line.lot_code or "").strip() for line in lines]
    codes = [code or f"{number.removeprefix('QC-')}-{no}" for no, code in enumerate(given, start=1)]
    generated = {(line.item_id, code) for line, code, own in zip(lines, codes, given, strict=True) if not own}
    if not generated:
        return codes
    taken = {(line.item_id, own) for line, own in zip(lines, given, strict=True) if own}
    taken |= {(item_id, code) for item_id, code in session.execute(select(Lot.item_id, Lot.code).where(
        Lot.org_id == org_id, Lot.item_id.in_({i for i, _ in generated}),
        Lot.code.in_({c for _, c in generated})))}
    return [f"{code}-{uuid.uuid4().hex[:6]}" if not own and (line.item_id, code) in taken else code
            for line, code, own in zip(lines, codes, given, strict=True)]


def _refuse_existing_lots(session: Session, org_id: int, codes: dict[tuple[int, str], int]) -> None:
    """Opening stock starts new lots: a lot number the item already has is refused, not merged."""
    if not codes:
        return
    for item_id, code in session.execute(select(Lot.item_id, Lot.code).where(
            Lot.org_id == org_id, Lot.item_id.in_({i for i, _ in codes}),
            Lot.code.in_({c for _, c in codes}))):
        if (item_id, code) in codes:
            no = codes[item_id, code]
            raise _fail(no, f"批次号 {code} 已存在，期初库存须用新的批次号", "lot_code")

