"""What a printed document shows: a voucher with its account names (记账凭证), a shipment with its
lines (送货单), a farmer's delivery note (交货单), and the organisation's name for a report's title.

Each one is scoped to the organisation (another org's id is simply not found) and, where the paper
is not a finance report, checks who may see it. The delivery note reuses the mini-program's own
query (``models.operations.intake.delivery_note``), so the paper and the phone show one thing.
Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Item
from models.documents import DocKind, Document, DocumentLine
from models.errors import NotFound, PermissionDenied
from models.finance import Account, Voucher, VoucherLine
from models.lookup import get_owned
from models.operations.intake import DeliveryNote, delivery_note
from models.org import Member, Org, Party, Site
from models.queries.vouchers import split_number
from models.stock import Lot

ZERO = Decimal("0.00")
FEN = Decimal("0.01")


def org_name(session: Session, org_id: int) -> str:
    """The organisation's name, for a report's title row."""
    return session.get_one(Org, org_id).name


@dataclass(frozen=True)
class PrintedVoucherLine:
    summary: str
    account_code: str
    account_name: str
    party_name: str | None
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class PrintedVoucher:
    org_name: str
    voucher_id: int
    number: str
    word: str
    seq: int | None
    period: str
    voucher_date: date
    summary: str
    status: str
    document_number: str | None
    attachments: int
    prepared_by: str
    lines: list[PrintedVoucherLine]
    debit_total: Decimal
    credit_total: Decimal


def voucher_document(session: Session, org_id: int, voucher_id: int) -> PrintedVoucher:
    """One voucher of the org with its lines, account and party names (for 记账凭证 paper)."""
    voucher = get_owned(session, Voucher, voucher_id, org_id)
    rows = session.execute(
        select(VoucherLine.memo, VoucherLine.account_code, Account.name, Party.name, VoucherLine.debit,
               VoucherLine.credit)
        .outerjoin(Account, and_(Account.org_id == VoucherLine.org_id, Account.code == VoucherLine.account_code))
        .outerjoin(Party, Party.id == VoucherLine.party_id)
        .where(VoucherLine.voucher_id == voucher.id, VoucherLine.org_id == org_id)
        .order_by(VoucherLine.line_no)).all()
    document = session.get(Document, voucher.document_id) if voucher.document_id else None
    prepared = session.get(Member, document.created_by) if document and document.created_by else None
    lines = [PrintedVoucherLine(memo or voucher.summary or "", code, name or "", party, debit, credit)
             for memo, code, name, party, debit, credit in rows]
    word, seq = split_number(voucher.number)
    return PrintedVoucher(
        org_name=org_name(session, org_id), voucher_id=voucher.id, number=voucher.number, word=word, seq=seq,
        period=voucher.period, voucher_date=voucher.voucher_date, summary=voucher.summary or "",
        status=voucher.status.value, document_number=document.number if document else None,
        attachments=1 if document else 0, prepared_by=prepared.name if prepared else "系统",
        lines=lines, debit_total=sum((ln.debit for ln in lines), ZERO),
        credit_total=sum((ln.credit for ln in lines), ZERO))


@dataclass(frozen=True)
class NoteLine:
    item_code: str
    item_name: str
    lot_codes: tuple[str, ...]
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class ShipmentNote:
    """送货单: what left which site for whom, priced; the totals are the ones booked on the document.

    No tax rate: a shipment books its tax, not the rate, and tax / goods does not give the rate back
    (0.13 on 1.01 goods is 12.9 %). Print the rate once documents carry it (VAT, issue 12 part 8)."""

    org_name: str
    document_id: int
    number: str
    status: str
    business_time: datetime
    site_name: str
    party_code: str | None
    party_name: str | None
    note: str
    lines: list[NoteLine]
    goods: Decimal
    tax: Decimal
    total: Decimal


def shipment_note(session: Session, actor: Actor, document_id: int) -> ShipmentNote:
    """A posted (or reversed) shipment of the actor's org, for whoever may ship from its site or
    read the books."""
    doc = get_owned(session, Document, document_id, actor.org_id)
    if doc.kind != DocKind.SHIPMENT:
        raise NotFound("找不到这张出库单", entity="Document", id=document_id)
    if not (actor.can(Permission.SHIP, doc.site_id) or actor.can(Permission.VIEW_FINANCE)):
        raise PermissionDenied("没有权限：查看该出库单（需该站点出库权限或查看财务）", document_id=doc.id)
    rows = session.execute(
        select(Item.code, Item.name, Item.base_unit, Lot.code, DocumentLine.quantity, DocumentLine.unit_price)
        .join(Item, Item.id == DocumentLine.item_id)
        .outerjoin(Lot, Lot.id == DocumentLine.lot_id)
        .where(DocumentLine.document_id == doc.id, DocumentLine.org_id == actor.org_id)
        .order_by(DocumentLine.line_no)).all()
    # A shipment's lines are its lots; the customer's paper shows one line per item and price, priced
    # as the shipment priced it (the whole quantity times the price, rounded once to the fen).
    grouped: dict[tuple[str, Decimal], list[tuple[str, str, str | None, Decimal]]] = {}
    for code, name, unit, lot, quantity, price in rows:
        grouped.setdefault((code, price), []).append((name, unit, lot, quantity))
    lines = []
    for (code, price), parts in grouped.items():
        quantity = sum((p[3] for p in parts), Decimal(0))
        lines.append(NoteLine(code, parts[0][0], tuple(p[2] for p in parts if p[2]), quantity, parts[0][1], price,
                              (quantity * price).quantize(FEN, ROUND_HALF_UP)))
    party = session.get(Party, doc.party_id) if doc.party_id else None
    site = session.get(Site, doc.site_id) if doc.site_id else None
    return ShipmentNote(
        org_name=org_name(session, actor.org_id), document_id=doc.id, number=doc.number, status=doc.status.value,
        business_time=doc.business_time, site_name=site.name if site else "",
        party_code=party.code if party else None, party_name=party.name if party else None, note=doc.note or "",
        lines=lines, goods=doc.total_amount - doc.tax_amount, tax=doc.tax_amount, total=doc.total_amount)


def printable_delivery_note(session: Session, actor: Actor, document_id: int) -> DeliveryNote:
    """A farmer's delivery note (交货单) for the farmer it names, whoever entered it, whoever may
    receive at its site, or finance."""
    doc = get_owned(session, Document, document_id, actor.org_id)
    if doc.kind != DocKind.RECEIPT:
        raise NotFound("找不到这张交货单", entity="Document", id=document_id)
    own = actor.party_id is not None and actor.party_id == doc.party_id
    entered = actor.member_id is not None and actor.member_id == doc.created_by
    if not (own or entered or actor.can(Permission.RECEIVE, doc.site_id) or actor.can(Permission.VIEW_FINANCE)):
        raise PermissionDenied("没有权限：查看该交货单", document_id=doc.id)
    return delivery_note(session, actor.org_id, doc.id)
