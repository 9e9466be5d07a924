"""Stock value by site, and slow movers (stock that has not gone out for N days, and the money in it).

Value is the balances' value at cost (Σ of the moves' values, the figure the 1403/1405 accounts
carry), summed per site the actor may see (VIEW_STOCK). A slow mover is an (site, item) pair with
stock on hand and no shipment or transfer out of the site in the last N days — and whose oldest lot
in stock arrived more than N days ago (stock received yesterday is not slow). Reversals, counts and
the other documents are not movement. Both are a few set-based statements whatever the size.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import cast

from sqlalchemy import func, or_, select, type_coerce
from sqlalchemy.orm import Session

from models.actor import Actor
from models.base import utcnow
from models.catalog import Item
from models.documents import DocKind, Document
from models.errors import ValidationError
from models.queries.stock_availability import visible_stock_sites
from models.stock import Balance, Lot, StockMove
from models.timeutil import local_date
from models.types import Money

ZERO = Decimal(0)
#: Slow-mover windows people ask about: a day to two years.
MIN_DAYS, MAX_DAYS = 1, 730
#: The slow-mover list shows the pairs with the most money tied up first, this many at most.
SLOW_LIMIT = 100
_OUTBOUND = (DocKind.SHIPMENT, DocKind.TRANSFER)


@dataclass(frozen=True)
class SiteValue:
    site_id: int
    site_name: str
    value: Decimal
    #: Items with stock on hand at the site.
    items: int
    lots: int


@dataclass(frozen=True)
class StockValue:
    sites: tuple[SiteValue, ...]
    total: Decimal
    as_of: date


def stock_value_by_site(session: Session, actor: Actor, site_ids: Collection[int] | None = None) -> StockValue:
    """Inventory value at cost per visible site (every visible site, also those holding nothing)."""
    sites = visible_stock_sites(session, actor, site_ids)
    today = local_date(utcnow())
    if not sites:
        return StockValue((), ZERO, today)
    # Per (site, item) first, then per site: two hash aggregates over one pass of the balances, where a
    # COUNT(DISTINCT item) per site would read them in index order (at 100,000 documents 3x slower).
    pairs = (select(Balance.site_id, func.sum(Balance.value).label("value"), func.count().label("lots"))
             .where(Balance.org_id == actor.org_id, Balance.site_id.in_([s.id for s in sites]), Balance.on_hand != 0)
             .group_by(Balance.site_id, Balance.item_id).subquery())
    stmt = (select(pairs.c.site_id, type_coerce(func.sum(pairs.c.value), Money()), func.count(),
                   func.sum(pairs.c.lots))
            .group_by(pairs.c.site_id))
    rows_found = cast(list[tuple[int, Decimal | None, int, int]], session.execute(stmt).all())
    found = {site_id: (Decimal(value or ZERO), items, int(lots)) for site_id, value, items, lots in rows_found}
    rows = tuple(SiteValue(s.id, s.name, *found.get(s.id, (ZERO, 0, 0))) for s in sites)
    return StockValue(rows, sum((r.value for r in rows), ZERO), today)


@dataclass(frozen=True)
class SlowMover:
    site_id: int
    site_name: str
    item_id: int
    item_name: str
    base_unit: str
    on_hand: Decimal
    #: Money tied up: the stock's value at cost.
    value: Decimal
    #: The last shipment or transfer out of this site (None: never).
    last_outbound: datetime | None
    #: The oldest lot in stock here arrived on.
    oldest_received: date | None
    #: Days since the last outbound move (or since the oldest lot arrived, if it never moved out).
    idle_days: int | None


@dataclass(frozen=True)
class SlowMovers:
    days: int
    rows: tuple[SlowMover, ...]
    total_value: Decimal
    #: More pairs are slow than the list shows (it shows the most money first).
    truncated: bool
    as_of: date


def slow_movers(session: Session, actor: Actor, days: int, site_id: int | None = None) -> SlowMovers:
    """Pairs with stock and no outbound move for ``days`` days, most money tied up first (VIEW_STOCK)."""
    if isinstance(days, bool) or not MIN_DAYS <= days <= MAX_DAYS:
        raise ValidationError(f"天数须在 {MIN_DAYS} 到 {MAX_DAYS} 之间", field="days")
    sites = {s.id: s for s in visible_stock_sites(session, actor, [site_id] if site_id is not None else None)}
    now = utcnow()
    today = local_date(now)
    if not sites:
        return SlowMovers(days, (), ZERO, False, today)
    cutoff = now - timedelta(days=days)
    # Recent outbound: read through the documents' (org, kind, time) index, so only the window is read.
    moved = (select(StockMove.site_id).join(Document, Document.id == StockMove.document_id)
             .where(Document.org_id == actor.org_id, Document.kind.in_(_OUTBOUND), Document.business_time >= cutoff,
                    StockMove.quantity < 0, StockMove.site_id == Balance.site_id,
                    StockMove.item_id == Balance.item_id).exists())
    oldest = func.min(Lot.received_on)
    stmt = (select(Balance.site_id, Balance.item_id, func.sum(Balance.on_hand), func.sum(Balance.value), oldest)
            .join(Lot, Lot.id == Balance.lot_id)
            .where(Balance.org_id == actor.org_id, Balance.site_id.in_(list(sites)), Balance.on_hand > 0, ~moved)
            .group_by(Balance.site_id, Balance.item_id)
            .having(or_(oldest.is_(None), oldest <= today - timedelta(days=days)))
            .order_by(func.sum(Balance.value).desc(), Balance.site_id, Balance.item_id)
            .limit(SLOW_LIMIT + 1))
    found = list(session.execute(stmt))
    truncated = len(found) > SLOW_LIMIT
    found = found[:SLOW_LIMIT]
    if not found:
        return SlowMovers(days, (), ZERO, False, today)
    item_ids = {row[1] for row in found}
    items = {i.id: (i.name, i.base_unit) for i in session.execute(
        select(Item.id, Item.name, Item.base_unit).where(Item.org_id == actor.org_id, Item.id.in_(item_ids)))}
    last = _last_outbound(session, actor.org_id, {row[0] for row in found}, item_ids)
    rows = []
    for site, item, on_hand, value, received in found:
        last_out = last.get((site, item))
        since = local_date(last_out) if last_out is not None else received
        rows.append(SlowMover(site, sites[site].name, item, items[item][0], items[item][1], Decimal(on_hand),
                              Decimal(value), last_out, received, (today - since).days if since else None))
    return SlowMovers(days, tuple(rows), sum((r.value for r in rows), ZERO), truncated, today)


def _last_outbound(session: Session, org_id: int, site_ids: set[int],
                   item_ids: set[int]) -> dict[tuple[int, int], datetime]:
    """{(site, item): time of the last shipment or transfer out} for the listed pairs (one statement)."""
    stmt = (select(StockMove.site_id, StockMove.item_id, func.max(Document.business_time))
            .join(Document, Document.id == StockMove.document_id)
            .where(StockMove.org_id == org_id, StockMove.item_id.in_(item_ids), StockMove.site_id.in_(site_ids),
                   StockMove.quantity < 0, Document.kind.in_(_OUTBOUND))
            .group_by(StockMove.site_id, StockMove.item_id))
    return {(site, item): when for site, item, when in session.execute(stmt)}
