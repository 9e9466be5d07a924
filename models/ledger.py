"""Stock primitives every operation shares: lock balances, check freezes, append moves.

Locking order is always (item_id, site_id, lot_id) ascending, so two operations that touch
the same balances can never wait on each other in a cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol, TypeVar

from sqlalchemy import or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.catalog import Item
from models.documents import Document
from models.errors import InsufficientStock, StockFrozen
from models.org import Site
from models.stock import Balance, Freeze, FreezeDirection, Lot, QcStatus, StockMove

CENT = Decimal("0.01")
COST_QUANTUM = Decimal("0.000001")


def money(value: Decimal) -> Decimal:
    """Round to the fen, half up, as Chinese invoices do."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt_qty(value: Decimal) -> str:
    """Render a quantity without trailing zeros (23.5, not 23.500000)."""
    text = format(value.normalize(), "f")
    return text


def lock_balances(session: Session, item_id: int, site_id: int, *, skip_empty: bool = False) -> list[Balance]:
    """Lock and return every balance row of (item, site), ordered by lot.

    ``skip_empty``: leave out rows with nothing on hand, reserved or valued. They add nothing to
    availability, the moving average or FEFO, and a collection point gathers thousands of emptied
    lots, all of which a shipment would otherwise load and lock. (Not for a site that may go
    negative: selling ahead of receipt books onto its newest lot, empty or not.)
    """
    empty = (Balance.on_hand == 0) & (Balance.reserved == 0) & (Balance.value == 0)
    stmt = (
        select(Balance)
        .where(Balance.item_id == item_id, Balance.site_id == site_id, ~empty if skip_empty else true())
        .order_by(Balance.lot_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def lock_balance(session: Session, org_id: int, item_id: int, site_id: int, lot_id: int) -> Balance:
    """Return the locked balance of one lot at a site, creating it at zero if new."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Balance)
        .values(org_id=org_id, item_id=item_id, site_id=site_id, lot_id=lot_id,
                on_hand=Decimal(0), reserved=Decimal(0), value=Decimal(0))
        .on_conflict_do_nothing(index_elements=["item_id", "site_id", "lot_id"])
    )
    stmt = (
        select(Balance)
        .where(Balance.item_id == item_id, Balance.site_id == site_id, Balance.lot_id == lot_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one()


def active_freezes(session: Session, item_id: int, site_id: int) -> list[Freeze]:
    """Return the freezes that apply to an item at a site (site-specific or everywhere)."""
    stmt = select(Freeze).where(
        Freeze.item_id == item_id,
        Freeze.active.is_(True),
        or_(Freeze.site_id == site_id, Freeze.site_id.is_(None)),
    )
    return list(session.scalars(stmt))


class FreezeLike(Protocol):
    """A freeze as the ORM row or a posting's plain read of it (models.operations.receiving)."""

    @property
    def id(self) -> int: ...
    @property
    def direction(self) -> FreezeDirection: ...
    @property
    def lot_id(self) -> int | None: ...
    @property
    def reason(self) -> str: ...


F = TypeVar("F", bound=FreezeLike)


def blocking_freeze(freezes: Iterable[F], lot_id: int | None, outbound: bool) -> F | None:
    """Return the first freeze that stops this lot moving in the given direction."""
    wanted = FreezeDirection.OUTBOUND if outbound else FreezeDirection.INBOUND
    for freeze in freezes:
        if freeze.direction not in (wanted, FreezeDirection.BOTH):
            continue
        if freeze.lot_id is None or freeze.lot_id == lot_id:
            return freeze
    return None


def ensure_inbound_allowed(session: Session, item: Item, site: Site, lot_id: int | None = None, *,
                           freezes: Sequence[Freeze] | None = None) -> None:
    """Raise StockFrozen if the item (or lot) may not come into the site.

    ``freezes`` reuses an :func:`active_freezes` list read earlier in the same transaction.
    """
    if freezes is None:
        freezes = active_freezes(session, item.id, site.id)
    freeze = blocking_freeze(freezes, lot_id, outbound=False)
    if freeze is not None:
        raise inbound_frozen(item.name, item.id, site.name, freeze)


def inbound_frozen(item_name: str, item_id: int, site_name: str, freeze: FreezeLike) -> StockFrozen:
    """The error for goods a freeze keeps out of a site."""
    return StockFrozen(f"{item_name} 在 {site_name} 已冻结入库：{freeze.reason}", freeze_id=freeze.id,
                       item_id=item_id)


def moving_average_cost(balances: Sequence[Balance]) -> Decimal | None:
    """Return the (item, site) moving-average unit cost, or None when nothing is on hand."""
    qty = sum((b.on_hand for b in balances if b.on_hand > 0), Decimal(0))
    value = sum((b.value for b in balances if b.on_hand > 0), Decimal(0))
    if qty <= 0:
        return None
    return (value / qty).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Pick:
    """A quantity taken from one lot's balance."""

    balance: Balance
    quantity: Decimal


class ItemNames(Protocol):
    """An item as the ORM row or the catalog snapshot's copy: what stock messages name."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def base_unit(self) -> str: ...


class StockSite(Protocol):
    """A site as the ORM row or the catalog snapshot's copy: what picking needs."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def allow_negative(self) -> bool: ...


def pick_fefo(
    session: Session,
    item: ItemNames,
    site: StockSite,
    balances: Sequence[Balance],
    quantity: Decimal,
    *,
    lot_id: int | None = None,
    reserved_for_us: dict[int, Decimal] | None = None,
) -> list[Pick]:
    """Choose lots first-expiry-first-out for ``quantity``, skipping frozen and QC-failed lots.

    ``reserved_for_us`` maps lot → quantity reserved by the order being shipped, which is
    available to it though not to others. Raises InsufficientStock or StockFrozen.
    """
    reserved_for_us = reserved_for_us or {}
    freezes = active_freezes(session, item.id, site.id)
    # Plain rows, not Lot objects: a collection point holds a lot per delivery, and FEFO needs four columns.
    lots = {lot.id: lot for lot in session.execute(
        select(Lot.id, Lot.qc_status, Lot.expires_on, Lot.received_on).where(
            Lot.id.in_([b.lot_id for b in balances])))}
    candidates: list[tuple[Balance, Decimal]] = []
    frozen_qty = Decimal(0)
    for bal in balances:
        if lot_id is not None and bal.lot_id != lot_id:
            continue
        available = bal.on_hand - bal.reserved + reserved_for_us.get(bal.lot_id, Decimal(0))
        if available <= 0:
            continue
        lot = lots[bal.lot_id]
        if lot.qc_status == QcStatus.FAILED or blocking_freeze(freezes, bal.lot_id, outbound=True):
            frozen_qty += available
            continue
        candidates.append((bal, available))

    def fefo_key(entry: tuple[Balance, Decimal]) -> tuple[int, str, str, int]:
        lot = lots[entry[0].lot_id]
        expiry = lot.expires_on.isoformat() if lot.expires_on else "9999-12-31"
        received = lot.received_on.isoformat() if lot.received_on else "9999-12-31"
        return (0, expiry, received, lot.id)

    candidates.sort(key=fefo_key)
    picks: list[Pick] = []
    remaining = quantity
    for bal, available in candidates:
        if remaining <= 0:
            break
        take = min(available, remaining)
        picks.append(Pick(bal, take))
        remaining -= take
    if remaining > 0:
        if site.allow_negative and lot_id is None:
            # Sell ahead of receipt: the shortfall goes negative on the newest lot we know
            # that may move out (never on a frozen or QC-failed lot).
            movable = [b for b in balances if lots[b.lot_id].qc_status != QcStatus.FAILED
                       and not blocking_freeze(freezes, b.lot_id, outbound=True)]
            target = max(movable, key=lambda b: b.lot_id, default=None)
            if target is not None:
                picks.append(Pick(target, remaining))
                return picks
        available_total = quantity - remaining
        if frozen_qty > 0 and available_total == 0:
            raise StockFrozen(
                f"{item.name} 在 {site.name} 的库存已冻结或质检未通过，不能出库",
                item_id=item.id, site_id=site.id, frozen=fmt_qty(frozen_qty),
            )
        raise InsufficientStock(
            f"库存不足：{item.name} 在 {site.name} 可用 {fmt_qty(available_total)} {item.base_unit}，"
            f"需要 {fmt_qty(quantity)} {item.base_unit}",
            item_id=item.id, site_id=site.id, available=fmt_qty(available_total), requested=fmt_qty(quantity),
        )
    return picks


def append_move(
    session: Session,
    balance: Balance,
    *,
    quantity: Decimal,
    unit_cost: Decimal,
    value: Decimal,
    document: Document,
    business_time: datetime,
    origin_node: str = "server",
    move_id: uuid.UUID | None = None,
    reverses_move_id: uuid.UUID | None = None,
) -> StockMove:
    """Append one move to the ledger and apply it to its (locked) balance."""
    move = StockMove(
        id=move_id or uuid.uuid4(),
        org_id=balance.org_id,
        item_id=balance.item_id,
        lot_id=balance.lot_id,
        site_id=balance.site_id,
        quantity=quantity,
        unit_cost=unit_cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP),
        value=value,
        document_id=document.id,
        business_time=business_time,
        origin_node=origin_node,
        reverses_move_id=reverses_move_id,
    )
    session.add(move)
    balance.on_hand += quantity
    balance.value += value
    return move


def issue_value(balance: Balance, quantity: Decimal, avg_cost: Decimal, *, site_empties: bool = True) -> Decimal:
    """Return the (negative) value of issuing ``quantity`` from a lot at the moving average.

    When the issue empties the whole (item, site), a lot that empties takes its whole remaining
    value, so no value is left stranded on a zero quantity by rounding. Otherwise every unit
    leaves at the average and :func:`shift_stranded_value` moves what an emptied lot still
    carries onto a lot that holds stock, so the site's average does not drift.
    """
    if site_empties and quantity >= balance.on_hand > 0:
        return -balance.value
    return -money(quantity * avg_cost)


def empties_site(balances: Sequence[Balance], taken: Decimal) -> bool:
    """Return whether taking ``taken`` leaves nothing on hand at the (item, site)."""
    return taken >= sum((b.on_hand for b in balances if b.on_hand > 0), Decimal(0))


def shift_stranded_value(
    session: Session,
    emptied: Sequence[Balance],
    balances: Sequence[Balance],
    *,
    document: Document,
    business_time: datetime,
    origin_node: str = "server",
) -> None:
    """Move the value left on lots that emptied onto the lot holding most stock at the site.

    A pair of zero-quantity moves in the same document: the site's value is unchanged, and each
    balance still equals the sum of its moves.
    """
    holders = [b for b in balances if b.on_hand > 0]
    if not holders:
        return
    target = max(holders, key=lambda b: (b.on_hand, b.lot_id))
    for bal in emptied:
        if bal.on_hand != 0 or bal.value == 0:
            continue
        stranded = bal.value
        for side, value in ((bal, -stranded), (target, stranded)):
            append_move(session, side, quantity=Decimal(0), unit_cost=Decimal(0), value=value,
                        document=document, business_time=business_time, origin_node=origin_node)


def issue_from(
    session: Session,
    picks: Sequence[Pick],
    balances: Sequence[Balance],
    *,
    document: Document,
    business_time: datetime,
    origin_node: str = "server",
) -> list[StockMove]:
    """Take each pick out of stock at the (item, site) moving-average cost; return the issue moves."""
    avg = moving_average_cost(balances) or Decimal(0)
    whole_site = empties_site(balances, sum((p.quantity for p in picks), Decimal(0)))
    moves = []
    for pick in picks:
        value = issue_value(pick.balance, pick.quantity, avg, site_empties=whole_site)
        moves.append(
            append_move(
                session, pick.balance, quantity=-pick.quantity, unit_cost=avg, value=value,
                document=document, business_time=business_time, origin_node=origin_node,
            )
        )
    if not whole_site:
        shift_stranded_value(session, [p.balance for p in picks], balances, document=document,
                             business_time=business_time, origin_node=origin_node)
    return moves
