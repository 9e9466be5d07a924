"""The planning sandbox: forecast and plan with other parameters in memory, compare with the live plan.

Nothing is written: no operation is called, nothing is added to the session.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forecast.types import Forecast
from models import forecasting
from models.actor import Actor, Permission
from models.demand import local_date_today
from models.errors import ValidationError
from models.operations.planning import PromoLike, covers, line_values, make_forecasts, overridden, planning_settings
from models.operations.replenishment import ZERO, Computed, Key, KeyPlan, compute, live_forecasts
from models.planning import (
    ForecastOverride,
    ReplenishmentSuggestion,
    SafetyStock,
    SuggestionKind,
    SuggestionStatus,
)
from models.stock import Balance
from models.timeutil import week_start


@dataclass(frozen=True)
class SandboxPromotion:
    item_id: int
    starts_on: date
    ends_on: date
    uplift: Decimal
    site_id: int | None = None


@dataclass(frozen=True)
class PlanningSandbox:
    method: str | None = None
    service_level: float | None = None
    lead_time_weeks: float | None = None
    horizon: int | None = None
    promotion: SandboxPromotion | None = None
    item_ids: tuple[int, ...] | None = None
    site_ids: tuple[int, ...] | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class SandboxRow:
    item_id: int
    site_id: int
    live: dict[str, Any] | None
    sandbox: dict[str, Any]
    delta: dict[str, float]


@dataclass(frozen=True)
class SandboxResult:
    run_id: int | None
    parameters: dict[str, Any]
    rows: list[SandboxRow]
    totals: dict[str, dict[str, float]]


def _figures(p: KeyPlan, suggested: Decimal, mean: Sequence[float], unit_cost: Decimal) -> dict[str, Any]:
    fig: dict[str, Any] = {
        "forecast_total": float(p.forecast_total), "safety_stock": float(p.safety_stock),
        "reorder_point": float(p.reorder_point), "suggested": float(suggested), "on_hand": float(p.on_hand),
        "on_order": float(p.on_order), "service_level": p.service_level, "lead_time_weeks": p.lead_time_weeks,
        "reason": p.reason}
    return fig | _projection(p, suggested, mean, unit_cost)


def _projection(p: KeyPlan, suggested: Decimal, mean: Sequence[float], unit_cost: Decimal) -> dict[str, Any]:
    """Stock week by week if the plan is followed: stock-out weeks and the value of the stock held.

    The figures are rounded once (stock to 0.1, money to the fen) and the text is written from the
    rounded figures, so what a planner reads in the sentence is what the columns show.
    """
    proj = forecasting.project_stock(mean, on_hand=float(max(p.on_hand, ZERO)), on_order=float(p.on_order),
                                     order_quantity=float(suggested), lead_time_weeks=p.lead_time_weeks)
    average = round(proj.average_stock, 1)
    value = float((Decimal(str(average)) * unit_cost).quantize(Decimal("0.01")))
    weeks = len(proj.stock)
    if suggested > 0:
        arrives = (f"第 {proj.arrival_week + 1} 周到货" if proj.arrival_week < weeks
                   else f"到货晚于这 {weeks} 周")
        order = f"订货 {float(suggested):g}，{arrives}"
    else:
        order = "不订货"
    text = (f"按此方案{order}：{weeks} 周中 {proj.stockout_weeks} 周缺货，"
            f"周末平均库存 {average:g}，库存金额约 ¥{value:,.2f}。")
    return {"stockout_weeks": proj.stockout_weeks, "average_stock": average, "stock_value": value,
            "unit_cost": float(unit_cost), "projection": [round(v, 1) for v in proj.stock],
            "arrival_week": proj.arrival_week, "projection_text": text}


def unit_costs(session: Session, org_id: int) -> dict[Key, Decimal]:
    """Return the moving-average unit cost per item × site (Σ value ÷ Σ on hand), in one statement."""
    rows = session.execute(select(Balance.item_id, Balance.site_id, func.sum(Balance.value), func.sum(Balance.on_hand))
                           .where(Balance.org_id == org_id, Balance.on_hand > 0)
                           .group_by(Balance.item_id, Balance.site_id))
    return {(i, s): (Decimal(v or 0) / Decimal(q)).quantize(Decimal("0.0001")) for i, s, v, q in rows if q}


def _cost(costs: dict[Key, Decimal], key: Key) -> Decimal:
    """A key's own cost, else the item's cost at another site (no stock here now), else 0."""
    if key in costs:
        return costs[key]
    return next((c for (item, _site), c in sorted(costs.items()) if item == key[0]), ZERO)


def run_planning_sandbox(session: Session, actor: Actor, cmd: PlanningSandbox) -> SandboxResult:
    """Forecast and plan with other parameters in memory and compare with the live plan; writes nothing."""
    actor.require(Permission.PLAN)
    cfg = planning_settings(session, actor.org_id)
    as_of = cmd.as_of or local_date_today()
    if cmd.service_level is not None and not 0.5 <= cmd.service_level < 1:
        raise ValidationError("服务水平须在 0.5 与 1 之间", field="service_level")
    if cmd.lead_time_weeks is not None and cmd.lead_time_weeks < 0:
        raise ValidationError("提前期不能为负", field="lead_time_weeks")
    horizon = cmd.horizon or int(cfg["horizon"])
    method = cmd.method or str(cfg["method"])
    if method not in forecasting.methods():
        raise ValidationError(f"不支持的预测方法：{method}", field="method")
    extra = []
    if cmd.promotion is not None:
        pr = cmd.promotion
        if pr.ends_on < pr.starts_on:
            raise ValidationError("促销结束日期不能早于开始日期", field="promotion")
        extra.append(PromoLike(pr.item_id, pr.site_id, pr.starts_on, pr.ends_on, pr.uplift))
    params = {k: cfg[k] for k in ("season_length", "use_holidays", "backtest_folds")}
    params |= {"item_ids": cmd.item_ids, "site_ids": cmd.site_ids}
    first_week = week_start(as_of)
    _series, forecasts, uplift = make_forecasts(session, actor.org_id, first_week=first_week, horizon=horizon,
                                                method=method, params=params, extra_promotions=extra)
    overrides = list(session.scalars(select(ForecastOverride).where(
        ForecastOverride.org_id == actor.org_id, ForecastOverride.active.is_(True)).order_by(ForecastOverride.id)))
    planned: dict[Key, Forecast] = {}
    for fc in forecasts:
        item_id, site_id = (int(x) for x in fc.key.split(":"))
        means = []
        for n, week in enumerate(fc.weeks[:horizon]):
            value = line_values(fc, n, uplift.get((item_id, site_id)))[0]["mean"]
            for ov in overrides:
                if ov.item_id == item_id and ov.site_id == site_id and covers(ov, week):
                    value = overridden(ov, value)
            means.append(float(value))
        shift = [m - fc.mean[n] for n, m in enumerate(means)]
        planned[(item_id, site_id)] = Forecast(**{**fc.__dict__, "mean": tuple(means),
                                                  **{b: tuple(max(v + d, 0.0) for v, d in zip(getattr(fc, b), shift,
                                                                                             strict=False))
                                                     for b in ("lo80", "hi80", "lo95", "hi95")}})
    sandbox = compute(session, actor.org_id, planned, as_of=as_of, service_level=cmd.service_level,
                      lead_time_weeks=cmd.lead_time_weeks)
    run_id, live_fc = live_forecasts(session, actor.org_id, from_week=first_week)
    live = compute(session, actor.org_id, live_fc, as_of=as_of) if live_fc else Computed()
    stored = {(s.item_id, s.site_id): s for s in session.scalars(select(SafetyStock).where(
        SafetyStock.org_id == actor.org_id))}
    proposed: dict[Key, Decimal] = defaultdict(Decimal)
    for s in session.scalars(select(ReplenishmentSuggestion).where(
            ReplenishmentSuggestion.org_id == actor.org_id, ReplenishmentSuggestion.status == SuggestionStatus.PROPOSED,
            ReplenishmentSuggestion.kind != SuggestionKind.CLEARANCE)):
        proposed[(s.item_id, s.site_id)] += s.quantity
    drafted: dict[Key, Decimal] = defaultdict(Decimal)
    for d in sandbox.drafts:
        if d.kind != SuggestionKind.CLEARANCE:
            drafted[(d.item_id, d.site_id)] += d.quantity
    # The live column is the live settings recomputed now, on today's stock, like the sandbox column:
    # its figures then agree with its reason text and the delta is the parameters' effect alone. What
    # the last recompute stored (stock may have moved since) is shown beside it, as "stored".
    live_drafted: dict[Key, Decimal] = defaultdict(Decimal)
    for d in live.drafts:
        if d.kind != SuggestionKind.CLEARANCE:
            live_drafted[(d.item_id, d.site_id)] += d.quantity
    costs = unit_costs(session, actor.org_id)
    rows, fields = [], ("forecast_total", "safety_stock", "reorder_point", "suggested", "stockout_weeks",
                        "stock_value")
    totals = {side: dict.fromkeys(fields, 0.0) for side in ("live", "sandbox")}
    for key in sorted(set(sandbox.plans) | set(live.plans)):
        mine = sandbox.plans.get(key)
        if mine is None:
            continue
        lp = live.plans.get(key)
        # Both projections cover the same weeks (the live run may have forecast fewer), so their
        # stock-out weeks and stock values compare like with like.
        weeks = min(len(planned[key].mean), len(live_fc[key].mean)) if lp is not None else len(planned[key].mean)
        live_fig = None
        if lp is not None:
            live_fig = _figures(lp, live_drafted.get(key, ZERO), live_fc[key].mean[:weeks], _cost(costs, key))
            kept = stored.get(key)
            live_fig["stored"] = {
                "suggested": float(proposed.get(key, ZERO)),
                "safety_stock": float(kept.value) if kept else None,
                "reorder_point": float(kept.reorder_point) if kept else None,
                "computed_at": kept.computed_at.isoformat() if kept else None,
            }
        fig = _figures(mine, drafted.get(key, ZERO), planned[key].mean[:weeks], _cost(costs, key))
        delta = {f: fig[f] - (live_fig[f] if live_fig else 0.0) for f in fields}
        for f in fields:
            totals["sandbox"][f] += fig[f]
            totals["live"][f] += live_fig[f] if live_fig else 0.0
        rows.append(SandboxRow(key[0], key[1], live_fig, fig, delta))
    parameters = {"method": method, "horizon": horizon, "service_level": cmd.service_level,
                  "lead_time_weeks": cmd.lead_time_weeks,
                  "promotion": cmd.promotion.__dict__ if cmd.promotion else None}
    return SandboxResult(run_id, parameters, rows, totals)
