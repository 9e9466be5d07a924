"""Demand history per item × site, read from the ledger and imported rows. Writes nothing.

Demand is what shipments took out (the ledger's sign flipped); the reversal of a shipment is a
return; imported rows add sales, returns and giveaways from other systems. A day whose closing
on-hand is ≤ 0 is a stockout day: what was shipped is a lower bound of demand (censored), and a
week with any such day is censored. Days and weeks are Asia/Shanghai; weeks start on Monday.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from forecast.types import Series
from models.base import utcnow
from models.documents import DocKind, Document
from models.org import Site, SiteKind
from models.planning import DemandKind, DemandRow, Granularity, Promotion
from models.stock import StockMove
from models.timeutil import local_date, week_start

ZERO = Decimal(0)
Key = tuple[int, int]  # (item_id, site_id)


@dataclass(frozen=True)
class DemandDay:
    day: date
    sale: Decimal
    returns: Decimal
    giveaway: Decimal
    #: Closing on-hand of the item at the site (None before the ledger knew it there).
    on_hand: Decimal | None
    stockout: bool


@dataclass(frozen=True)
class DemandWeek:
    week: date  #: Monday
    sale: Decimal
    returns: Decimal
    giveaway: Decimal
    stockout_days: int
    censored: bool
    #: Share of the week under a promotion (0–1).
    promo: float
    #: Closing on-hand at the end of the week (None if unknown).
    on_hand: Decimal | None = None


@dataclass
class _Acc:
    sale: Decimal = ZERO
    returns: Decimal = ZERO
    giveaway: Decimal = ZERO
    net: Decimal = ZERO  #: every move at the site that day, whatever the document
    ledger: bool = False

    def add(self, kind: DemandKind, qty: Decimal) -> None:
        if kind == DemandKind.SALE:
            self.sale += qty
        elif kind == DemandKind.RETURN:
            self.returns += qty
        else:
            self.giveaway += qty


@dataclass
class _SeriesAcc:
    days: dict[date, _Acc] = field(default_factory=lambda: defaultdict(_Acc))
    weeks_imported: dict[date, _Acc] = field(default_factory=lambda: defaultdict(_Acc))
    first_ledger_day: date | None = None


def _stock_site_ids(session: Session, org_id: int, site_ids: Iterable[int] | None) -> set[int]:
    stmt = select(Site.id).where(Site.org_id == org_id, Site.kind != SiteKind.IN_TRANSIT)
    if site_ids is not None:
        stmt = stmt.where(Site.id.in_(list(site_ids)))
    return set(session.scalars(stmt))


def _collect(session: Session, org_id: int, item_ids: Iterable[int] | None,
             site_ids: Iterable[int] | None) -> dict[Key, _SeriesAcc]:
    sites = _stock_site_ids(session, org_id, site_ids)
    items = list(item_ids) if item_ids is not None else None
    acc: dict[Key, _SeriesAcc] = defaultdict(_SeriesAcc)
    moves = (select(StockMove.item_id, StockMove.site_id, StockMove.business_time, StockMove.quantity,
                    Document.kind, Document.reverses_document_id)
             .join(Document, Document.id == StockMove.document_id)
             .where(StockMove.org_id == org_id, StockMove.site_id.in_(sites)))
    if items is not None:
        moves = moves.where(StockMove.item_id.in_(items))
    for item_id, site_id, when, qty, kind, reverses in session.execute(moves):
        series = acc[(item_id, site_id)]
        day = local_date(when)
        cell = series.days[day]
        cell.net += qty
        cell.ledger = True
        if series.first_ledger_day is None or day < series.first_ledger_day:
            series.first_ledger_day = day
        if kind == DocKind.SHIPMENT:
            if reverses is None and qty < 0:
                cell.sale -= qty
            elif reverses is not None and qty > 0:
                cell.returns += qty
    rows = select(DemandRow).where(DemandRow.org_id == org_id, DemandRow.site_id.in_(sites))
    if items is not None:
        rows = rows.where(DemandRow.item_id.in_(items))
    for row in session.scalars(rows):
        series = acc[(row.item_id, row.site_id)]
        if row.granularity == Granularity.DAY:
            series.days[row.day].add(row.kind, row.quantity)
        else:
            series.weeks_imported[week_start(row.day)].add(row.kind, row.quantity)
    return acc


def _days(series: _SeriesAcc, end: date) -> list[DemandDay]:
    known = list(series.days) + [w for w in series.weeks_imported]
    if not known:
        return []
    day, out, on_hand = min(known), [], ZERO
    while day <= end:
        cell = series.days.get(day) or _Acc()
        tracked = series.first_ledger_day is not None and day >= series.first_ledger_day
        on_hand += cell.net
        out.append(DemandDay(day, cell.sale, cell.returns, cell.giveaway, on_hand if tracked else None,
                             tracked and on_hand <= 0))
        day += timedelta(days=1)
    return out


def promo_intensity(promotions: Iterable[Promotion], item_id: int, site_id: int, week: date) -> float:
    """Return the share of a week (0–1) under any active promotion of the item at the site."""
    covered: set[date] = set()
    for promo in promotions:
        if promo.active and promo.item_id == item_id and promo.site_id in (None, site_id):
            for n in range(7):
                day = week + timedelta(days=n)
                if promo.starts_on <= day <= promo.ends_on:
                    covered.add(day)
    return len(covered) / 7


def _promotions(session: Session, org_id: int) -> list[Promotion]:
    return list(session.scalars(select(Promotion).where(Promotion.org_id == org_id, Promotion.active.is_(True))))


def _weeks(series: _SeriesAcc, days: list[DemandDay], key: Key, promos: list[Promotion],
           end: date) -> list[DemandWeek]:
    if not days:
        return []
    by_week: dict[date, list[DemandDay]] = defaultdict(list)
    for d in days:
        by_week[week_start(d.day)].append(d)
    out = []
    week = week_start(days[0].day)
    while week <= week_start(end):
        members = by_week.get(week, [])
        imported = series.weeks_imported.get(week) or _Acc()
        stockouts = sum(1 for d in members if d.stockout)
        out.append(DemandWeek(
            week=week, sale=sum((d.sale for d in members), imported.sale),
            returns=sum((d.returns for d in members), imported.returns),
            giveaway=sum((d.giveaway for d in members), imported.giveaway),
            stockout_days=stockouts, censored=stockouts > 0,
            promo=promo_intensity(promos, key[0], key[1], week),
            on_hand=members[-1].on_hand if members else None))
        week += timedelta(days=7)
    return out


def daily_demand(session: Session, org_id: int, *, item_ids: Iterable[int] | None = None,
                 site_ids: Iterable[int] | None = None, end: date | None = None) -> dict[Key, list[DemandDay]]:
    """Return the daily demand of each item × site, from its first known day to ``end`` (today)."""
    end = end or local_date_today()
    return {key: days for key, s in _collect(session, org_id, item_ids, site_ids).items()
            if (days := _days(s, end))}


def weekly_demand(session: Session, org_id: int, *, item_ids: Iterable[int] | None = None,
                  site_ids: Iterable[int] | None = None, end: date | None = None) -> dict[Key, list[DemandWeek]]:
    """Return the weekly demand of each item × site, up to the week holding ``end`` (today)."""
    end = end or local_date_today()
    promos = _promotions(session, org_id)
    out = {}
    for key, series in _collect(session, org_id, item_ids, site_ids).items():
        weeks = _weeks(series, _days(series, end), key, promos, end)
        if weeks:
            out[key] = weeks
    return out


def series_key(item_id: int, site_id: int) -> str:
    """Return the engine's key for an item × site."""
    return f"{item_id}:{site_id}"


