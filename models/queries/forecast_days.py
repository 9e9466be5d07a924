"""A day run's day lines (models.planning.ForecastDayLine), for planning_api and the console.

Requires ``Permission.PLAN``; another organisation's run is not found. Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import forecasting
from models.actor import Actor, Permission
from models.catalog import Item
from models.demand import daily_demand
from models.lookup import get_owned
from models.operations.planning import run_summary
from models.org import Site
from models.planning import ForecastDayLine, ForecastRun

#: Most day lines one answer carries (a 120-day run of 40 item × sites).
MAX_DAY_LINES = 5000


@dataclass(frozen=True)
class ForecastDayRow:
    item_id: int
    site_id: int
    day: date
    mean: Decimal
    lo80: Decimal
    hi80: Decimal
    lo95: Decimal
    hi95: Decimal
    #: The mean scaled by its week's planned ÷ model figure (a week's override carried to its days).
    final: Decimal
    method: str
    method_label: str
    #: summary, factors [[中文名, 每天贡献]], covariates {名称: 当天使用的值}, warnings …
    explanation: dict[str, Any]


def forecast_day_lines(session: Session, actor: Actor, run_id: int, *, item_id: int | None = None,
                       site_id: int | None = None, limit: int = MAX_DAY_LINES
                       ) -> tuple[dict[str, Any], list[ForecastDayRow]]:
    """A run and its day lines (optionally of one item and/or site), by item, site and day; none for a week run."""
    actor.require(Permission.PLAN)
    run = get_owned(session, ForecastRun, run_id, actor.org_id)
    stmt = select(ForecastDayLine).where(ForecastDayLine.run_id == run.id, ForecastDayLine.org_id == actor.org_id)
    if item_id:
        stmt = stmt.where(ForecastDayLine.item_id == item_id)
    if site_id:
        stmt = stmt.where(ForecastDayLine.site_id == site_id)
    labels = forecasting.methods()
    lines = session.scalars(stmt.order_by(ForecastDayLine.item_id, ForecastDayLine.site_id, ForecastDayLine.day)
                            .limit(limit))
    return run_summary(run), [ForecastDayRow(
        item_id=ln.item_id, site_id=ln.site_id, day=ln.day, mean=ln.mean, lo80=ln.lo80, hi80=ln.hi80, lo95=ln.lo95,
        hi95=ln.hi95, final=ln.final, method=ln.method, method_label=labels.get(ln.method, ln.method),
        explanation=ln.explanation) for ln in lines]


#: Days of history the console's day chart shows before the forecast.
HISTORY_DAYS = 56


@dataclass(frozen=True)
class HistoryDay:
    day: date
    sale: Decimal
    stockout: bool


@dataclass(frozen=True)
class ItemSiteDays:
    """One item × site in a day run: the recent daily demand and the run's days."""

    history: list[HistoryDay]
    days: list[ForecastDayRow]


def item_site_days(session: Session, actor: Actor, run_id: int, item_id: int, site_id: int,
                   *, history_days: int = HISTORY_DAYS) -> ItemSiteDays:
    """The daily history before a day run's first day and the run's days, of one item × site."""
    actor.require(Permission.PLAN)
    item = get_owned(session, Item, item_id, actor.org_id)
    site = get_owned(session, Site, site_id, actor.org_id)
    actor.require(Permission.PLAN, site.id)
    _run, days = forecast_day_lines(session, actor, run_id, item_id=item.id, site_id=site.id)
    if not days:
        return ItemSiteDays([], [])
    end = days[0].day - timedelta(days=1)
    found = daily_demand(session, actor.org_id, item_ids=[item.id], site_ids=[site.id], end=end)
    history = [HistoryDay(d.day, d.sale, d.stockout) for d in found.get((item.id, site.id), [])[-history_days:]]
    return ItemSiteDays(history, days)
