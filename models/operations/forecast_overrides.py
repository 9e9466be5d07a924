"""Planners' overrides of the forecast (set or scale, with a reason, audited) and their scores against actuals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.demand import local_date_today, weekly_demand
from models.errors import ValidationError
from models.idempotency import idempotent
from models.lookup import get_owned
from models.operations.common import active_item, stock_site
from models.operations.planning import covers, latest_run, overridden, qty, rescale_day_lines
from models.outbox import emit
from models.planning import ForecastLine, ForecastOverride
from models.timeutil import week_start

# -- overrides ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class OverrideForecast:
    item_id: int
    site_id: int
    from_week: date
    weeks: int
    reason: str
    #: Exactly one: a value per week, or a scale factor (−0.15 = −15%).
    set_value: Decimal | None = None
    scale: Decimal | None = None


@dataclass(frozen=True)
class OverrideView:
    override_id: int
    item_id: int
    site_id: int
    from_week: date
    weeks: int
    set_value: Decimal | None
    scale: Decimal | None
    reason: str
    run_id: int | None
    lines_changed: int
    score: dict[str, Any] | None = None


def override_view(ov: ForecastOverride, lines_changed: int = 0) -> OverrideView:
    return OverrideView(ov.id, ov.item_id, ov.site_id, ov.from_week, ov.weeks, ov.set_value, ov.scale, ov.reason,
                        ov.run_id, lines_changed, ov.score)


@idempotent("forecast.override")
def override_forecast(session: Session, actor: Actor, cmd: OverrideForecast) -> OverrideView:
    """Set or scale the forecast of an item × site for some weeks, with a reason; audited, applied to the latest run."""
    actor.require(Permission.PLAN, cmd.site_id)
    active_item(session, actor, cmd.item_id)
    stock_site(session, actor, cmd.site_id)
    if not cmd.reason.strip():
        raise ValidationError("调整预测须说明原因", field="reason")
    if (cmd.set_value is None) == (cmd.scale is None):
        raise ValidationError("须给出调整后的数值或调整比例，二者选一", field="set_value")
    if cmd.set_value is not None and cmd.set_value < 0:
        raise ValidationError("调整后的数值不能为负", field="set_value")
    if cmd.scale is not None and not Decimal(-1) <= cmd.scale <= Decimal(10):
        raise ValidationError("调整比例须在 -100% 与 +1000% 之间", field="scale")
    if not 1 <= cmd.weeks <= 104:
        raise ValidationError("调整周数须在 1 到 104 之间", field="weeks")
    run = latest_run(session, actor.org_id)
    ov = ForecastOverride(
        org_id=actor.org_id, item_id=cmd.item_id, site_id=cmd.site_id, from_week=week_start(cmd.from_week),
        weeks=cmd.weeks, reason=cmd.reason.strip()[:256], created_by=actor.member_id,
        set_value=qty(cmd.set_value) if cmd.set_value is not None else None,
        scale=cmd.scale.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) if cmd.scale is not None else None,
        run_id=run.id if run else None)
    session.add(ov)
    session.flush()
    before, after = [], []
    if run is not None:
        lines = session.scalars(select(ForecastLine).where(
            ForecastLine.run_id == run.id, ForecastLine.item_id == cmd.item_id, ForecastLine.site_id == cmd.site_id,
        ).order_by(ForecastLine.week).with_for_update())
        for line in lines:
            if covers(ov, line.week):
                before.append({"week": line.week.isoformat(), "final": str(line.final), "mean": str(line.mean)})
                line.final, line.override_id = overridden(ov, line.mean), ov.id
                after.append({"week": line.week.isoformat(), "final": str(line.final)})
        if after:  # a day run's days follow their weeks
            rescale_day_lines(session, run.id, cmd.item_id, cmd.site_id)
    body = {"item_id": ov.item_id, "site_id": ov.site_id, "from_week": ov.from_week.isoformat(), "weeks": ov.weeks,
            "set_value": str(ov.set_value) if ov.set_value is not None else None,
            "scale": str(ov.scale) if ov.scale is not None else None, "run_id": ov.run_id}
    record_audit(session, actor, "forecast.override", "forecast_override", ov.id,
                 before={"lines": before}, after={**body, "lines": after}, reason=ov.reason)
    emit(session, actor.org_id, "forecast.overridden", {"override_id": ov.id, **body, "lines": len(after)})
    return override_view(ov, len(after))


@dataclass(frozen=True)
class ScoreOverrides:
    #: Score overrides whose weeks all ended before the week holding this day (default today).
    as_of: date | None = None


def score_one(ov: ForecastOverride, lines: dict[date, ForecastLine], weeks: dict[date, Any]) -> dict[str, Any]:
    """Compare an override with the model against actuals and attribute the planned figure's bias.

    Bias of the plan = Σ(final − actual) = override effect Σ(final − model) + model error in
    stockout weeks (actual censored low) + model error in promotion weeks + model error elsewhere.
    """
    rows: list[dict[str, Any]] = []
    for n in range(ov.weeks):
        week = ov.from_week + timedelta(days=7 * n)
        line, actual = lines.get(week), weeks.get(week)
        if line is None:
            continue
        sale = float(actual.sale) if actual else 0.0
        rows.append({"week": week.isoformat(), "actual": sale, "model": float(line.mean), "final": float(line.final),
                     "censored": bool(actual and actual.censored), "promo": float(actual.promo) if actual else 0.0})
    if not rows:
        return {"weeks": [], "summary": "没有可比较的预测", "verdict": "unscored"}
    k = len(rows)
    mae_model = sum(abs(r["model"] - r["actual"]) for r in rows) / k
    mae_final = sum(abs(r["final"] - r["actual"]) for r in rows) / k
    effect = sum(r["final"] - r["model"] for r in rows)
    stockout = sum(r["model"] - r["actual"] for r in rows if r["censored"])
    promo = sum(r["model"] - r["actual"] for r in rows if r["promo"] > 0 and not r["censored"])
    other = sum(r["model"] - r["actual"] for r in rows if r["promo"] == 0 and not r["censored"])
    attribution = sorted([{"factor": "override", "label": "人工调整", "bias": round(effect, 3)},
                          {"factor": "stockout", "label": "缺货（实际需求被低估）", "bias": round(stockout, 3)},
                          {"factor": "promotion", "label": "促销", "bias": round(promo, 3)},
                          {"factor": "model", "label": "模型误差", "bias": round(other, 3)}],
                         key=lambda a: -abs(a["bias"]))
    verdict = "helped" if mae_final < mae_model else "hurt" if mae_final > mae_model else "neutral"
    words = {"helped": "人工调整降低了误差", "hurt": "人工调整增大了误差", "neutral": "人工调整未改变误差"}
    summary = (f"{words[verdict]}：模型平均绝对误差 {mae_model:.1f}，调整后 {mae_final:.1f}；"
               f"偏差主要来自{attribution[0]['label']}（{attribution[0]['bias']:+.1f}）。")
    return {"weeks": rows, "mae_model": round(mae_model, 3), "mae_final": round(mae_final, 3),
            "bias_model": round(sum(r["model"] - r["actual"] for r in rows), 3),
            "bias_final": round(sum(r["final"] - r["actual"] for r in rows), 3),
            "value_added": round(mae_model - mae_final, 3), "verdict": verdict,
            "attribution": attribution, "summary": summary}


@idempotent("forecast.score_overrides")
def score_overrides(session: Session, actor: Actor, cmd: ScoreOverrides) -> list[OverrideView]:
    """Score every unscored override whose weeks have passed: override vs model vs actuals, bias attributed."""
    actor.require(Permission.PLAN)
    this_week = week_start(cmd.as_of or local_date_today())
    pending = [ov for ov in session.scalars(select(ForecastOverride).where(
        ForecastOverride.org_id == actor.org_id, ForecastOverride.score.is_(None),
        ForecastOverride.run_id.is_not(None)).order_by(ForecastOverride.id).with_for_update())
        if ov.from_week + timedelta(days=7 * ov.weeks) <= this_week]
    if not pending:
        return []
    actuals = weekly_demand(session, actor.org_id, item_ids={ov.item_id for ov in pending},
                            end=this_week - timedelta(days=1))
    scored = []
    for ov in pending:
        lines = {ln.week: ln for ln in session.scalars(select(ForecastLine).where(
            ForecastLine.run_id == ov.run_id, ForecastLine.item_id == ov.item_id, ForecastLine.site_id == ov.site_id))}
        weeks = {w.week: w for w in actuals.get((ov.item_id, ov.site_id), [])}
        ov.score, ov.scored_at = score_one(ov, lines, weeks), utcnow()
        scored.append(override_view(ov))
    emit(session, actor.org_id, "forecast.overrides_scored", {"overrides": [v.override_id for v in scored]})
    return scored


@dataclass(frozen=True)
class CancelOverride:
    override_id: int
    reason: str


@idempotent("forecast.override_cancel")
def cancel_override(session: Session, actor: Actor, cmd: CancelOverride) -> OverrideView:
    """Withdraw an override: the latest run's lines go back to the model (or an earlier override), audited."""
    ov = get_owned(session, ForecastOverride, cmd.override_id, actor.org_id, lock=True)
    actor.require(Permission.PLAN, ov.site_id)
    if not cmd.reason.strip():
        raise ValidationError("撤销调整须说明原因", field="reason")
    if not ov.active:
        return override_view(ov)
    ov.active = False
    changed = []
    run = latest_run(session, actor.org_id)
    if run is not None:
        others = list(session.scalars(select(ForecastOverride).where(
            ForecastOverride.org_id == actor.org_id, ForecastOverride.active.is_(True),
            ForecastOverride.item_id == ov.item_id, ForecastOverride.site_id == ov.site_id,
            ForecastOverride.id != ov.id).order_by(ForecastOverride.id)))
        for line in session.scalars(select(ForecastLine).where(
                ForecastLine.run_id == run.id, ForecastLine.override_id == ov.id).with_for_update()):
            line.final, line.override_id = line.mean, None
            for other in others:
                if covers(other, line.week):
                    line.final, line.override_id = overridden(other, line.mean), other.id
            changed.append({"week": line.week.isoformat(), "final": str(line.final)})
        if changed:
            rescale_day_lines(session, run.id, ov.item_id, ov.site_id)
    record_audit(session, actor, "forecast.override_cancel", "forecast_override", ov.id,
                 before={"active": True}, after={"active": False, "lines": changed}, reason=cmd.reason.strip())
    emit(session, actor.org_id, "forecast.override_cancelled", {"override_id": ov.id, "lines": len(changed)})
    return override_view(ov, len(changed))
