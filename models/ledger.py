"""Stock primitives every operation shares: lock balances, check freezes, append moves.

Locking order is always (item_id, site_id, lot_id) ascending, so two operations that touch
the same balances can never wait on each other in a cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import bindparam, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import node
from models.catalog import Item
from models.documents import Document
from models.errors import InsufficientStock, StockFrozen
from models.org import Site
from models.posting_writer import PostingWriter, Read, table_of
from models.stock import Balance, Freeze, FreezeDirection, Lot, QcStatus, StockMove

CENT = Decimal("0.01")
COST_QUANTUM = Decimal("0.000001")
_moves = table_of(StockMove)


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


@dataclass
class BalanceRow:
    """A balance as a lean posting reads it, with its lot's FEFO columns (no ORM object)."""

    id: int
    lot_id: int
    on_hand: Decimal
    reserved: Decimal
    value: Decimal
    lot_code: str
    qc_status: QcStatus
    expires_on: date | None
    received_on: date | None


class LotLike(Protocol):
    """A lot's columns that FEFO reads (a plain row or the ORM's)."""

    @property
    def id(self) -> int: ...
    @property
    def qc_status(self) -> QcStatus: ...
    @property
    def expires_on(self) -> date | None: ...
    @property
    def received_on(self) -> date | None: ...


@dataclass(frozen=True)
class FreezeRow:
    """An active freeze as a lean posting reads it (no ORM object)."""

    id: int
    direction: FreezeDirection
    lot_id: int | None
    reason: str


_FREEZES = Read("ledger.freezes", lambda: select(Freeze.id, Freeze.direction, Freeze.lot_id, Freeze.reason).where(
    Freeze.item_id == bindparam("item_id"), Freeze.active.is_(True),
    or_(Freeze.site_id == bindparam("site_id"), Freeze.site_id.is_(None))), {}, {})


def freezes_read(item_id: int, site_id: int) -> Read:
    """:func:`active_freezes` as a writer read (rows for :class:`FreezeRow`)."""
    return Read(_FREEZES.key, _FREEZES.build, {"item_id": item_id, "site_id": site_id}, {})


def _locked_balances(*, with_empty: bool) -> Any:
    stmt = (
        select(Balance.id, Balance.lot_id, Balance.on_hand, Balance.reserved, Balance.value,
               Lot.code, Lot.qc_status, Lot.expires_on, Lot.received_on)
        .join(Lot, Lot.id == Balance.lot_id)
        .where(Balance.item_id == bindparam("item_id"), Balance.site_id == bindparam("site_id"))
        .order_by(Balance.lot_id)
        .with_for_update(of=Balance)
    )
    if with_empty:
        return stmt
    empty = (Balance.on_hand == 0) & (Balance.reserved == 0) & (Balance.value == 0)
    negative_allowed = select(Site.allow_negative).where(Site.id == bindparam("site_id")).scalar_subquery()
    return stmt.where(~empty | negative_allowed)


_BALANCES = Read("ledger.locked_balances", lambda: _locked_balances(with_empty=False), {}, {})
_ALL_BALANCES = Read("ledger.locked_balances_all", lambda: _locked_balances(with_empty=True), {}, {})


def locked_balances_read(item_id: int, site_id: int, *, with_empty: bool = False) -> Read:
    """:func:`lock_balances` as a writer read (rows for :class:`BalanceRow`): every balance of
    (item, site) locked, by lot — without the empty ones unless the site may go negative, or
    ``with_empty`` (a count names any lot the site ever held)."""
    read = _ALL_BALANCES if with_empty else _BALANCES
    return Read(read.key, read.build, {"item_id": item_id, "site_id": site_id}, {})


#: A balance as the ORM row or a lean posting's plain one: picking and costing read either.
B = TypeVar("B", Balance, BalanceRow)


@dataclass
class _Running(Generic[B]):
    """A balance's figures while a plan runs over it (the balance itself is not touched)."""

    source: B
    lot_id: int
    on_hand: Decimal
    reserved: Decimal
    value: Decimal


