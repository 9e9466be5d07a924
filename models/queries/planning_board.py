"""The planning board: the latest run's item × site list, one item × site in full, and the
suggestions with their names — what a planner opens first (the console's 计划 pages and
``GET /api/v1/planning/board*``).

Built on ``planning_lists`` (the run's lines, overrides and suggestions come from the same
functions as the list routes) plus names and weekly demand history. Every function requires
``Permission.PLAN`` and reads only the actor's organisation; another organisation's item or site
is NotFound. Pages are bounded (keyset, 50 rows). Writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Item
from models.demand import local_date_today, weekly_demand
from models.lookup import get_owned, not_found
from models.operations.planning import latest_run, run_summary
from models.operations.replenishment import SuggestionView
from models.org import Party, Site
from models.planning import ForecastLine, ReplenishmentSuggestion, SuggestionStatus
from models.queries import planning_lists
from models.queries.planning_lists import ForecastLineRow, OverrideRow, SafetyStockRow
from models.timeutil import week_start

PAGE = 50
#: Weeks of demand history shown before the forecast.
HISTORY_WEEKS = 26


@dataclass(frozen=True)
class BoardRow:
    item_id: int
    item_code: str
    item_name: str
    unit: str
    site_id: int
    site_name: str
    weeks: int
    #: Σ planned (final) demand over the run's weeks.
    forecast_total: Decimal
    #: Weeks whose planned figure is a planner's override.
    overridden_weeks: int
    #: Proposed replenishment suggestions for this item × site.
    proposed: int


@dataclass(frozen=True)
class Board:
    run: dict[str, Any] | None
    rows: list[BoardRow]
    #: Pass as ``after`` for the next page ("item_id:site_id"); None on the last page.
    next_after: str | None


def _key(after: str | None) -> tuple[int, int] | None:
    """Parse a keyset cursor "item:site" (junk → first page: a cursor is a position, not a filter)."""
    if not after:
        return None
    item, _, site = after.partition(":")
    if all(part.isascii() and part.isdecimal() and len(part) <= 15 for part in (item, site)):
        return int(item), int(site)
    return None


def planning_board(session: Session, actor: Actor, *, after: str | None = None, limit: int = PAGE) -> Board:
    """The latest completed run's item × site list (by item, site), a page at a time."""
    actor.require(Permission.PLAN)
    run = latest_run(session, actor.org_id)
    if run is None:
        return Board(None, [], None)
    # First the page's keys (the run's unique index gives them in order, so this stops after a page),
    # then the figures of those keys only: a page costs the same with 50 or 5,000 items in the run.
    keys = select(ForecastLine.item_id, ForecastLine.site_id).where(ForecastLine.run_id == run.id)
    cursor = _key(after)
    if cursor is not None:
        keys = keys.where(or_(ForecastLine.item_id > cursor[0],
                              and_(ForecastLine.item_id == cursor[0], ForecastLine.site_id > cursor[1])))
    found = session.execute(keys.group_by(ForecastLine.item_id, ForecastLine.site_id)
                            .order_by(ForecastLine.item_id, ForecastLine.site_id).limit(limit + 1)).all()
    page = [(int(i), int(s)) for i, s in found[:limit]]
    figures = {}
    if page:
        item_ids = sorted({i for i, _ in page})
        stmt = (select(ForecastLine.item_id, ForecastLine.site_id, Item.code, Item.name, Item.base_unit, Site.name,
                       func.count(), func.sum(ForecastLine.final),
                       func.sum(case((ForecastLine.override_id.is_not(None), 1), else_=0)))
                .join(Item, Item.id == ForecastLine.item_id).join(Site, Site.id == ForecastLine.site_id)
                .where(ForecastLine.run_id == run.id, ForecastLine.org_id == actor.org_id,
                       ForecastLine.item_id.in_(item_ids))
                .group_by(ForecastLine.item_id, ForecastLine.site_id, Item.code, Item.name, Item.base_unit, Site.name))
        figures = {(r[0], r[1]): r for r in session.execute(stmt)}
    proposed = _proposed(session, actor.org_id, {i for i, _ in page})
    rows = [BoardRow(item_id=r[0], item_code=r[2], item_name=r[3], unit=r[4], site_id=r[1], site_name=r[5],
                     weeks=int(r[6]), forecast_total=Decimal(r[7] or 0), overridden_weeks=int(r[8] or 0),
                     proposed=proposed.get((r[0], r[1]), 0)) for key in page if (r := figures.get(key))]
    more = len(found) > limit
    return Board(run_summary(run), rows, f"{page[-1][0]}:{page[-1][1]}" if more and page else None)