def parse_key(key: str) -> Key:
    """Return (item_id, site_id) from an engine key."""
    item, site = key.split(":")
    return int(item), int(site)


def demand_series(session: Session, org_id: int, *, first_forecast_week: date,
                  item_ids: Iterable[int] | None = None, site_ids: Iterable[int] | None = None,
                  ) -> tuple[list[Series], dict[Key, list[DemandWeek]]]:
    """Return the engine's Series (complete weeks before ``first_forecast_week``) and the weeks they came from.

    Series with no sale at all are left out (nothing to forecast).
    """
    weekly = weekly_demand(session, org_id, item_ids=item_ids, site_ids=site_ids,
                           end=first_forecast_week - timedelta(days=1))
    series, used = [], {}
    for key in sorted(weekly):
        weeks = [w for w in weekly[key] if w.week < first_forecast_week]
        if not weeks or not any(w.sale > 0 for w in weeks):
            continue
        series.append(Series(key=series_key(*key), start=weeks[0].week,
                             values=tuple(float(w.sale) for w in weeks),
                             censored=tuple(w.censored for w in weeks), promo=tuple(w.promo for w in weeks)))
        used[key] = weeks
    return series, used


def promo_on(promotions: Iterable[Promotion], item_id: int, site_id: int, day: date) -> float:
    """Return 1.0 when any active promotion of the item at the site runs on ``day``, else 0.0."""
    return 1.0 if any(p.active and p.item_id == item_id and p.site_id in (None, site_id)
                      and p.starts_on <= day <= p.ends_on for p in promotions) else 0.0


def daily_series(session: Session, org_id: int, *, first_forecast_day: date,
                 item_ids: Iterable[int] | None = None, site_ids: Iterable[int] | None = None,
                 ) -> tuple[list[Series], dict[Key, list[DemandDay]]]:
    """Return the engine's daily Series (days before ``first_forecast_day``) and the days they came from.

    A value is the day's sales; a stock-out day is censored; promo is 1 on a promotion day. Weekly
    imported rows cannot be split into days, so they are left out here. Series with no sale at all
    are left out (nothing to forecast).
    """
    daily = daily_demand(session, org_id, item_ids=item_ids, site_ids=site_ids,
                         end=first_forecast_day - timedelta(days=1))
    promos = _promotions(session, org_id)
    series, used = [], {}
    for key in sorted(daily):
        days = [d for d in daily[key] if d.day < first_forecast_day]
        # days before any daily figure or ledger stock (e.g. only weekly imports) are unknown, not zero
        first = next((n for n, d in enumerate(days) if d.sale > 0 or d.on_hand is not None), len(days))
        days = days[first:]
        if not days or not any(d.sale > 0 for d in days):
            continue
        series.append(Series(key=series_key(*key), start=days[0].day, values=tuple(float(d.sale) for d in days),
                             censored=tuple(d.stockout for d in days),
                             promo=tuple(promo_on(promos, key[0], key[1], d.day) for d in days)))
        used[key] = days
    return series, used


def local_date_today() -> date:
    """Return today's Asia/Shanghai date."""
    return local_date(utcnow())