#: What costing reads of a balance: its figures, however held.
Figures = Balance | BalanceRow | _Running[Balance] | _Running[BalanceRow]


def moving_average_cost(balances: Sequence[Figures]) -> Decimal | None:
    """Return the (item, site) moving-average unit cost, or None when nothing is on hand."""
    qty = sum((b.on_hand for b in balances if b.on_hand > 0), Decimal(0))
    value = sum((b.value for b in balances if b.on_hand > 0), Decimal(0))
    if qty <= 0:
        return None
    return (value / qty).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Pick(Generic[B]):
    """A quantity taken from one lot's balance."""

    balance: B
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
    balances: Sequence[B],
    quantity: Decimal,
    *,
    lot_id: int | None = None,
    reserved_for_us: dict[int, Decimal] | None = None,
) -> list[Pick[B]]:
    """:func:`choose_fefo` over the item's freezes and the balances' lots, read now."""
    freezes = active_freezes(session, item.id, site.id)
    # Plain rows, not Lot objects: a collection point holds a lot per delivery, and FEFO needs four columns.
    lots = {lot.id: lot for lot in session.execute(
        select(Lot.id, Lot.qc_status, Lot.expires_on, Lot.received_on).where(
            Lot.id.in_([b.lot_id for b in balances])))}
    return choose_fefo(item, site, balances, lots, freezes, quantity, lot_id=lot_id,
                       reserved_for_us=reserved_for_us)


def choose_fefo(
    item: ItemNames,
    site: StockSite,
    balances: Sequence[B],
    lots: Mapping[int, LotLike],
    freezes: Sequence[FreezeLike],
    quantity: Decimal,
    *,
    lot_id: int | None = None,
    reserved_for_us: Mapping[int, Decimal] | None = None,
) -> list[Pick[B]]:
    """Choose lots first-expiry-first-out for ``quantity``, skipping frozen and QC-failed lots.

    ``lots`` holds each balance's lot, ``freezes`` the item's active freezes at the site.
    ``reserved_for_us`` maps lot → quantity reserved by the order being shipped, which is
    available to it though not to others. Raises InsufficientStock or StockFrozen.
    """
    reserved_for_us = reserved_for_us or {}
    candidates: list[tuple[B, Decimal]] = []
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

    def fefo_key(entry: tuple[B, Decimal]) -> tuple[int, str, str, int]:
        lot = lots[entry[0].lot_id]
        expiry = lot.expires_on.isoformat() if lot.expires_on else "9999-12-31"
        received = lot.received_on.isoformat() if lot.received_on else "9999-12-31"
        return (0, expiry, received, lot.id)

    candidates.sort(key=fefo_key)
    picks: list[Pick[B]] = []
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
        origin_node=node.origin(origin_node),
        reverses_move_id=reverses_move_id,
    )
    session.add(move)
    balance.on_hand += quantity
    balance.value += value
    return move


def issue_value(balance: Figures, quantity: Decimal, avg_cost: Decimal, *,
                site_empties: bool = True) -> Decimal:
    """Return the (negative) value of issuing ``quantity`` from a lot at the moving average.

    When the issue empties the whole (item, site), a lot that empties takes its whole remaining
    value, so no value is left stranded on a zero quantity by rounding. Otherwise every unit
    leaves at the average and :func:`plan_issue` moves what an emptied lot still
    carries onto a lot that holds stock, so the site's average does not drift.
    """
    if site_empties and quantity >= balance.on_hand > 0:
        return -balance.value
    return -money(quantity * avg_cost)


def empties_site(balances: Sequence[Figures], taken: Decimal) -> bool:
    """Return whether taking ``taken`` leaves nothing on hand at the (item, site)."""
    return taken >= sum((b.on_hand for b in balances if b.on_hand > 0), Decimal(0))


