"""Ship goods: FEFO across lots, moving-average cost, receivable + revenue + COGS voucher.

A lean posting (like a receipt): one round trip reads the org's config version, the item's freezes
and its balances at the site (locked, with their lots' FEFO columns) and allocates the new ids; the
choice of lots and the costing are pure functions over those rows (models.ledger.choose_fefo,
plan_issue); the rows go out on the posting writer. Only a sales order and its reservations are
read and changed through the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from models import node
from models.actor import Actor, Permission
from models.approvals import ApprovalStatus
from models.catalog_snapshot import PartyInfo
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import SalesOrderNotApproved, ValidationError
from models.finance import Voucher
from models.idempotency import idempotent
from models.infra import OutboxEvent
from models.ledger import (
    BalanceRow,
    FreezeRow,
    choose_fefo,
    freezes_read,
    locked_balances_read,
    lot_deltas,
    money,
    plan_issue,
    queue_planned,
)
from models.lookup import get_owned
from models.operations.approvals import approval_status
from models.operations.common import (
    DOC_SEQ_WIDTH,
    business_time_or_now,
    check_unit_price,
    dec,
    document_number,
    document_series,
    item_in,
    party_in,
    quantity_in_base,
    site_in,
    transition,
)
from models.operations.offline_guard import check_offline
from models.org import OfflineKind, PartyKind
from models.posting import VOUCHER_SEQ_WIDTH, ensure_open, queue_voucher
from models.posting_writer import Read, table_of, writer_for
from models.stock import Reservation
from models.timeutil import period_of
from models.unit_of_work import UnitOfWork, begin
from models.vat import check_invoice_number, line_tax, resolve_rate


@dataclass(frozen=True)
class ShipGoods:
    site_id: int
    item_id: int
    quantity: Decimal
    unit: str | None = None
    party_id: int | None = None
    #: Sale price per base unit, before tax. Default: the sales order's price, else the item's sale price.
    unit_price: Decimal | None = None
    #: Ship from this lot only; default first-expiry-first-out over all lots.
    lot_id: int | None = None
    sales_order_id: int | None = None
    #: VAT rate of this sale; None: the customer's, else the item's, else the org's default (models.vat).
    tax_rate: Decimal | None = None
    business_time: datetime | None = None
    origin_node: str = "server"
    note: str = ""
    #: 发票号码 of the VAT invoice issued for the sale, if already known.
    invoice_number: str | None = None


@dataclass(frozen=True)
class PickedLot:
    lot_id: int
    lot_code: str
    quantity: Decimal


@dataclass(frozen=True)
class Shipment:
    document_id: int
    number: str
    site_id: int
    item_id: int
    quantity: Decimal
    base_unit: str
    picks: list[PickedLot]
    revenue: Decimal
    tax: Decimal
    total: Decimal
    cost: Decimal
    voucher_number: str | None
    business_time: datetime


_documents, _lines = table_of(Document), table_of(DocumentLine)
_events = table_of(OutboxEvent)
_NEW_ID_TABLES = (_documents, table_of(Voucher))
_LOCK_ORDER = Read("shipment.lock_order", lambda: select(Document.id).where(
    Document.id == bindparam("id"), Document.org_id == bindparam("org_id")).with_for_update(), {}, {})


@dataclass(frozen=True)
class _Facts:
    freezes: tuple[FreezeRow, ...]
    #: The (item, site) balances, locked, by lot.
    balances: list[BalanceRow]
    new_ids: dict[str, int]


def _start(session: Session, actor: Actor, cmd: ShipGoods) -> tuple[UnitOfWork, _Facts]:
    """The unit of work and the shipment's facts, read together (one round trip on PostgreSQL). A
    sales order is locked before the balances, as every operation on an order locks them."""
    reads = []
    if cmd.sales_order_id is not None:
        reads.append(Read(_LOCK_ORDER.key, _LOCK_ORDER.build, {"id": cmd.sales_order_id, "org_id": actor.org_id},
                          {}))
    reads += [freezes_read(cmd.item_id, cmd.site_id), locked_balances_read(cmd.item_id, cmd.site_id),
              writer_for(session).ids_read(_NEW_ID_TABLES)]
    uow, results = begin(session, actor, reads)
    results = results[-3:]
    new_ids = dict(zip((t.name for t in _NEW_ID_TABLES), (int(v) for v in results[2][0]), strict=True))
    return uow, _Facts(freezes=tuple(FreezeRow(*row) for row in results[0]),
                       balances=[BalanceRow(*row) for row in results[1]], new_ids=new_ids)


@idempotent("ship")
def ship_goods(session: Session, actor: Actor, cmd: ShipGoods) -> Shipment:
    """Post a shipment; never oversells a site that forbids negative stock."""
    uow, facts = _start(session, actor, cmd)
    catalog = uow.catalog
    site = site_in(catalog, cmd.site_id)
    actor.require(Permission.SHIP, site.id)
    item = item_in(catalog, cmd.item_id)
    quantity = quantity_in_base(item, cmd.quantity, cmd.unit)
    when = business_time_or_now(session, actor, cmd.business_time)
    party = party_in(catalog, cmd.party_id)
    if party is not None and party.kind != PartyKind.CUSTOMER:
        raise ValidationError(f"{party.name} 不是客户", field="party_id")
    price = cmd.unit_price if cmd.unit_price is not None else (item.sale_price or Decimal(0))
    check_unit_price(price)
    invoice_number = check_invoice_number(cmd.invoice_number)

    # Read under the balance lock taken above: a count may have cut the reservations before it.
    order, reservations = _order_reservations(session, actor, cmd, item.id, site.id, party)
    if party is None and order is not None and order.party_id is not None:
        party = catalog.parties[order.party_id]  # the receivable is owed by the order's customer
    if order is not None:
        agreed = next(ln.unit_price for ln in order.lines if ln.item_id == item.id)
        # The order's price is what its margin check (and any approval) judged: a shipment against it
        # may not quietly sell at another one.
        if cmd.unit_price is not None and cmd.unit_price != agreed:
            raise ValidationError(f"按销售订单 {order.number} 的约定单价 {agreed.normalize():f} 出库；要改价请先改订单",
                                  field="unit_price")
        price = agreed
    rate = resolve_rate(cmd.tax_rate, party.vat_rate if party else None, party.kind if party else None,
                        item.vat_rate, catalog.org.settings)
    reserved_for_us: dict[int, Decimal] = {}
    for res in reservations:
        reserved_for_us[res.lot_id] = reserved_for_us.get(res.lot_id, Decimal(0)) + res.quantity
    balances = facts.balances
    picks = choose_fefo(item, site, balances, {b.lot_id: b for b in balances}, facts.freezes, quantity,
                        lot_id=cmd.lot_id, reserved_for_us=reserved_for_us)
    planned = plan_issue(picks, balances)
    issues = [line for line in planned if line.issue]
    cost = -sum((line.value for line in issues), Decimal(0))
    revenue = money(quantity * price)
    # Each lot's line carries its share of the revenue (the last one the rounding rest, so the lines
    # add up to the revenue) and its own tax; the document's tax is the sum of the lines' taxes.
    amounts = [money(-line.quantity * price) for line in issues]
    if amounts:
        amounts[-1] = revenue - sum(amounts[:-1], Decimal(0))
    taxes = [line_tax(amount, rate) for amount in amounts]
    tax = sum(taxes, Decimal(0)) if issues else line_tax(revenue, rate)
    total = revenue + tax
    check_offline(session, site.id, OfflineKind.SHIP, total)

    writer, org_id = uow.writer, actor.org_id
    series, day = document_series(DocKind.SHIPMENT, site, when)
    ensure_open(uow.catalog, period_of(when))  # before the counters: a closed period's says so less kindly
    numbers = writer.numbers(org_id, [(series, day, DOC_SEQ_WIDTH)] + (
        [(node.voucher_series(), period_of(when), VOUCHER_SEQ_WIDTH)] if total or cost else []))
    document_id, number = facts.new_ids["documents"], document_number(series, day, numbers[0])
    writer.insert(
        _documents, id=document_id, org_id=org_id, kind=DocKind.SHIPMENT, number=number, status=DocStatus.POSTED,
        business_time=when, site_id=site.id, party_id=party.id if party else None, created_by=actor.member_id,
        note=cmd.note, source_document_id=order.id if order else None, total_amount=total, tax_amount=tax,
        invoice_number=invoice_number)
    deltas = lot_deltas(planned)
    for lot_id, taken in _consume_reservations(reservations, quantity).items():
        deltas.setdefault(lot_id, [Decimal(0)] * 3)[1] -= taken
    queue_planned(writer, org_id, item.id, site.id, planned, deltas, document_id=document_id, business_time=when,
                  origin_node=cmd.origin_node)
    for n, line in enumerate(issues, start=1):
        taken = -line.quantity
        writer.insert(
            _lines, org_id=org_id, document_id=document_id, line_no=n, item_id=item.id, lot_id=line.balance.lot_id,
            quantity=taken, entered_quantity=cmd.quantity if n == 1 else None,
            entered_unit=cmd.unit or item.base_unit, unit_price=price, amount=amounts[n - 1],
            done_quantity=taken, tax_rate=rate, tax_amount=taxes[n - 1])
    if order is not None:
        order_line = next(ln for ln in order.lines if ln.item_id == item.id)
        order_line.done_quantity += quantity
        done = all(ln.done_quantity >= ln.quantity for ln in order.lines)
        transition(order, DocStatus.DONE if done else DocStatus.PARTIAL)

    voucher_no = None
    if total or cost:
        voucher_no = queue_voucher(
            uow, voucher_id=facts.new_ids["vouchers"], seq=numbers[-1], when=when, document_id=document_id,
            event="shipment.posted",
            facts={"party_kind": party.kind.value if party else "none", "site_kind": site.kind.value,
                   "item_code": item.code},
            amounts={"revenue": revenue, "tax": tax, "total": total, "cost": cost},
            summary=f"{number} {item.name} 出库", party_id=party.id if party else None).number
    picked = [PickedLot(line.balance.lot_id, line.balance.lot_code, -line.quantity) for line in issues]
    writer.insert(_events, org_id=org_id, kind="shipment.posted", document_id=document_id, payload={
        "document_id": document_id, "number": number, "site_id": site.id, "item_id": item.id,
        "quantity": dec(quantity), "amount": dec(total), "cost": dec(cost), "party_id": party.id if party else None,
        "lots": [{"lot_id": p.lot_id, "quantity": dec(p.quantity)} for p in picked],
    })
    return Shipment(
        document_id=document_id, number=number, site_id=site.id, item_id=item.id, quantity=quantity,
        base_unit=item.base_unit, picks=picked, revenue=revenue, tax=tax, total=total, cost=cost,
        voucher_number=voucher_no, business_time=when,
    )


def _order_reservations(
    session: Session, actor: Actor, cmd: ShipGoods, item_id: int, site_id: int, party: PartyInfo | None
) -> tuple[Document | None, list[Reservation]]:
    if cmd.sales_order_id is None:
        return None, []
    order = get_owned(session, Document, cmd.sales_order_id, actor.org_id, lock=True)
    if order.kind != DocKind.SALES_ORDER or order.status not in (DocStatus.CONFIRMED, DocStatus.PARTIAL):
        raise ValidationError("销售订单不存在或已完成", field="sales_order_id")
    if order.site_id != site_id or (party is not None and order.party_id != party.id):
        raise ValidationError("出库地点或客户与销售订单不一致", field="sales_order_id")
    if not any(line.item_id == item_id for line in order.lines):
        raise ValidationError("销售订单中没有此商品", field="item_id")
    # An order sent for approval (over the credit limit, thin margin) ships nothing until approved.
    approval = approval_status(session, actor.org_id, DocKind.SALES_ORDER.value, order.id)
    if approval is not None and approval != ApprovalStatus.APPROVED:
        raise SalesOrderNotApproved(f"销售订单尚未审批通过（{order.number}），不能出库",
                                    number=order.number, approval_status=str(approval))
    reservations = list(session.scalars(select(Reservation).where(
        Reservation.document_id == order.id, Reservation.item_id == item_id, Reservation.active.is_(True),
    ).order_by(Reservation.lot_id).execution_options(populate_existing=True)))
    return order, reservations


def _consume_reservations(reservations: list[Reservation], quantity: Decimal) -> dict[int, Decimal]:
    """Release as much of the order's reservation as this shipment covers; return lot → released."""
    released: dict[int, Decimal] = {}
    remaining = quantity
    for res in reservations:
        if remaining <= 0:
            break
        take = min(res.quantity, remaining)
        released[res.lot_id] = released.get(res.lot_id, Decimal(0)) + take
        res.quantity -= take
        res.active = res.quantity > 0
        remaining -= take
    return released
