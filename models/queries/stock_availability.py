"""Stock availability: on hand, reserved, frozen, QC-held and available per item and site, and per lot.

The one query behind the mini-program's /stock and /stock/<id>/lots, the bot's 库存 answer, the
stock alerts in to-dos and the emergency-transfer suggestion. "Available" is what ``ship_goods``
could ship now: ``ledger.pick_fefo`` skips QC-failed lots and lots an outbound (or both-ways)
freeze stops at this site — a freeze of the item or of the lot, at the site or everywhere — and
takes at most ``on_hand - reserved`` of each remaining lot. An inbound-only freeze stops nothing
leaving, so it holds nothing back here. Writes nothing.

Per lot, ``on_hand - reserved`` (never below zero) is either available or held back; summed:
``available + frozen + qc_held == Σ max(on_hand - reserved, 0)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, Subquery, case, func, or_, select, tuple_, type_coerce
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Item
from models.errors import PermissionDenied
from models.ledger import blocking_freeze
from models.lookup import get_owned
from models.org import Site, SiteKind
from models.stock import Balance, Freeze, FreezeDirection, Lot, QcStatus
from models.types import Qty

ZERO = Decimal(0)


@dataclass(frozen=True)
class LotAvailability:
    site_id: int
    lot_id: int
    lot_code: str
    on_hand: Decimal
    reserved: Decimal
    expires_on: date | None
    qc_status: str
    #: An outbound or both-ways freeze stops this lot leaving the site; its reason.
    frozen_reason: str | None
    #: What ship_goods could take from this lot now (zero when frozen or QC failed).
    available: Decimal
    #: The freeze that holds it (what lifting it takes), if any.
    freeze_id: int | None = None
    #: Its inventory value at cost (the balance's value: Σ of its moves' values).
    value: Decimal = ZERO

    @property
    def qc_failed(self) -> bool:
        return self.qc_status == QcStatus.FAILED.value

    @property
    def frozen(self) -> bool:
        """Held by a freeze (a QC-failed lot counts as QC-held, not frozen)."""
        return self.frozen_reason is not None and not self.qc_failed

    @property
    def held(self) -> bool:
        """Cannot be shipped at all: frozen or QC failed."""
        return self.frozen_reason is not None or self.qc_failed

    @property
    def free(self) -> Decimal:
        """On hand not reserved (what would be available without the hold)."""
        return max(self.on_hand - self.reserved, ZERO)


@dataclass(frozen=True)
class Availability:
    site_id: int
    site_name: str
    item_id: int
    item_name: str
    base_unit: str
    on_hand: Decimal
    reserved: Decimal
    #: Unreserved stock in frozen lots / in QC-failed lots: there, but it cannot be shipped.
    frozen: Decimal
    qc_held: Decimal
    available: Decimal
    nearest_expiry: date | None
    #: Lots with stock that cannot be shipped (frozen or QC failed).
    held_lots: int
    lots: tuple[LotAvailability, ...]
    #: Inventory value at cost of the lots here (Σ of their balances' values).
    value: Decimal = ZERO


def lot_rows(session: Session, org_id: int, item_ids: Collection[int] | None,
              site_ids: Collection[int] | None, *,
              lot_ids: Collection[int] | None = None,
              pairs: Collection[tuple[int, int]] | None = None) -> dict[tuple[int, int], list[LotAvailability]]:
    """{(site, item): lots with stock, first expiry first}, freezes applied (two statements).

    ``lot_ids``: only these lots (one lot's stock per site, for its trace); ``pairs``: only these
    (site, item) pairs (a page of the stock list, not every named item at every named site)."""
    # Plain columns, not ORM rows: a page of the console's stock list reads a few thousand lots.
    stmt = (select(Balance.site_id, Balance.item_id, Balance.on_hand, Balance.reserved, Balance.value,
                   Lot.id, Lot.code, Lot.expires_on, Lot.qc_status)
            .join(Lot, Lot.id == Balance.lot_id)
            .where(Balance.org_id == org_id, or_(Balance.on_hand != 0, Balance.reserved != 0))
            .order_by(Balance.site_id, Balance.item_id, Lot.expires_on.is_(None), Lot.expires_on, Lot.id))
    if item_ids is not None:
        stmt = stmt.where(Balance.item_id.in_(list(item_ids)))
    if site_ids is not None:
        stmt = stmt.where(Balance.site_id.in_(list(site_ids)))
    if lot_ids is not None:
        stmt = stmt.where(Balance.lot_id.in_(list(lot_ids)))
    if pairs is not None:
        stmt = stmt.where(tuple_(Balance.site_id, Balance.item_id).in_(sorted(pairs)))
    found = list(session.execute(stmt))
    if not found:
        return {}
    freezes: dict[int, list[Freeze]] = defaultdict(list)
    for freeze in session.scalars(select(Freeze).where(
            Freeze.org_id == org_id, Freeze.active.is_(True),
            Freeze.item_id.in_({row.item_id for row in found})).order_by(Freeze.id)):
        freezes[freeze.item_id].append(freeze)
    out: dict[tuple[int, int], list[LotAvailability]] = defaultdict(list)
    for site_id, item_id, on_hand, reserved, value, lot_id, code, expires_on, qc_status in found:
        here = [f for f in freezes.get(item_id, ()) if f.site_id in (None, site_id)]
        hit = blocking_freeze(here, lot_id, outbound=True)  # the rule pick_fefo applies
        held = hit is not None or qc_status == QcStatus.FAILED
        out[(site_id, item_id)].append(LotAvailability(
            site_id=site_id, lot_id=lot_id, lot_code=code, on_hand=on_hand, reserved=reserved,
            expires_on=expires_on, qc_status=qc_status.value,
            frozen_reason=hit.reason if hit is not None else None,
            available=ZERO if held else max(on_hand - reserved, ZERO), value=value,
            freeze_id=hit.id if hit is not None else None))
    return out


def _sum(lots: Iterable[LotAvailability], site: Site, item: Item) -> Availability:
    lots = tuple(lots)
    expiries = [lot.expires_on for lot in lots if lot.expires_on is not None and lot.on_hand != 0]
    return Availability(
        site_id=site.id, site_name=site.name, item_id=item.id, item_name=item.name, base_unit=item.base_unit,
        on_hand=sum((lot.on_hand for lot in lots), ZERO), reserved=sum((lot.reserved for lot in lots), ZERO),
        frozen=sum((lot.free for lot in lots if lot.frozen), ZERO),
        qc_held=sum((lot.free for lot in lots if lot.qc_failed), ZERO),
        available=sum((lot.available for lot in lots), ZERO),
        nearest_expiry=min(expiries) if expiries else None,
        held_lots=sum(1 for lot in lots if lot.held and lot.on_hand > 0), lots=lots,
        value=sum((lot.value for lot in lots), ZERO))


def availability_of(session: Session, org_id: int, sites: dict[int, Site],
                    keys: Collection[tuple[int, int]]) -> list[Availability]:
    """Availability of named (site, item) pairs, in the order given (three statements for a page of them).

    No permission check: ``sites`` are the caller's already-checked visible sites (each key's site among them).
    """
    if not keys:
        return []
    by_key = lot_rows(session, org_id, {k[1] for k in keys}, {k[0] for k in keys}, pairs=keys)
    items = {i.id: i for i in session.scalars(select(Item).where(Item.org_id == org_id,
                                                                 Item.id.in_({k[1] for k in keys})))}
    return [_sum(by_key.get(key, []), sites[key[0]], items[key[1]]) for key in keys]


def availability_at(session: Session, org_id: int, item_id: int, site_id: int) -> Availability:
    """Availability of one item at one site. No permission check: callers have checked the site."""
    site = session.get_one(Site, site_id)
    item = session.get_one(Item, item_id)
    return _sum(lot_rows(session, org_id, [item_id], [site_id]).get((site_id, item_id), []), site, item)


def visible_stock_sites(session: Session, actor: Actor, site_ids: Collection[int] | None = None,
                        *, active_only: bool = False) -> list[Site]:
    """The stock-holding sites whose stock the actor may see (only ``site_ids``, if given: each must
    be the org's — else NotFound — and visible — else PermissionDenied)."""
    allowed = actor.site_ids(Permission.VIEW_STOCK)
    if allowed is not None and not allowed:
        raise PermissionDenied("没有权限：查看库存", permission=Permission.VIEW_STOCK.value)
    if site_ids is not None:
        sites = [get_owned(session, Site, sid, actor.org_id) for sid in sorted(set(site_ids))]
        for site in sites:
            if allowed is not None and site.id not in allowed:
                raise PermissionDenied("没有权限：查看该地点库存", site_id=site.id)
        return [s for s in sites if s.kind != SiteKind.IN_TRANSIT and (s.active or not active_only)]
    stmt = select(Site).where(Site.org_id == actor.org_id, Site.kind != SiteKind.IN_TRANSIT).order_by(Site.id)
    if active_only:
        stmt = stmt.where(Site.active.is_(True))
    if allowed is not None:
        stmt = stmt.where(Site.id.in_(allowed))
    return list(session.scalars(stmt))


def stock_availability(session: Session, actor: Actor, *, site_ids: Collection[int] | None = None,
                       item_ids: Collection[int] | None = None, active_sites_only: bool = False,
                       include_empty: bool = False) -> list[Availability]:
    """Availability per (site, item) with stock at the sites the actor may see, by site then item.

    Requires VIEW_STOCK (at each named site). Named items must be the org's (NotFound otherwise).
    ``include_empty`` (with ``item_ids``): also a zero row for each named item at each site without it.
    """
    sites = {s.id: s for s in visible_stock_sites(session, actor, site_ids, active_only=active_sites_only)}
    if item_ids is not None:
        for item_id in item_ids:
            get_owned(session, Item, item_id, actor.org_id)
    if not sites:
        return []
    by_key = lot_rows(session, actor.org_id, item_ids, list(sites))
    if include_empty and item_ids is not None:
        for key in ((sid, iid) for sid in sites for iid in item_ids):
            by_key.setdefault(key, [])
    items = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_({k[1] for k in by_key})))}
    return [_sum(by_key[key], sites[key[0]], items[key[1]]) for key in sorted(by_key)]


