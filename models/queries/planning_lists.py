"""The planning screens' lists: forecast runs and their lines, overrides and their scores,
promotions, covariate series, demand imports, replenishment suggestions and safety stock.

The one query behind each list route of ``planning_api``. Every function requires
``Permission.PLAN`` and reads only the actor's organisation; the rows are plain values (dicts
of the existing renderings or frozen dataclasses whose fields are the JSON keys). Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import forecasting
from models.actor import Actor, Permission
from models.lookup import get_owned
from models.operations.planning import PromotionView, promotion_view, run_summary
from models.operations.replenishment import SuggestionView, suggestion_view
from models.planning import (
    CovariateValue,
    DemandImport,
    ForecastLine,
    ForecastOverride,
    ForecastRun,
    Promotion,
    ReplenishmentSuggestion,
    SafetyStock,
    SuggestionStatus,
)


@dataclass(frozen=True)
class ForecastLineRow:
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
    method: str
    method_label: str
    explanation: dict[str, Any]
    accuracy: dict[str, Any]
    warnings: list[str]


@dataclass(frozen=True)
class OverrideRow:
    id: int
    item_id: int
    site_id: int
    from_week: date
    weeks: int
    set_value: Decimal | None
    scale: Decimal | None
    reason: str
    created_by: int | None
    created_at: datetime
    run_id: int | None
    active: bool
    score: dict[str, Any] | None
    scored_at: datetime | None


@dataclass(frozen=True)
class CovariateRow:
    name: str
    count: int
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True)
class ImportRow:
    id: int
    filename: str
    granularity: str
    rows: int
    created_by: int | None
    created_at: datetime
    report: dict[str, Any]


@dataclass(frozen=True)
class SafetyStockRow:
    item_id: int
    site_id: int
    safety_stock: Decimal
    reorder_point: Decimal
    service_level: Decimal
    lead_time_weeks: Decimal
    computed_at: datetime
    run_id: int


def forecast_runs(session: Session, actor: Actor, *, limit: int = 100) -> list[dict[str, Any]]:
    """The last ``limit`` forecast runs, newest first."""
    actor.require(Permission.PLAN)
    runs = session.scalars(select(ForecastRun).where(ForecastRun.org_id == actor.org_id)
                           .order_by(ForecastRun.id.desc()).limit(limit))
    return [run_summary(r) for r in runs]


def forecast_run(session: Session, actor: Actor, run_id: int) -> dict[str, Any]:
    """One forecast run (NotFound for another organisation's)."""
    actor.require(Permission.PLAN)
    return run_summary(get_owned(session, ForecastRun, run_id, actor.org_id))


def forecast_lines(session: Session, actor: Actor, run_id: int, *, item_id: int | None = None,
                   site_id: int | None = None, limit: int = 5000) -> tuple[dict[str, Any], list[ForecastLineRow]]:
    """A run and its lines (optionally of one item and/or site), by item, site and week."""
    actor.require(Permission.PLAN)
    run = get_owned(session, ForecastRun, run_id, actor.org_id)
    stmt = select(ForecastLine).where(ForecastLine.run_id == run.id)
    if item_id:
        stmt = stmt.where(ForecastLine.item_id == item_id)
    if site_id:
        stmt = stmt.where(ForecastLine.site_id == site_id)
    labels = forecasting.methods()
    lines = session.scalars(stmt.order_by(ForecastLine.item_id, ForecastLine.site_id, ForecastLine.week).limit(limit))
    return run_summary(run), [ForecastLineRow(
        item_id=ln.item_id, site_id=ln.site_id, week=ln.week, mean=ln.mean, lo80=ln.lo80, hi80=ln.hi80,
        lo95=ln.lo95, hi95=ln.hi95, final=ln.final, override_id=ln.override_id, method=ln.method,
        method_label=labels.get(ln.method, ln.method), explanation=ln.explanation, accuracy=ln.accuracy,
        warnings=ln.warnings) for ln in lines]


def _override(ov: ForecastOverride) -> OverrideRow:
    return OverrideRow(id=ov.id, item_id=ov.item_id, site_id=ov.site_id, from_week=ov.from_week, weeks=ov.weeks,
                       set_value=ov.set_value, scale=ov.scale, reason=ov.reason, created_by=ov.created_by,
                       created_at=ov.created_at, run_id=ov.run_id, active=ov.active, score=ov.score,
                       scored_at=ov.scored_at)


def overrides(session: Session, actor: Actor, *, scored_only: bool = False, limit: int = 500,
              item_id: int | None = None, site_id: int | None = None) -> list[OverrideRow]:
    """Planners' overrides, newest first (optionally of one item and/or site); ``scored_only``: the
    scored ones, last scored first."""
    actor.require(Permission.PLAN)
    stmt = select(ForecastOverride).where(ForecastOverride.org_id == actor.org_id)
    if item_id:
        stmt = stmt.where(ForecastOverride.item_id == item_id)
    if site_id:
        stmt = stmt.where(ForecastOverride.site_id == site_id)
    if scored_only:
        stmt = stmt.where(ForecastOverride.scored_at.is_not(None)).order_by(ForecastOverride.scored_at.desc())
    else:
        stmt = stmt.order_by(ForecastOverride.id.desc())
    return [_override(o) for o in session.scalars(stmt.limit(limit))]


def promotions(session: Session, actor: Actor, *, include_cancelled: bool = False) -> list[PromotionView]:
    """Active promotions (and cancelled ones if asked), by start date."""
    actor.require(Permission.PLAN)
    stmt = select(Promotion).where(Promotion.org_id == actor.org_id)
    if not include_cancelled:
        stmt = stmt.where(Promotion.active.is_(True))
    return [promotion_view(p) for p in session.scalars(stmt.order_by(Promotion.starts_on, Promotion.id))]


def _day(value: Any) -> date | None:
    # SQLite's min()/max() over a DATE column answer the stored text, PostgreSQL a date.
    return date.fromisoformat(value) if isinstance(value, str) else value


def covariates(session: Session, actor: Actor) -> list[CovariateRow]:
    """Each covariate series: name, number of values, first and last day (by name)."""
    actor.require(Permission.PLAN)
    rows = session.execute(select(CovariateValue.name, func.count(), func.min(CovariateValue.day),
                                  func.max(CovariateValue.day))
                           .where(CovariateValue.org_id == actor.org_id).group_by(CovariateValue.name)
                           .order_by(CovariateValue.name))
    return [CovariateRow(name, count, _day(lo), _day(hi)) for name, count, lo, hi in rows]


def demand_imports(session: Session, actor: Actor, *, limit: int = 100) -> list[ImportRow]:
    """The last ``limit`` demand imports, newest first."""
    actor.require(Permission.PLAN)
    rows = session.scalars(select(DemandImport).where(DemandImport.org_id == actor.org_id)
                           .order_by(DemandImport.id.desc()).limit(limit))
    return [ImportRow(id=r.id, filename=r.filename, granularity=r.granularity.value, rows=r.rows_imported,
                      created_by=r.created_by, created_at=r.created_at, report=r.report) for r in rows]


def suggestions(session: Session, actor: Actor, *, status: str = "proposed", limit: int = 1000,
                before_id: int | None = None) -> list[SuggestionView]:
    """Replenishment suggestions in one status (``"all"``: every status), newest first; ``before_id``:
    the page after the one that ended with that suggestion (keyset on id)."""
    actor.require(Permission.PLAN)
    stmt = select(ReplenishmentSuggestion).where(ReplenishmentSuggestion.org_id == actor.org_id)
    if before_id:
        stmt = stmt.where(ReplenishmentSuggestion.id < before_id)
    if status != "all":
        stmt = stmt.where(ReplenishmentSuggestion.status == SuggestionStatus(status))
    return [suggestion_view(s) for s in session.scalars(stmt.order_by(ReplenishmentSuggestion.id.desc())
                                                        .limit(limit))]


def safety_stock(session: Session, actor: Actor, *, item_id: int | None = None,
                 site_id: int | None = None) -> list[SafetyStockRow]:
    """Safety stock and reorder point per item and site (optionally of one item and/or site), from the
    last recompute."""
    actor.require(Permission.PLAN)
    stmt = select(SafetyStock).where(SafetyStock.org_id == actor.org_id)
    if item_id:
        stmt = stmt.where(SafetyStock.item_id == item_id)
    if site_id:
        stmt = stmt.where(SafetyStock.site_id == site_id)
    rows = session.scalars(stmt.order_by(SafetyStock.item_id, SafetyStock.site_id))
    return [SafetyStockRow(item_id=r.item_id, site_id=r.site_id, safety_stock=r.value, reorder_point=r.reorder_point,
                           service_level=r.service_level, lead_time_weeks=r.lead_time_weeks,
                           computed_at=r.computed_at, run_id=r.run_id) for r in rows]
