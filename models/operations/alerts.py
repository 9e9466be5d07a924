"""Stock alerts the beat scans for: below safety stock, lots near expiry (FEFO), slow movers.

Each finding becomes an outbox event (``stock.below_safety``, ``lot.near_expiry``,
``item.slow_moving``) at most once per day and key; the seeded rules turn them into messages.
Safety stock is the planner's computed one per item × site (models.planning.SafetyStock), else the
organisation's setting ``safety_stock`` {item id: quantity}; also ``near_expiry_days`` (7) and
``slow_mover_days`` (30). Days are Asia/Shanghai days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.catalog import Item
from models.infra import OutboxEvent
from models.operations.common import dec
from models.org import Org, Site, SiteKind
from models.outbox import emit
from models.planning import SafetyStock
from models.stock import Balance, Lot, StockMove
from models.timeutil import SHANGHAI, local_date

ALERT_KINDS = ("stock.below_safety", "lot.near_expiry", "item.slow_moving")


def scan_stock_alerts(session: Session, org_id: int, now: datetime) -> list[dict[str, Any]]:
    """Emit today's new stock alerts for one organisation; return their payloads."""
    org = session.get_one(Org, org_id)
    cfg = org.settings or {}
    today = local_date(now)  # alert days are Shanghai days, not UTC ones
    day_start = datetime.combine(today, time(), SHANGHAI)
    seen = {e.payload.get("key") for e in session.scalars(select(OutboxEvent).where(
        OutboxEvent.org_id == org_id, OutboxEvent.kind.in_(ALERT_KINDS), OutboxEvent.created_at >= day_start))}
    sites = {s.id: s for s in session.scalars(select(Site).where(Site.org_id == org_id,
                                                                 Site.kind != SiteKind.IN_TRANSIT))}
    items = {i.id: i for i in session.scalars(select(Item).where(Item.org_id == org_id))}
    totals = session.execute(select(Balance.item_id, Balance.site_id, func.sum(Balance.on_hand))
                             .where(Balance.org_id == org_id).group_by(Balance.item_id, Balance.site_id)).all()
    found: list[tuple[str, dict[str, Any]]] = []
    # The planner's computed safety stock per item × site; the org's fixed setting where none is computed.
    fixed = cfg.get("safety_stock") or {}
    computed = {(r.item_id, r.site_id): r.value for r in session.scalars(
        select(SafetyStock).where(SafetyStock.org_id == org_id))}
    for item_id, site_id, on_hand in totals:
        level = computed.get((item_id, site_id), fixed.get(str(item_id)))
        if site_id in sites and level is not None and on_hand < Decimal(str(level)):
            found.append(("stock.below_safety", {
                "item_id": item_id, "item_name": items[item_id].name, "site_id": site_id,
                "site_name": sites[site_id].name, "on_hand": dec(on_hand), "safety": dec(Decimal(str(level)))}))
    horizon = today + timedelta(days=int(cfg.get("near_expiry_days", 7)))
    lots = session.execute(select(Lot, Balance.site_id, Balance.on_hand).join(Balance, Balance.lot_id == Lot.id)
                           .where(Lot.org_id == org_id, Balance.on_hand > 0, Lot.expires_on.is_not(None),
                                  Lot.expires_on <= horizon).order_by(Lot.expires_on)).all()
    for lot, site_id, on_hand in lots:
        expires_on = cast(date, lot.expires_on)  # the query keeps only lots with an expiry date
        if site_id in sites:
            found.append(("lot.near_expiry", {
                "lot_id": lot.id, "lot_code": lot.code, "item_id": lot.item_id, "item_name": items[lot.item_id].name,
                "site_id": site_id, "site_name": sites[site_id].name, "on_hand": dec(on_hand),
                "expires_on": expires_on.isoformat(), "days_left": (expires_on - today).days}))
    days = int(cfg.get("slow_mover_days", 30))
    last_out = dict(((i, s), t) for i, s, t in session.execute(
        select(StockMove.item_id, StockMove.site_id, func.max(StockMove.business_time))
        .where(StockMove.org_id == org_id, StockMove.quantity < 0).group_by(StockMove.item_id, StockMove.site_id)))
    first_in = dict(((i, s), t) for i, s, t in session.execute(
        select(StockMove.item_id, StockMove.site_id, func.min(StockMove.business_time))
        .where(StockMove.org_id == org_id, StockMove.quantity > 0).group_by(StockMove.item_id, StockMove.site_id)))
    for item_id, site_id, on_hand in totals:
        since = last_out.get((item_id, site_id)) or first_in.get((item_id, site_id))
        if site_id in sites and on_hand > 0 and since is not None and since <= now - timedelta(days=days):
            found.append(("item.slow_moving", {
                "item_id": item_id, "item_name": items[item_id].name, "site_id": site_id,
                "site_name": sites[site_id].name, "on_hand": dec(on_hand), "days": (now - since).days}))
    emitted = []
    for kind, payload in found:
        key = f"{kind}:{payload['item_id']}:{payload['site_id']}:{payload.get('lot_id', '')}:{today}"
        if key not in seen:
            seen.add(key)
            emit(session, org_id, kind, {**payload, "key": key})
            emitted.append({"kind": kind, **payload})
    return emitted


def scan_all_orgs(session: Session, now: datetime) -> int:
    """Run the alert scan for every organisation; return how many alerts were emitted."""
    return sum(len(scan_stock_alerts(session, org_id, now)) for org_id in session.scalars(select(Org.id)))