def _proposed(session: Session, org_id: int, item_ids: Iterable[int]) -> dict[tuple[int, int], int]:
    ids = list(item_ids)
    if not ids:
        return {}
    rows = session.execute(select(ReplenishmentSuggestion.item_id, ReplenishmentSuggestion.site_id, func.count())
                           .where(ReplenishmentSuggestion.org_id == org_id,
                                  ReplenishmentSuggestion.status == SuggestionStatus.PROPOSED,
                                  ReplenishmentSuggestion.item_id.in_(ids))
                           .group_by(ReplenishmentSuggestion.item_id, ReplenishmentSuggestion.site_id))
    return {(i, s): int(n) for i, s, n in rows}


@dataclass(frozen=True)
class HistoryWeek:
    week: date
    sale: Decimal
    #: Stock-out days that week: the sale is a lower bound of demand.
    censored: bool
    promo: float


@dataclass(frozen=True)
class ItemSitePlan:
    item_id: int
    item_code: str
    item_name: str
    unit: str
    site_id: int
    site_name: str
    run: dict[str, Any] | None
    history: list[HistoryWeek]
    lines: list[ForecastLineRow]
    overrides: list[OverrideRow]
    safety_stock: SafetyStockRow | None


def item_site_plan(session: Session, actor: Actor, item_id: int, site_id: int) -> ItemSitePlan:
    """One item × site: weekly demand history, the latest run's lines with bands and explanation,
    the overrides (with their track record) and the last safety stock."""
    actor.require(Permission.PLAN)
    item = get_owned(session, Item, item_id, actor.org_id)
    site = get_owned(session, Site, site_id, actor.org_id)  # another organisation's: NotFound, not "denied"
    actor.require(Permission.PLAN, site.id)
    run = latest_run(session, actor.org_id)
    lines: list[ForecastLineRow] = []
    summary = None
    if run is not None:
        summary, lines = planning_lists.forecast_lines(session, actor, run.id, item_id=item.id, site_id=site.id)
    end = week_start(local_date_today()) - timedelta(days=1)  # complete weeks only
    weeks = weekly_demand(session, actor.org_id, item_ids=[item.id], site_ids=[site.id], end=end)
    history = [HistoryWeek(w.week, w.sale, w.censored, w.promo)
               for w in weeks.get((item.id, site.id), [])[-HISTORY_WEEKS:]]
    safety = next(iter(planning_lists.safety_stock(session, actor, item_id=item.id, site_id=site.id)), None)
    return ItemSitePlan(item_id=item.id, item_code=item.code, item_name=item.name, unit=item.base_unit,
                        site_id=site.id, site_name=site.name, run=summary, history=history, lines=lines,
                        overrides=planning_lists.overrides(session, actor, item_id=item.id, site_id=site.id,
                                                           limit=100),
                        safety_stock=safety)


@dataclass(frozen=True)
class SuggestionRow:
    suggestion: SuggestionView
    item_name: str
    unit: str
    site_name: str
    from_site_name: str | None
    party_name: str | None


@dataclass(frozen=True)
class SuggestionPage:
    rows: list[SuggestionRow]
    #: Pass as ``before_id`` for the next page; None on the last page.
    next_before: int | None


