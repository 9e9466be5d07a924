"""The one-tap emergency transfer's suggestion: the destination's shortfall, capped by what a source
can spare, with the source chosen among the sites the member may see.

Requires Permission.VIEW_STOCK at the destination and at the source: the suggestion shows both sites'
available stock, so a site the member may not look at is never considered, let alone shown.
Writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.errors import ValidationError
from models.operations.common import active_item, stock_site
from models.org import Site, SiteKind
from models.queries.stock_availability import availability_at


@dataclass(frozen=True)
class Need:
    item_id: int
    #: What the destination needs (base unit); None: suggest all the source can spare.
    need: Decimal | None = None


@dataclass(frozen=True)
class Suggestion:
    item_id: int
    item_name: str
    base_unit: str
    source_available: Decimal
    destination_available: Decimal
    shortfall: Decimal | None
    suggested: Decimal


@dataclass(frozen=True)
class EmergencyPlan:
    source: Site
    destination: Site
    suggestions: list[Suggestion]


#: Transit time assumed for a route without a declared one: longer than any declared (routes.TRANSIT_HOURS_MAX).
_NO_HOURS = 10**6


def usable(session: Session, org_id: int, item_id: int, site_id: int) -> Decimal:
    """Return what can leave a site now: what ship_goods could ship (the stock-availability query)."""
    return availability_at(session, org_id, item_id, site_id).available


def _source(session: Session, actor: Actor, to_site_id: int, from_site_id: int | None,
            needs: Sequence[Need]) -> Site:
    if from_site_id is not None:
        actor.require(Permission.VIEW_STOCK, from_site_id)
        return stock_site(session, actor, from_site_id)
    stmt = select(Site).where(Site.org_id == actor.org_id, Site.kind != SiteKind.IN_TRANSIT, Site.active.is_(True),
                              Site.id != to_site_id).order_by(Site.id)
    visible = actor.site_ids(Permission.VIEW_STOCK)
    if visible is not None:  # only sites whose stock the member may see
        stmt = stmt.where(Site.id.in_(visible))
    # Routes into the destination: a deactivated one would refuse the transfer, so its source is no
    # candidate; between sources that can spare as much, the one with the shorter declared transit wins.
    routes = {r.route_from_id: r for r in session.execute(select(Site.route_from_id, Site.active, Site.transit_hours)
                                                          .where(Site.org_id == actor.org_id,
                                                                 Site.kind == SiteKind.IN_TRANSIT,
                                                                 Site.route_to_id == to_site_id))}
    candidates = [s for s in session.scalars(stmt) if s.id not in routes or routes[s.id].active]

    def rank(site: Site) -> tuple[Decimal, int]:
        spare = sum((usable(session, actor.org_id, n.item_id, site.id) for n in needs), Decimal(0))
        route = routes.get(site.id)
        hours = route.transit_hours if route is not None and route.transit_hours is not None else _NO_HOURS
        return spare, -hours

    best = max(candidates, default=None, key=rank)
    if best is None:
        raise ValidationError("没有可调出的地点（只考虑你有权查看库存的地点）", field="from_site_id")
    return best


def suggest_emergency(session: Session, actor: Actor, to_site_id: int, needs: Sequence[Need],
                      from_site_id: int | None = None) -> EmergencyPlan:
    """Suggest quantities for an urgent transfer into ``to_site_id``. Requires VIEW_STOCK at both sites."""
    actor.require(Permission.VIEW_STOCK, to_site_id)
    destination = stock_site(session, actor, to_site_id)
    source = _source(session, actor, destination.id, from_site_id, needs)
    out = []
    for need in needs:
        item = active_item(session, actor, need.item_id)
        spare = usable(session, actor.org_id, item.id, source.id)
        have = usable(session, actor.org_id, item.id, destination.id)
        shortfall = max(need.need - have, Decimal(0)) if need.need is not None else None
        out.append(Suggestion(item.id, item.name, item.base_unit, spare, have, shortfall,
                              min(spare, shortfall) if shortfall is not None else spare))
    return EmergencyPlan(source, destination, out)
