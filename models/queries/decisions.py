"""What needs a decision now, beyond documents waiting in line: the kinds ``todos_for`` adds for
首页 (the console), the mini-program's /todos and the bot's 待办 alike.

- lots near expiry (by the item's shelf life) at the sites the member sees;
- stock below the planning safety stock at the sites the member plans for (unless a proposed
  replenishment suggestion already answers it: then the suggestion is listed instead);
- proposed replenishment suggestions at the sites the member plans for (accept / dismiss);
- dead letters (handler runs that gave up) for members who read the automation (Permission.RULES);
- stale devices: an active sensor (or a scale with an ``expected_interval_minutes``) whose last reading is
  older than its expected interval, at the sites where the member may freeze stock (who acts on it).

Each function returns rows with the ids their one-step action needs. Writes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import cast

from sqlalchemy import Float, and_, func, select, true, type_coerce
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Item
from models.devices import Device, DeviceReading
from models.org import Party, Site
from models.planning import ReplenishmentSuggestion, SafetyStock, SuggestionStatus
from models.queries.device_status import expected_interval
from models.queries.stock_availability import (
    lot_rows,
    outbound_frozen_items,
    unfrozen_free_stock,
    visible_stock_sites,
)
from models.queries.workflow_config import dead_letters
from models.stock import Balance, Lot
from models.timeutil import SHANGHAI
from models.types import Qty

#: Per kind; more than this many of one kind is a backlog for its own page, not a to-do list.
LIMIT = 200
#: Without a shelf life, a lot is "near expiry" this many days ahead.
DEFAULT_EXPIRY_DAYS = 7
#: The longest look-ahead, whatever the shelf life (a two-year tin is not urgent in March).
MAX_EXPIRY_DAYS = 30


def expiry_window_days(shelf_life_days: int | None) -> int:
    """Days ahead a lot counts as near expiry: a fifth of the shelf life, 1 to 30 days (7 without one)."""
    if not shelf_life_days or shelf_life_days <= 0:
        return DEFAULT_EXPIRY_DAYS
    return max(1, min(MAX_EXPIRY_DAYS, math.ceil(shelf_life_days / 5)))


def local_today(now: datetime) -> date:
    """The co-operative's calendar day (expiry dates are local dates)."""
    return now.astimezone(SHANGHAI).date()


@dataclass(frozen=True)
class NearExpiry:
    site_id: int
    site_name: str
    item_id: int
    item_name: str
    base_unit: str
    lot_id: int
    lot_code: str
    on_hand: Decimal
    expires_on: date
    days_left: int


def near_expiry_lots(session: Session, actor: Actor, now: datetime,
                     skip_lots: Collection[tuple[int, int]] = ()) -> list[NearExpiry]:
    """Lots with stock expiring within their item's window (or expired), soonest first.

    ``skip_lots``: (site, lot) pairs already listed elsewhere (held lots have their own card)."""
    allowed = actor.site_ids(Permission.VIEW_STOCK)
    if allowed is not None and not allowed:
        return []
    sites = {s.id: s for s in visible_stock_sites(session, actor)}
    if not sites:
        return []
    today = local_today(now)
    stmt = (select(Balance.site_id, Balance.on_hand, Lot.id, Lot.code, Lot.expires_on, Item.id, Item.name,
                   Item.base_unit, Item.shelf_life_days)
            .join(Lot, Lot.id == Balance.lot_id).join(Item, Item.id == Balance.item_id)
            # Lot.org_id lets the planner walk ix_lots_org_expiry in order and stop at the limit
            .where(Balance.org_id == actor.org_id, Balance.on_hand > 0, Balance.site_id.in_(list(sites)),
                   Lot.org_id == actor.org_id, Lot.expires_on.is_not(None),
                   Lot.expires_on <= today + timedelta(days=MAX_EXPIRY_DAYS))
            .order_by(Lot.expires_on, Lot.id).limit(LIMIT * 4))
    skip = set(skip_lots)
    out = []
    for site_id, on_hand, lot_id, code, expires_on, item_id, name, unit, shelf_life in session.execute(stmt):
        if expires_on is None:  # excluded in SQL; narrows the type
            continue
        days_left = (expires_on - today).days
        if (site_id, lot_id) in skip or days_left > expiry_window_days(shelf_life):
            continue
        out.append(NearExpiry(site_id, sites[site_id].name, item_id, name, unit, lot_id, code, on_hand, expires_on,
                              days_left))
    return out[:LIMIT]


@dataclass(frozen=True)
class BelowSafety:
    site_id: int
    site_name: str
    item_id: int
    item_name: str
    base_unit: str
    available: Decimal
    safety_stock: Decimal
    reorder_point: Decimal


def _plan_sites(session: Session, actor: Actor) -> dict[int, Site]:
    allowed = actor.site_ids(Permission.PLAN)
    if allowed is not None and not allowed:
        return {}
    stmt = select(Site).where(Site.org_id == actor.org_id)
    if allowed is not None:
        stmt = stmt.where(Site.id.in_(allowed))
    return {s.id: s for s in session.scalars(stmt)}