@dataclass(frozen=True)
class IssueLine(Generic[B]):
    """One planned move: an issue (negative quantity) or half of a stranded-value shift (zero)."""

    balance: B
    quantity: Decimal
    unit_cost: Decimal
    value: Decimal
    #: False for the zero-quantity pair that moves an emptied lot's leftover value.
    issue: bool = True


def _shifts(emptied: Sequence[_Running[B]], balances: Sequence[_Running[B]]) -> list[IssueLine[B]]:
    holders = [b for b in balances if b.on_hand > 0]
    if not holders:
        return []
    target = max(holders, key=lambda b: (b.on_hand, b.lot_id))
    lines: list[IssueLine[B]] = []
    for bal in emptied:
        if bal.on_hand != 0 or bal.value == 0:
            continue
        stranded = bal.value
        for side, value in ((bal, -stranded), (target, stranded)):
            side.value += value
            lines.append(IssueLine(side.source, Decimal(0), Decimal(0), value, issue=False))
    return lines


def plan_issue(picks: Sequence[Pick[B]], balances: Sequence[B]) -> list[IssueLine[B]]:
    """Take each pick out of stock at the (item, site) moving-average cost: the issue moves, then
    any stranded-value shifts. Pure: the balances are read, never changed."""
    avg = moving_average_cost(balances) or Decimal(0)
    whole_site = empties_site(balances, sum((p.quantity for p in picks), Decimal(0)))
    running = {b.lot_id: _Running(b, b.lot_id, b.on_hand, b.reserved, b.value) for b in balances}
    lines: list[IssueLine[B]] = []
    for pick in picks:
        now = running[pick.balance.lot_id]
        value = issue_value(now, pick.quantity, avg, site_empties=whole_site)
        now.on_hand -= pick.quantity
        now.value += value
        lines.append(IssueLine(pick.balance, -pick.quantity, avg, value))
    if not whole_site:
        lines += _shifts([running[p.balance.lot_id] for p in picks], list(running.values()))
    return lines


def issue_from(
    session: Session,
    picks: Sequence[Pick[Balance]],
    balances: Sequence[Balance],
    *,
    document: Document,
    business_time: datetime,
    origin_node: str = "server",
) -> list[StockMove]:
    """Append the moves of :func:`plan_issue` to the ORM balances; return the issue moves."""
    moves = []
    for line in plan_issue(picks, balances):
        move = append_move(session, line.balance, quantity=line.quantity, unit_cost=line.unit_cost,
                           value=line.value, document=document, business_time=business_time,
                           origin_node=origin_node)
        if line.issue:
            moves.append(move)
    return moves


def lot_deltas(planned: Sequence[IssueLine[BalanceRow]]) -> dict[int, list[Decimal]]:
    """Lot → [on hand, reserved, value] change of a lean posting's planned moves (add reservation
    changes to it before :func:`queue_planned`)."""
    deltas: dict[int, list[Decimal]] = {}
    for line in planned:
        delta = deltas.setdefault(line.balance.lot_id, [Decimal(0)] * 3)
        delta[0] += line.quantity
        delta[2] += line.value
    return deltas


def queue_planned(writer: PostingWriter, org_id: int, item_id: int, site_id: int,
                  planned: Sequence[IssueLine[BalanceRow]], deltas: Mapping[int, Sequence[Decimal]], *,
                  document_id: int, business_time: datetime, origin_node: str) -> None:
    """Queue a lean posting's planned moves and its balance changes (``deltas``) on the writer."""
    for line in planned:
        writer.insert(_moves, id=uuid.uuid4(), org_id=org_id, item_id=item_id, lot_id=line.balance.lot_id,
                      site_id=site_id, quantity=line.quantity,
                      unit_cost=line.unit_cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP), value=line.value,
                      document_id=document_id, business_time=business_time, origin_node=node.origin(origin_node),
                      reverses_move_id=None)
    for lot_id, (on_hand, reserved, value) in deltas.items():
        writer.bump_balance(org_id, item_id, site_id, lot_id, on_hand, value, reserved=reserved)
