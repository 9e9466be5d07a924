"""Stock counts: what was found on the shelf becomes the book quantity, via adjusting moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.documents import DocKind, DocStatus, DocumentLine
from models.errors import ValidationError
from models.idempotency import idempotent
from models.ledger import (
    append_move,
    empties_site,
    issue_value,
    lock_balances,
    money,
    moving_average_cost,
    shift_stranded_value,
)
from models.operations.common import business_time_or_now, dec, item_in, open_document, quantity_in_base, site_in
from models.outbox import emit
from models.posting import post_voucher
from models.stock import Balance, Lot, Reservation, StockMove
from models.unit_of_work import catalog_of


@dataclass(frozen=True)
class CountStock:
    site_id: int
    item_id: int
    #: What was counted: for one lot when ``lot_id`` is given, else for the item at the site.
    counted: Decimal
    unit: str | None = None
    lot_id: int | None = None
    business_time: datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class CountResult:
    document_id: int
    number: str
    expected: Decimal
    counted: Decimal
    difference: Decimal
    base_unit: str
    gain_value: Decimal
    loss_value: Decimal
    voucher_number: str | None


@idempotent("count")
def count_stock(session: Session, actor: Actor, cmd: CountStock) -> CountResult:
    """Post a count: losses leave the oldest lots first, gains go to the newest lot."""
    catalog = catalog_of(session, actor.org_id)
    site = site_in(catalog, cmd.site_id)
    actor.require(Permission.COUNT, site.id)
    item = item_in(catalog, cmd.item_id)
    counted = Decimal(0) if cmd.counted == 0 else quantity_in_base(item, cmd.counted, cmd.unit)
    when = business_time_or_now(session, actor, cmd.business_time)
    balances = lock_balances(session, item.id, site.id)
    if cmd.lot_id is not None:
        balances_in_scope = [b for b in balances if b.lot_id == cmd.lot_id]
        if not balances_in_scope:
            raise ValidationError("该地点没有这个批次", field="lot_id")
    else:
        balances_in_scope = balances
    expected = sum((b.on_hand for b in balances_in_scope), Decimal(0))
    diff = counted - expected
    if diff > 0 and not balances_in_scope:
        raise ValidationError(f"{site.name} 没有 {item.name} 的批次，盘盈请先做入库", field="item_id")

    doc = open_document(session, actor, DocKind.COUNT, DocStatus.POSTED, when, site=site, note=cmd.note)
    avg = moving_average_cost(balances) or _last_cost(session, balances_in_scope)
    gain = loss = Decimal(0)
    released: list[dict[str, object]] = []
    lot_ids = [b.lot_id for b in balances_in_scope]
    lots = {lot.id: lot for lot in session.scalars(select(Lot).where(Lot.id.in_(lot_ids)))}
    if diff > 0:
        target = max(balances_in_scope, key=lambda b: (lots[b.lot_id].received_on or when.date(), b.lot_id))
        gain = money(diff * avg)
        append_move(session, target, quantity=diff, unit_cost=avg, value=gain, document=doc, business_time=when)
    elif diff < 0:
        remaining = -diff
        oldest_first = sorted(balances_in_scope, key=lambda b: (
            lots[b.lot_id].expires_on or when.date().max, lots[b.lot_id].received_on or when.date().max, b.lot_id))
        # Unreserved stock first (oldest first), then reserved: a loss the free stock covers
        # must not leave a lot promised beyond what it holds.
        takes: dict[int, Decimal] = {}
        for free_only in (True, False):
            for bal in oldest_first:
                room = bal.on_hand - (bal.reserved if free_only else Decimal(0)) - takes.get(bal.lot_id, Decimal(0))
                take = min(max(room, Decimal(0)), remaining)
                if take > 0:
                    takes[bal.lot_id] = takes.get(bal.lot_id, Decimal(0)) + take
                    remaining -= take
        whole_site = empties_site(balances, sum(takes.values(), Decimal(0)))
        for bal in oldest_first:
            take = takes.get(bal.lot_id, Decimal(0))
            if take <= 0:
                continue
            value = issue_value(bal, take, avg, site_empties=whole_site)
            append_move(session, bal, quantity=-take, unit_cost=avg, value=value, document=doc, business_time=when)
            loss -= value
        if not whole_site:
            shift_stranded_value(session, [b for b in oldest_first if b.lot_id in takes], balances,
                                 document=doc, business_time=when)
        released = _release_reservations_beyond_stock(session, balances_in_scope)
    doc.total_amount = gain - loss
    doc.lines.append(DocumentLine(
        org_id=actor.org_id, line_no=1, item_id=item.id, lot_id=cmd.lot_id, quantity=counted,
        entered_quantity=cmd.counted, entered_unit=cmd.unit or item.base_unit, expected_quantity=expected,
        unit_price=avg, amount=gain - loss, done_quantity=diff,
    ))
    voucher = None
    if gain or loss:
        voucher = post_voucher(session, doc, "count.posted", facts={"site_kind": site.kind.value},
                               amounts={"gain": gain, "loss": loss}, when=when,
                               summary=f"{doc.number} {item.name} 盘点调整")
    emit(session, actor.org_id, "count.posted", {
        "document_id": doc.id, "number": doc.number, "site_id": site.id, "item_id": item.id,
        "expected": dec(expected), "counted": dec(counted), "difference": dec(diff),
        "released_reservations": released,
    }, document_id=doc.id)
    return CountResult(
        document_id=doc.id, number=doc.number, expected=expected, counted=counted, difference=diff,
        base_unit=item.base_unit, gain_value=gain, loss_value=loss,
        voucher_number=voucher.number if voucher else None,
    )


def _release_reservations_beyond_stock(session: Session, balances: list[Balance]) -> list[dict[str, object]]:
    """Cut sales-order reservations (newest first) on lots a count left holding less than reserved.

    The shelf is the truth: stock that is not there cannot stay promised. Every writer of
    reservations holds the (item, site) balance lock, which the count holds too.
    """
    released: list[dict[str, object]] = []
    for bal in balances:
        excess = bal.reserved - max(bal.on_hand, Decimal(0))
        if excess <= 0:
            continue
        for res in session.scalars(select(Reservation).where(
            Reservation.item_id == bal.item_id, Reservation.site_id == bal.site_id,
            Reservation.lot_id == bal.lot_id, Reservation.active.is_(True),
        ).order_by(Reservation.id.desc())):
            cut = min(res.quantity, excess)
            res.quantity -= cut
            res.active = res.quantity > 0
            bal.reserved -= cut
            excess -= cut
            released.append({"order_id": res.document_id, "lot_id": res.lot_id, "quantity": dec(cut)})
            if excess <= 0:
                break
    return released


def _last_cost(session: Session, balances: list[Balance]) -> Decimal:
    """Unit cost to value a gain when nothing is on hand: the lots' latest receipt cost."""
    if not balances:
        return Decimal(0)
    cost = session.scalar(
        select(StockMove.unit_cost)
        .where(StockMove.lot_id.in_([b.lot_id for b in balances]), StockMove.quantity > 0)
        .order_by(StockMove.recorded_at.desc())
        .limit(1)
    )
    return cost or Decimal(0)