def below_safety_stock(session: Session, actor: Actor) -> list[BelowSafety]:
    """(item, site) pairs whose available stock (the stock-availability rule) is under the safety stock,
    emptiest first. Compared in SQL: only the short pairs are read (items with an outbound freeze are
    summed lot by lot, as the rule needs)."""
    sites = _plan_sites(session, actor)
    if not sites:
        return []
    frozen = outbound_frozen_items(session, actor.org_id)
    free = unfrozen_free_stock(actor.org_id, list(sites))
    avail = type_coerce(func.coalesce(free.c.free, 0), Qty())
    base = (select(SafetyStock.site_id, SafetyStock.item_id, SafetyStock.value, SafetyStock.reorder_point, avail)
            .outerjoin(free, and_(free.c.site_id == SafetyStock.site_id, free.c.item_id == SafetyStock.item_id))
            .where(SafetyStock.org_id == actor.org_id, SafetyStock.value > 0, SafetyStock.site_id.in_(list(sites))))
    short: list[tuple[int, int, Decimal, Decimal, Decimal]] = [
        (r[0], r[1], r[2], r[3], r[4]) for r in session.execute(
            base.where(avail < SafetyStock.value, SafetyStock.item_id.not_in(frozen) if frozen else true())
            .order_by(cast_(avail, Float) / cast_(SafetyStock.value, Float), SafetyStock.site_id, SafetyStock.item_id)
            .limit(LIMIT))]
    if frozen:  # few items: their lots decide, one by one
        lots = lot_rows(session, actor.org_id, frozen, list(sites))
        for site_id, item_id, value, reorder, _sql in session.execute(base.where(SafetyStock.item_id.in_(frozen))):
            available = sum((lot.available for lot in lots.get((site_id, item_id), ())), Decimal(0))
            if available < value:
                short.append((site_id, item_id, value, reorder, available))
        short.sort(key=lambda r: (r[4] / r[2], r[0], r[1]))
    short = short[:LIMIT]
    if not short:
        return []
    items = {i: (name, unit) for i, name, unit in session.execute(
        select(Item.id, Item.name, Item.base_unit).where(Item.id.in_({r[1] for r in short})))}
    return [BelowSafety(site_id, sites[site_id].name, item_id, *items[item_id], available, value, reorder)
            for site_id, item_id, value, reorder, available in short]


@dataclass(frozen=True)
class ProposedSuggestion:
    suggestion_id: int
    kind: str
    site_id: int
    site_name: str
    from_site_name: str | None
    item_id: int
    item_name: str
    base_unit: str
    quantity: Decimal
    party_name: str | None
    reason: str


def proposed_suggestions(session: Session, actor: Actor) -> list[ProposedSuggestion]:
    """Proposed replenishment suggestions at the sites the member plans for, oldest first."""
    sites = _plan_sites(session, actor)
    if not sites:
        return []
    rows = session.execute(
        select(ReplenishmentSuggestion, Item.name, Item.base_unit, Party.name)
        .join(Item, Item.id == ReplenishmentSuggestion.item_id)
        .outerjoin(Party, Party.id == ReplenishmentSuggestion.party_id)
        .where(ReplenishmentSuggestion.org_id == actor.org_id,
               ReplenishmentSuggestion.status == SuggestionStatus.PROPOSED,
               ReplenishmentSuggestion.site_id.in_(list(sites)))
        .order_by(ReplenishmentSuggestion.id).limit(LIMIT))
    # a transfer's source may be a site the member does not plan for: name every site of the org
    names = dict(session.execute(select(Site.id, Site.name).where(Site.org_id == actor.org_id)).all())
    return [ProposedSuggestion(s.id, s.kind.value, s.site_id, names[s.site_id],
                               names.get(s.from_site_id) if s.from_site_id is not None else None, s.item_id,
                               item_name, unit, s.quantity, party_name, s.reason)
            for s, item_name, unit, party_name in rows]


@dataclass(frozen=True)
class DeadLetter:
    run_id: int
    handler: str
    event_kind: str
    attempts: int
    error: str
    failed_at: datetime | None


def dead_letter_rows(session: Session, actor: Actor) -> list[DeadLetter]:
    """The organisation's dead letters for a member who reads the automation (else none)."""
    if not actor.can(Permission.RULES):
        return []
    return [DeadLetter(r.id, r.handler, r.kind, r.attempts, r.last_error, r.handled_at or r.next_attempt_at)
            for r in dead_letters(session, actor, limit=LIMIT)]


@dataclass(frozen=True)
class StaleDevice:
    device_id: int
    code: str
    kind: str
    site_id: int
    site_name: str
    last_reading_at: datetime | None
    interval_minutes: int


def _interval_minutes(device: Device) -> int | None:
    """The one rule for "how often should it report" (models.queries.device_status, the 协同 devices page)."""
    interval = expected_interval(device.kind, device.config)
    return None if interval is None else max(1, int(interval.total_seconds() // 60))


def stale_devices(session: Session, actor: Actor, now: datetime) -> list[StaleDevice]:
    """Active devices silent for longer than their expected interval, at sites where the member may freeze."""
    allowed = actor.site_ids(Permission.FREEZE)
    if allowed is not None and not allowed:
        return []
    # per device, the newest reading through ix_device_readings_recent (never a scan of all readings)
    last = (select(func.max(DeviceReading.measured_at)).where(DeviceReading.device_id == Device.id)
            .correlate(Device).scalar_subquery())
    stmt = (select(Device, Site.name, last).join(Site, Site.id == Device.site_id)
            .where(Device.org_id == actor.org_id, Device.active.is_(True)).order_by(Device.id).limit(LIMIT * 4))
    if allowed is not None:
        stmt = stmt.where(Device.site_id.in_(allowed))
    out = []
    for device, site_name, raw_at in session.execute(stmt):
        at = cast(datetime | None, raw_at)
        interval = _interval_minutes(device)
        since = at or device.created_at
        if interval is None or since is None or now - since <= timedelta(minutes=interval):
            continue
        out.append(StaleDevice(device.id, device.code, device.kind, device.site_id, site_name, at, interval))
    return out[:LIMIT]