def suggestion_page(session: Session, actor: Actor, *, status: str = "proposed", before_id: int | None = None,
                    limit: int = PAGE) -> SuggestionPage:
    """Suggestions (newest first) with item, site and supplier names, a page at a time."""
    found = planning_lists.suggestions(session, actor, status=status, before_id=before_id, limit=limit + 1)
    page = found[:limit]
    items = {i: (n, u) for i, n, u in session.execute(select(Item.id, Item.name, Item.base_unit).where(
        Item.org_id == actor.org_id, Item.id.in_({s.item_id for s in page})))} if page else {}
    site_ids = {s.site_id for s in page} | {s.from_site_id for s in page if s.from_site_id}
    sites = {i: n for i, n in session.execute(select(Site.id, Site.name).where(
        Site.org_id == actor.org_id, Site.id.in_(site_ids)))} if page else {}
    party_ids = {s.party_id for s in page if s.party_id}
    parties = {i: n for i, n in session.execute(select(Party.id, Party.name).where(
        Party.org_id == actor.org_id, Party.id.in_(party_ids)))} if party_ids else {}
    rows = [SuggestionRow(s, items.get(s.item_id, ("", ""))[0], items.get(s.item_id, ("", ""))[1],
                          sites.get(s.site_id, ""), sites.get(s.from_site_id) if s.from_site_id else None,
                          parties.get(s.party_id) if s.party_id else None) for s in page]
    return SuggestionPage(rows, page[-1].suggestion_id if len(found) > limit and page else None)


@dataclass(frozen=True)
class ExportLine:
    item_id: int
    site_id: int
    week: date
    mean: Decimal
    lo80: Decimal
    hi80: Decimal
    lo95: Decimal
    hi95: Decimal
    final: Decimal
    override_id: int | None


@dataclass(frozen=True)
class PlanningExport:
    run: dict[str, Any] | None
    #: The latest run's lines, by item, site and week (numbers only: no explanation, for a file).
    lines: list[ExportLine]
    #: item id → (code, name, base unit)
    items: dict[int, tuple[str, str, str]]
    sites: dict[int, str]


def export_lines(session: Session, actor: Actor) -> PlanningExport:
    """The latest run's lines for a file, with item (code, name, unit) and site names."""
    actor.require(Permission.PLAN)
    run = latest_run(session, actor.org_id)
    if run is None:
        return PlanningExport(None, [], {}, {})
    lines = [ExportLine(item_id=r[0], site_id=r[1], week=r[2], mean=r[3], lo80=r[4], hi80=r[5], lo95=r[6], hi95=r[7],
                        final=r[8], override_id=r[9]) for r in session.execute(
        select(ForecastLine.item_id, ForecastLine.site_id, ForecastLine.week, ForecastLine.mean, ForecastLine.lo80,
               ForecastLine.hi80, ForecastLine.lo95, ForecastLine.hi95, ForecastLine.final, ForecastLine.override_id)
        .where(ForecastLine.run_id == run.id, ForecastLine.org_id == actor.org_id)
        .order_by(ForecastLine.item_id, ForecastLine.site_id, ForecastLine.week))]
    wanted = {ln.item_id for ln in lines}
    items = {i: (c, n, u) for i, c, n, u in session.execute(
        select(Item.id, Item.code, Item.name, Item.base_unit).where(Item.org_id == actor.org_id))
        if i in wanted}
    sites = {i: n for i, n in session.execute(select(Site.id, Site.name).where(Site.org_id == actor.org_id))}
    return PlanningExport(run_summary(run), lines, items, sites)


@dataclass(frozen=True)
class Names:
    #: item id → (name, base unit)
    items: dict[int, tuple[str, str]]
    sites: dict[int, str]


def names(session: Session, actor: Actor, item_ids: Iterable[int], site_ids: Iterable[int]) -> Names:
    """Names of items and sites of the actor's organisation (NotFound when one is not, e.g. another org's)."""
    actor.require(Permission.PLAN)
    want_items, want_sites = set(item_ids), set(site_ids)
    items = {i: (n, u) for i, n, u in session.execute(select(Item.id, Item.name, Item.base_unit).where(
        Item.org_id == actor.org_id, Item.id.in_(want_items)))} if want_items else {}
    sites = {i: n for i, n in session.execute(select(Site.id, Site.name).where(
        Site.org_id == actor.org_id, Site.id.in_(want_sites)))} if want_sites else {}
    for missing in sorted(want_items - set(items)):
        raise not_found("Item", missing)
    for missing in sorted(want_sites - set(sites)):
        raise not_found("Site", missing)
    return Names(items, sites)
