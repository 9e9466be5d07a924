"""Stock counts: what was found on the shelf becomes the book quantity, via adjusting moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import node
from models.actor import Actor, Permission
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import ValidationError
from models.finance import Voucher
from models.idempotency import idempotent
from models.infra import OutboxEvent
from models.ledger import (
    BalanceRow,
    IssueLine,
    Pick,
    locked_balances_read,
    lot_deltas,
    money,
    moving_average_cost,
    plan_issue,
    queue_planned,
)
from models.operations.common import (
    DOC_SEQ_WIDTH,
    business_time_or_now,
    dec,
    document_number,
    document_series,
    item_in,
    quantity_in_base,
    site_in,
)
from models.operations.offline_guard import check_offline
from models.org import OfflineKind
from models.posting import VOUCHER_SEQ_WIDTH, ensure_open, queue_voucher
from models.posting_writer import table_of, writer_for
from models.stock import Reservation, StockMove
from models.timeutil import period_of
from models.unit_of_work import UnitOfWork, begin


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


_documents, _lines = table_of(Document), table_of(DocumentLine)
_events = table_of(OutboxEvent)
_NEW_ID_TABLES = (_documents, table_of(Voucher))


def _start(session: Session, actor: Actor, cmd: CountStock) -> tuple[UnitOfWork, list[BalanceRow], dict[str, int]]:
    """The unit of work, every balance of the item at the site (locked, empty ones too: a count may
    name any lot the site held) and the new ids, in one round trip on PostgreSQL."""
    writer = writer_for(session)
    uow, (rows, ids) = begin(session, actor, [locked_balances_read(cmd.item_id, cmd.site_id, with_empty=True),
                                              writer.ids_read(_NEW_ID_TABLES)])
    new_ids = dict(zip((t.name for t in _NEW_ID_TABLES), (int(v) for v in ids[0]), strict=True))
    return uow, [BalanceRow(*row) for row in rows], new_ids


@idempotent("count")
def count_stock(session: Session, actor: Actor, cmd: CountStock) -> CountResult:
    """Post a count: losses leave the oldest lots first, gains go to the newest lot. A lean posting:
    the plan is worked out over plain balance rows, its rows go out on the posting writer."""
    check_offline(session, cmd.site_id, OfflineKind.COUNT)
    uow, balances, ids = _start(session, actor, cmd)
    catalog = uow.catalog
    site = site_in(catalog, cmd.site_id)
    actor.require(Permission.COUNT, site.id)
    item = item_in(catalog, cmd.item_id)
    counted = Decimal(0) if cmd.counted == 0 else quantity_in_base(item, cmd.counted, cmd.unit)
    when = business_time_or_now(session, actor, cmd.business_time)
    if cmd.lot_id is not None:
        in_scope = [b for b in balances if b.lot_id == cmd.lot_id]
        if not in_scope:
            raise ValidationError("该地点没有这个批次", field="lot_id")
    else:
        in_scope = balances
    expected = sum((b.on_hand for b in in_scope), Decimal(0))
    diff = counted - expected
    if diff > 0 and not in_scope:
        raise ValidationError(f"{site.name} 没有 {item.name} 的批次，盘盈请先做入库", field="item_id")

    avg = moving_average_cost(balances) or _last_cost(session, in_scope)
    gain = loss = Decimal(0)
    planned: list[IssueLine[BalanceRow]] = []
    if diff > 0:
        target = max(in_scope, key=lambda b: (b.received_on or when.date(), b.lot_id))
        gain = money(diff * avg)
        planned = [IssueLine(target, diff, avg, gain)]
    elif diff < 0:
        oldest_first = sorted(in_scope, key=lambda b: (
            b.expires_on or when.date().max, b.received_on or when.date().max, b.lot_id))
        planned = plan_issue(_losses(oldest_first, -diff), balances)
        loss = -sum((line.value for line in planned if line.issue), Decimal(0))

    deltas = lot_deltas(planned)
    # Reservations through the ORM, before the numbers: a counter is taken only once nothing but
    # sending is left (models.posting_writer.numbers).
    released = _release_reservations_beyond_stock(session, item.id, site.id, in_scope, deltas) if diff < 0 else []

    writer, org_id = uow.writer, actor.org_id
    series, day = document_series(DocKind.COUNT, site, when)
    if gain or loss:
        ensure_open(uow.catalog, period_of(when))  # before the counters: a closed period's says so less kindly
    numbers = writer.numbers(org_id, [(series, day, DOC_SEQ_WIDTH)] + (
        [(node.voucher_series(), period_of(when), VOUCHER_SEQ_WIDTH)] if gain or loss else []))
    document_id, number = ids["documents"], document_number(series, day, numbers[0])
    writer.insert(_documents, id=document_id, org_id=org_id, kind=DocKind.COUNT, number=number,
                  status=DocStatus.POSTED, business_time=when, site_id=site.id, created_by=actor.member_id,
                  note=cmd.note, total_amount=gain - loss)
    writer.insert(_lines, org_id=org_id, document_id=document_id, line_no=1, item_id=item.id, lot_id=cmd.lot_id,
                  quantity=counted, entered_quantity=cmd.counted, entered_unit=cmd.unit or item.base_unit,
                  expected_quantity=expected, unit_price=avg, amount=gain - loss, done_quantity=diff)
    queue_planned(writer, org_id, item.id, site.id, planned, deltas, document_id=document_id, business_time=when,
                  origin_node="server")
    voucher_no = None
    if gain or loss:
        voucher_no = queue_voucher(
            uow, voucher_id=ids["vouchers"], seq=numbers[-1], when=when, document_id=document_id,
            event="count.posted", facts={"site_kind": site.kind.value}, amounts={"gain": gain, "loss": loss},
            summary=f"{number} {item.name} 盘点调整").number
    writer.insert(_events, org_id=org_id, kind="count.posted", document_id=document_id, payload={
        "document_id": document_id, "number": number, "site_id": site.id, "item_id": item.id,
        "expected": dec(expected), "counted": dec(counted), "difference": dec(diff),
        "released_reservations": released,
    })
    return CountResult(
        document_id=document_id, number=number, expected=expected, counted=counted, difference=diff,
        base_unit=item.base_unit, gain_value=gain, loss_value=loss, voucher_number=voucher_no,
    )


def _losses(oldest_first: list[BalanceRow], missing: Decimal) -> list[Pick[BalanceRow]]:
    """Where a loss comes from: unreserved stock first (oldest first), then reserved — a loss the
    free stock covers must not leave a lot promised beyond what it holds."""
    takes: dict[int, Decimal] = {}
    remaining = missing
    for free_only in (True, False):
        for bal in oldest_first:
            room = bal.on_hand - (bal.reserved if free_only else Decimal(0)) - takes.get(bal.lot_id, Decimal(0))
            take = min(max(room, Decimal(0)), remaining)
            if take > 0:
                takes[bal.lot_id] = takes.get(bal.lot_id, Decimal(0)) + take
                remaining -= take
    return [Pick(bal, takes[bal.lot_id]) for bal in oldest_first if bal.lot_id in takes]


def _release_reservations_beyond_stock(session: Session, item_id: int, site_id: int, balances: list[BalanceRow],
                                       deltas: dict[int, list[Decimal]]) -> list[dict[str, object]]:
    """Cut sales-order reservations (newest first) on lots a count left holding less than reserved,
    adding the cuts to ``deltas`` (lot → [on hand, reserved, value] changes).

    The shelf is the truth: stock that is not there cannot stay promised. Every writer of
    reservations holds the (item, site) balance lock, which the count holds too.
    """
    released: list[dict[str, object]] = []
    for bal in balances:
        delta = deltas.get(bal.lot_id)
        on_hand = bal.on_hand + (delta[0] if delta else Decimal(0))
        excess = bal.reserved - max(on_hand, Decimal(0))
        if excess <= 0:
            continue
        for res in session.scalars(select(Reservation).where(
            Reservation.item_id == item_id, Reservation.site_id == site_id, Reservation.lot_id == bal.lot_id,
            Reservation.active.is_(True),
        ).order_by(Reservation.id.desc())):
            cut = min(res.quantity, excess)
            res.quantity -= cut
            res.active = res.quantity > 0
            deltas.setdefault(bal.lot_id, [Decimal(0)] * 3)[1] -= cut
            excess -= cut
            released.append({"order_id": res.document_id, "lot_id": res.lot_id, "quantity": dec(cut)})
            if excess <= 0:
                break
    return released


def _last_cost(session: Session, balances: list[BalanceRow]) -> Decimal:
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