def lot_availability(session: Session, actor: Actor, item_id: int,
                     site_id: int | None = None) -> tuple[Item, list[tuple[Site, LotAvailability]]]:
    """The item's lots with stock per visible site (site order, then first expiry first)."""
    item = get_owned(session, Item, item_id, actor.org_id)
    sites = {s.id: s for s in visible_stock_sites(session, actor, [site_id] if site_id is not None else None)}
    if not sites:
        return item, []
    by_key = lot_rows(session, actor.org_id, [item.id], list(sites))
    return item, [(sites[sid], lot) for sid, _iid in sorted(by_key) for lot in by_key[(sid, _iid)]]


def outbound_frozen_items(session: Session, org_id: int, item_ids: Collection[int] | None = None) -> set[int]:
    """Items with an active freeze that stops stock leaving (somewhere): only their lots can be frozen."""
    stmt = select(Freeze.item_id).where(Freeze.org_id == org_id, Freeze.active.is_(True),
                                        Freeze.direction.in_([FreezeDirection.OUTBOUND, FreezeDirection.BOTH]))
    if item_ids is not None:
        stmt = stmt.where(Freeze.item_id.in_(list(item_ids)))
    return set(session.scalars(stmt.distinct()))


def held_lots(session: Session, actor: Actor) -> list[tuple[Site, Item, LotAvailability]]:
    """Lots with stock that cannot be shipped (QC failed or frozen) at the sites the actor sees.

    Empty (not refused) for a member who sees no stock: to-dos list what is there for them. Only the
    items that can have a held lot (an active outbound freeze, or a QC-failed lot with stock) are read
    lot by lot: at 2,000 items the rest of the stock is never loaded."""
    allowed = actor.site_ids(Permission.VIEW_STOCK)
    if allowed is not None and not allowed:
        return []
    sites = {s.id: s for s in visible_stock_sites(session, actor)}
    if not sites:
        return []
    candidates = outbound_frozen_items(session, actor.org_id) | set(session.scalars(
        select(Balance.item_id)
        .where(Balance.org_id == actor.org_id, Balance.on_hand > 0, Balance.site_id.in_(list(sites)),
               Balance.lot_id.in_(failed_lots(actor.org_id))).distinct()))
    if not candidates:
        return []
    by_key = lot_rows(session, actor.org_id, candidates, list(sites))
    item_ids = {k[1] for k in by_key}
    items = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_(item_ids)))} if item_ids else {}
    return [(sites[sid], items[iid], lot) for sid, iid in sorted(by_key) for lot in by_key[(sid, iid)]
            if lot.held and lot.on_hand > 0]



def failed_lots(org_id: int) -> Select[int]:
    """The org's QC-failed lots' ids, from their partial index (few, whatever the number of lots)."""
    return select(Lot.id).where(Lot.org_id == org_id, Lot.qc_status == QcStatus.FAILED)


def unfrozen_free_stock(org_id: int, site_ids: Collection[int]) -> Subquery:
    """Per (site_id, item_id): ``free`` = Σ unreserved stock of lots not QC failed, in SQL.

    For an item without an active outbound freeze (:func:`outbound_frozen_items`) this is its
    available stock by the rule of :func:`lot_rows`; a frozen item's needs :func:`lot_rows`."""
    free = func.sum(case((Balance.on_hand > Balance.reserved, Balance.on_hand - Balance.reserved), else_=0))
    # The few failed lots left out by id, not every balance joined to its lot.
    return (select(Balance.site_id, Balance.item_id, type_coerce(free, Qty()).label("free"))
            .where(Balance.org_id == org_id, Balance.site_id.in_(list(site_ids)),
                   Balance.lot_id.not_in(failed_lots(org_id)))
            .group_by(Balance.site_id, Balance.item_id).subquery())
