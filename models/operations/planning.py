"""Demand planning operations: settings, promotions, covariates, forecast runs, overrides and their scores.

Replenishment (safety stock, suggestions, the sandbox) lives in models.operations.replenishment;
imports of demand history in models.operations.demand_import.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from forecast.calendar import week_features
from forecast.types import Forecast, Series
from models import forecasting
from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.catalog import Item
from models.db import read_only
from models.demand import daily_series, demand_series, local_date_today, parse_key, promo_intensity
from models.errors import IdempotencyConflict, InvalidState, ValidationError
from models.forecasting import EngineUnavailable
from models.idempotency import find_record, idempotent, key_scope, request_hash
from models.infra import IdempotencyRecord
from models.lookup import get_owned
from models.operations.common import active_item, stock_site
from models.operations.planning_days import (
    DAY_HORIZON_DEFAULT,
    DAY_HORIZON_MAX,
    DayLayout,
    day_final,
    day_layout,
    promo_days,
    reconcile_figures,
)
from models.org import Org, Party
from models.outbox import emit
from models.planning import (
    CovariateValue,
    ForecastDayLine,
    ForecastLine,
    ForecastOverride,
    ForecastRun,
    Promotion,
    RunFrequency,
    RunStatus,
)
from models.timeutil import week_start

QTY = Decimal("0.001")
ZERO = Decimal(0)

#: Organisation planning settings (``org.settings["planning"]``) and their defaults.
DEFAULTS: dict[str, Any] = {
    "service_level": 0.95, "lead_time_weeks": 1.0, "review_weeks": 1.0, "horizon": 8, "method": "auto",
    "season_length": 52, "use_holidays": True, "backtest_folds": 3,
    #: Sell-through (sold ÷ (sold + closing stock)) below this for ``slow_weeks`` weeks → clearance.
    "slow_sell_through": 0.1, "slow_weeks": 3,
    "default_supplier_id": None,
    #: "week" or "day" (a day run also stores the weeks, reconciled with their days).
    "frequency": "week", "day_horizon": DAY_HORIZON_DEFAULT,
}
FREQUENCIES = {"week": "按周", "day": "按日"}
#: Per-item settings under ``planning.items[item_id]``.
ITEM_KEYS = {"lead_time_weeks", "pack_size", "min_order", "supplier_id", "unit_price", "service_level"}


def qty(value: float | Decimal) -> Decimal:
    """Round a forecast figure to a storable quantity (never negative)."""
    return max(Decimal(str(value)).quantize(QTY, rounding=ROUND_HALF_UP), ZERO) if value == value else ZERO


def planning_settings(session: Session, org_id: int) -> dict[str, Any]:
    """Return an organisation's planning settings with defaults filled in."""
    raw = (session.get_one(Org, org_id).settings or {}).get("planning") or {}
    return {**DEFAULTS, **{k: v for k, v in raw.items() if k in DEFAULTS}, "items": dict(raw.get("items") or {})}


def item_settings(cfg: dict[str, Any], item_id: int) -> dict[str, Any]:
    """Return the settings of one item (lead time, pack size, supplier …) over the org's defaults."""
    own = cfg["items"].get(str(item_id)) or {}
    return {"lead_time_weeks": cfg["lead_time_weeks"], "service_level": cfg["service_level"], "pack_size": 1,
            "min_order": 0, "supplier_id": cfg.get("default_supplier_id"), "unit_price": None, **own}


def _method(name: str) -> str:
    if name not in forecasting.methods():
        raise ValidationError(f"不支持的预测方法：{name}", field="method", methods=sorted(forecasting.methods()))
    return name


@dataclass(frozen=True)
class SetPlanningSettings:
    values: dict[str, Any]
    reason: str = ""


@dataclass(frozen=True)
class PlanningSettings:
    values: dict[str, Any]


def _number(value: Any, key: str, low: float, high: float, *, integer: bool = False) -> None:
    """Refuse anything but a finite number within [low, high] (no bools, NaN, Infinity, 1e308)."""
    kinds = (int,) if integer else (int, float, Decimal)
    if isinstance(value, bool) or not isinstance(value, kinds) or not (low <= value <= high):
        raise ValidationError(f"{key} 须是 {low:g} 到 {high:g} 之间的{'整数' if integer else '数'}", field=key)


#: Per-item keys and their bounds (lead times in weeks; quantities and prices in base units and yuan).
_ITEM_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "lead_time_weeks": (0, 104, False), "pack_size": (0, 1e9, False), "min_order": (0, 1e9, False),
    "unit_price": (0, 1e9, False), "service_level": (0.5, 0.999, False), "supplier_id": (1, 2**53, True),
}


def _check_settings(session: Session, org_id: int, values: dict[str, Any]) -> None:
    """Validate planning settings when they are saved, so a forecast never meets Infinity or a foreign id."""
    for key, value in values.items():
        if key == "items":
            if not isinstance(value, dict) or len(value) > 10_000 or not all(
                    isinstance(v, dict) and set(v) <= ITEM_KEYS for v in value.values()):
                raise ValidationError(f"items 须是 {{商品编号: {{{'、'.join(sorted(ITEM_KEYS))}}}}}", field="items")
            for item_id, own in value.items():
                if not str(item_id).isdecimal() or not str(item_id).isascii():
                    raise ValidationError("items 的键须是商品编号", field="items")
                get_owned(session, Item, int(item_id), org_id)
                for sub, sub_value in own.items():
                    if sub == "unit_price" and sub_value is None:
                        continue
                    low, high, integer = _ITEM_BOUNDS[sub]
                    _number(sub_value, f"items.{item_id}.{sub}", low, high, integer=integer)
                    if sub == "supplier_id":
                        get_owned(session, Party, sub_value, org_id)
            continue
        if key not in DEFAULTS:
            raise ValidationError(f"未知的计划参数：{key}", field=key)
        if key == "service_level":
            _number(value, key, 0.5, 0.999)
        elif key in ("lead_time_weeks", "review_weeks"):
            _number(value, key, 0, 104)
        elif key == "horizon":
            _number(value, key, 1, 104, integer=True)
        elif key == "season_length":
            _number(value, key, 1, 366, integer=True)
        elif key == "backtest_folds":
            _number(value, key, 0, 20, integer=True)
        elif key == "slow_sell_through":
            _number(value, key, 0, 1)
        elif key == "slow_weeks":
            _number(value, key, 1, 104, integer=True)
        elif key == "use_holidays" and not isinstance(value, bool):
            raise ValidationError("use_holidays 须是 true 或 false", field=key)
        elif key == "default_supplier_id" and value is not None:
            _number(value, key, 1, 2**53, integer=True)
            get_owned(session, Party, value, org_id)
        elif key == "method":
            _method(str(value))
        elif key == "frequency":
            _frequency(value)
        elif key == "day_horizon":
            _number(value, key, 1, DAY_HORIZON_MAX, integer=True)


def _frequency(value: Any) -> str:
    if value not in FREQUENCIES:
        raise ValidationError("预测频率须是 week（按周）或 day（按日）", field="frequency",
                              frequencies=sorted(FREQUENCIES))
    return str(value)


@idempotent("planning.settings")
def set_planning_settings(session: Session, actor: Actor, cmd: SetPlanningSettings) -> PlanningSettings:
    """Change planning settings (service level, lead times, slow-mover threshold …), audited."""
    actor.require(Permission.PLAN)
    _check_settings(session, actor.org_id, cmd.values)
    org = session.get_one(Org, actor.org_id, with_for_update=True)
    settings = dict(org.settings or {})
    before = dict(settings.get("planning") or {})
    after = {**before, **cmd.values}
    if "items" in cmd.values:
        after["items"] = {**(before.get("items") or {}), **{str(k): v for k, v in cmd.values["items"].items()}}
    org.settings = {**settings, "planning": after}
    record_audit(session, actor, "planning.settings", "org", org.id, before=before, after=after, reason=cmd.reason)
    return PlanningSettings(planning_settings(session, actor.org_id))


# -- promotions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SetPromotion:
    item_id: int
    starts_on: date
    ends_on: date
    #: Expected uplift as a fraction (0.3 = +30%).
    uplift: Decimal
    site_id: int | None = None
    note: str = ""
    #: Given: change this promotion instead of creating one.
    promotion_id: int | None = None


@dataclass(frozen=True)
class CancelPromotion:
    promotion_id: int
    reason: str = ""


@dataclass(frozen=True)
class PromotionView:
    promotion_id: int
    item_id: int
    site_id: int | None
    starts_on: date
    ends_on: date
    uplift: Decimal
    note: str
    active: bool


def promotion_view(p: Promotion) -> PromotionView:
    return PromotionView(p.id, p.item_id, p.site_id, p.starts_on, p.ends_on, p.uplift, p.note, p.active)


def _promo_body(p: Promotion) -> dict[str, Any]:
    return {"item_id": p.item_id, "site_id": p.site_id, "starts_on": p.starts_on.isoformat(),
            "ends_on": p.ends_on.isoformat(), "uplift": str(p.uplift), "note": p.note, "active": p.active}


@idempotent("promotion.set")
def set_promotion(session: Session, actor: Actor, cmd: SetPromotion) -> PromotionView:
    """Create or change a promotion (item, site or all, dates, expected uplift), audited."""
    actor.require(Permission.PLAN, cmd.site_id)
    active_item(session, actor, cmd.item_id)
    if cmd.site_id is not None:
        stock_site(session, actor, cmd.site_id)
    if cmd.ends_on < cmd.starts_on:
        raise ValidationError("促销结束日期不能早于开始日期", field="ends_on")
    if (cmd.ends_on - cmd.starts_on).days > 366:
        raise ValidationError("促销最长一年", field="ends_on")
    if not Decimal(-1) < cmd.uplift <= Decimal(20):
        raise ValidationError("预计提升须在 -100% 与 2000% 之间", field="uplift")
    uplift = cmd.uplift.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    if cmd.promotion_id is None:
        promo, before = Promotion(org_id=actor.org_id, created_by=actor.member_id), None
        session.add(promo)
    else:
        promo = get_owned(session, Promotion, cmd.promotion_id, actor.org_id, lock=True)
        if not promo.active:
            raise InvalidState("该促销已取消", promotion_id=promo.id)
        before = _promo_body(promo)
    promo.item_id, promo.site_id, promo.starts_on, promo.ends_on = cmd.item_id, cmd.site_id, cmd.starts_on, cmd.ends_on
    promo.uplift, promo.note, promo.active = uplift, cmd.note[:256], True
    session.flush()
    record_audit(session, actor, "promotion.create" if before is None else "promotion.update", "promotion",
                 promo.id, before=before, after=_promo_body(promo))
    emit(session, actor.org_id, "promotion.set", {"promotion_id": promo.id, **_promo_body(promo)})
    return promotion_view(promo)


@idempotent("promotion.cancel")
def cancel_promotion(session: Session, actor: Actor, cmd: CancelPromotion) -> PromotionView:
    """Cancel a promotion (kept for history, no longer used by forecasts), audited."""
    promo = get_owned(session, Promotion, cmd.promotion_id, actor.org_id, lock=True)
    actor.require(Permission.PLAN, promo.site_id)
    if promo.active:
        before = _promo_body(promo)
        promo.active, promo.cancelled_at = False, utcnow()
        record_audit(session, actor, "promotion.cancel", "promotion", promo.id, before=before,
                     after=_promo_body(promo), reason=cmd.reason)
        emit(session, actor.org_id, "promotion.cancelled", {"promotion_id": promo.id, "reason": cmd.reason})
    return promotion_view(promo)


# -- covariates ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class UploadCovariate:
    name: str
    values: tuple[tuple[date, Decimal], ...]


@dataclass(frozen=True)
class CovariateSeries:
    name: str
    count: int
    first_day: date | None
    last_day: date | None


@idempotent("covariate.upload")
def upload_covariate(session: Session, actor: Actor, cmd: UploadCovariate) -> CovariateSeries:
    """Add or replace values of a named covariate series (temperature, price index …)."""
    actor.require(Permission.PLAN)
    name = cmd.name.strip()
    if not name or len(name) > 64:
        raise ValidationError("协变量须有名称（不超过 64 字）", field="name")
    if not cmd.values:
        raise ValidationError("协变量至少要有一个值", field="values")
    days = [d for d, _ in cmd.values]
    if len(set(days)) != len(days):
        raise ValidationError("同一天不能有两个值", field="values")
    existing = {c.day: c for c in session.scalars(select(CovariateValue).where(
        CovariateValue.org_id == actor.org_id, CovariateValue.name == name, CovariateValue.day.in_(days)))}
    for day, value in cmd.values:
        value = Decimal(value).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        if day in existing:
            existing[day].value = value
        else:
            session.add(CovariateValue(org_id=actor.org_id, name=name, day=day, value=value))
    session.flush()
    emit(session, actor.org_id, "covariate.uploaded", {"name": name, "count": len(cmd.values)})
    return CovariateSeries(name, len(cmd.values), min(days), max(days))


def covariates(session: Session, org_id: int) -> dict[str, dict[date, float]]:
    """Return every covariate series of an organisation, for the engine."""
    out: dict[str, dict[date, float]] = defaultdict(dict)
    for name, day, value in session.execute(select(CovariateValue.name, CovariateValue.day, CovariateValue.value)
                                            .where(CovariateValue.org_id == org_id)):
        out[name][day] = float(value)
    return dict(out)


# -- forecast runs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunForecast:
    horizon: int | None = None
    method: str | None = None
    #: season_length, use_holidays, backtest_folds, item_ids, site_ids (default: the org's settings).
    parameters: dict[str, Any] = field(default_factory=dict)
    #: Weeks: forecast from the week holding this day (default today); history is the weeks before it.
    #: Days: forecast from this day; history is the days before it.
    as_of: date | None = None
    #: "week" or "day" (default: the org's planning setting ``frequency``); a day run's horizon is in days.
    frequency: str | None = None


@dataclass(frozen=True)
class RunResult:
    run_id: int
    status: str
    method: str
    horizon: int
    first_week: date
    series: int
    #: Weekly lines (a day run: those of its complete weeks).
    lines: int
    warnings: dict[str, int]
    error: str = ""
    frequency: str = "week"
    #: A day run: its first day and its day lines.
    first_day: date | None = None
    day_lines: int = 0


@dataclass(frozen=True)
class PromoLike:
    """A promotion in memory (the sandbox's extra promotion)."""

    item_id: int
    site_id: int | None
    starts_on: date
    ends_on: date
    uplift: Decimal
    active: bool = True


def future_promotions(promos: Sequence[Any], keys: Iterable[tuple[int, int]], weeks: Sequence[date]
                      ) -> tuple[dict[str, list[float]], dict[tuple[int, int], list[float]]]:
    """Return (promotion intensity per engine key and horizon week, expected uplift share per key and week)."""
    intensity, uplift = {}, {}
    for item_id, site_id in keys:
        own = [p for p in promos if p.active and p.item_id == item_id and p.site_id in (None, site_id)]
        if not own:
            continue
        intensity[f"{item_id}:{site_id}"] = [promo_intensity(own, item_id, site_id, w) for w in weeks]
        shares = []
        for week in weeks:
            days = [week + timedelta(days=n) for n in range(7)]
            shares.append(sum(max((float(p.uplift) for p in own if p.starts_on <= d <= p.ends_on), default=0.0)
                              for d in days) / 7)
        uplift[(item_id, site_id)] = shares
    return intensity, uplift


Uplift = dict[tuple[int, int], list[float]]


@dataclass(frozen=True)
class DayInputs:
    """A day run's daily part: the day histories and the horizon days' promotions."""

    series: list[Series]
    layout: DayLayout
    intensity: dict[str, list[float]]
    uplift: Uplift
    prior_methods: dict[str, str]


@dataclass(frozen=True)
class ForecastInputs:
    """Everything the engine needs, read from the database; plain data, no session.

    A day run's weekly part (``series`` … ``uplift``) covers the weeks from the Monday of its
    first day to its last complete week; ``days`` holds the daily part.
    """

    series: list[Series]
    horizon: int
    method: str
    params: dict[str, Any]
    intensity: dict[str, list[float]]
    uplift: Uplift
    covariates: dict[str, dict[date, float]]
    #: Engine key → the method the previous run chose (the engine tries costly methods only there).
    prior_methods: dict[str, str] = field(default_factory=dict)
    days: DayInputs | None = None


def _active_promotions(session: Session, org_id: int) -> list[Promotion]:
    return list(session.scalars(select(Promotion).where(Promotion.org_id == org_id, Promotion.active.is_(True))))


def prior_methods(session: Session, org_id: int, *, days: bool = False) -> dict[str, str]:
    """Return each series' method in the newest completed run that has its lines (day lines if ``days``)."""
    runs = select(ForecastRun.id).where(ForecastRun.org_id == org_id, ForecastRun.status == RunStatus.COMPLETED)
    if days:
        runs = runs.where(ForecastRun.frequency == RunFrequency.DAY)
    run_id = session.scalar(runs.order_by(ForecastRun.id.desc()).limit(1))
    if run_id is None:
        return {}
    table = ForecastDayLine if days else ForecastLine
    rows = session.execute(select(table.item_id, table.site_id, table.method)
                           .where(table.run_id == run_id, table.org_id == org_id).distinct())
    return {f"{item_id}:{site_id}": method for item_id, site_id, method in rows}


def load_forecast_inputs(session: Session, org_id: int, *, first_week: date, horizon: int, method: str,
                         params: dict[str, Any], extra_promotions: Sequence[Any] = (),
                         keys: set[str] | None = None) -> ForecastInputs:
    """Read history, promotions and covariates (the read phase of a forecast; writes nothing).

    ``keys``: only these series (a day run's weekly part: the series it forecasts by day).
    """
    series, _weeks = demand_series(session, org_id, first_forecast_week=first_week,
                                   item_ids=params.get("item_ids"), site_ids=params.get("site_ids"))
    if keys is not None:
        series = [s for s in series if s.key in keys]
    if not series or horizon < 1:
        return ForecastInputs([], horizon, method, params, {}, {}, covariates(session, org_id))
    weeks = [first_week + timedelta(days=7 * n) for n in range(horizon)]
    promos = _active_promotions(session, org_id)
    intensity, uplift = future_promotions([*promos, *extra_promotions], [parse_key(s.key) for s in series], weeks)
    return ForecastInputs(series, horizon, method, params, intensity, uplift, covariates(session, org_id),
                          prior_methods(session, org_id))


def load_day_inputs(session: Session, org_id: int, *, first_day: date, horizon: int, method: str,
                    params: dict[str, Any]) -> ForecastInputs:
    """Read a day run's inputs: daily histories before ``first_day`` and the weekly ones before its week."""
    layout = day_layout(first_day, horizon)
    series, _days = daily_series(session, org_id, first_forecast_day=first_day, item_ids=params.get("item_ids"),
                                 site_ids=params.get("site_ids"))
    promos = _active_promotions(session, org_id)
    intensity: dict[str, list[float]] = {}
    uplift: Uplift = {}
    for s in series:
        item_id, site_id = parse_key(s.key)
        on, up = promo_days(promos, item_id, site_id, layout.days)
        if any(on):
            intensity[s.key], uplift[(item_id, site_id)] = on, up
    weekly = load_forecast_inputs(session, org_id, first_week=layout.week0, horizon=layout.weekly_horizon,
                                  method=method, params=params, keys={s.key for s in series})
    days = DayInputs(series, layout, intensity, uplift, prior_methods(session, org_id, days=True))
    return ForecastInputs(weekly.series, weekly.horizon, method, params, weekly.intensity, weekly.uplift,
                          weekly.covariates, weekly.prior_methods, days)


def compute_forecasts(inputs: ForecastInputs) -> list[Forecast]:
    """Call the engine (the compute phase: pure, no session, no lock); weekly forecasts."""
    if not inputs.series or inputs.horizon < 1:
        return []
    params = inputs.params
    return forecasting.forecast_series(
        inputs.series, inputs.horizon, freq="W", method=inputs.method,
        season_length=int(params.get("season_length", 52)), future_promo=inputs.intensity or None,
        covariates=inputs.covariates or None, use_holidays=bool(params.get("use_holidays", True)),
        backtest_folds=int(params.get("backtest_folds", 3)), prior_methods=inputs.prior_methods or None)


def compute_day_forecasts(inputs: ForecastInputs) -> list[Forecast]:
    """Call the engine for a day run's days (pure); its weeks come from :func:`compute_forecasts`."""
    days = inputs.days
    if days is None or not days.series:
        return []
    params = inputs.params
    return forecasting.forecast_series(
        days.series, len(days.layout.days), freq="D", method=inputs.method, season_length=None,
        future_promo=days.intensity or None, covariates=inputs.covariates or None,
        use_holidays=bool(params.get("use_holidays", True)), backtest_folds=int(params.get("backtest_folds", 3)),
        prior_methods=days.prior_methods or None)


def make_forecasts(session: Session, org_id: int, *, first_week: date, horizon: int, method: str,
                   params: dict[str, Any], extra_promotions: Sequence[Any] = ()
                   ) -> tuple[list[Series], list[Forecast], Uplift]:
    """Read history, promotions and covariates and call the engine; write nothing."""
    inputs = load_forecast_inputs(session, org_id, first_week=first_week, horizon=horizon, method=method,
                                  params=params, extra_promotions=extra_promotions)
    return inputs.series, compute_forecasts(inputs), inputs.uplift


CALENDAR_UNKNOWN = "HOLIDAY_CALENDAR_UNKNOWN"


BANDS = ("mean", "lo80", "hi80", "lo95", "hi95")


def raw_values(fc: Forecast, n: int, uplift: Sequence[float] | None) -> tuple[dict[str, float], list[str]]:
    """Return one horizon period's figures (unrounded), applying the planner's expected promotion
    uplift when the engine found no promotion effect to learn from."""
    # The engine warns per series when any week lacks the official holiday schedule; a line carries
    # the warning only if its own week does (the weeks past the last published year).
    warnings = [w for w in fc.warnings if w != CALENDAR_UNKNOWN]
    if (CALENDAR_UNKNOWN in fc.warnings and n < len(fc.weeks)
            and not week_features(week_start(fc.weeks[n])).calendar_known):
        warnings.append(CALENDAR_UNKNOWN)
    factor = 1.0
    share = uplift[n] if uplift else 0.0
    promo_effect = fc.explanation.promo_effect[n] if n < len(fc.explanation.promo_effect) else 0.0
    if share and not promo_effect:
        factor = 1 + share
        warnings.append("PROMO_UPLIFT_APPLIED")
    return {k: getattr(fc, k)[n] * factor for k in BANDS}, warnings


def line_values(fc: Forecast, n: int, uplift: Sequence[float] | None) -> tuple[dict[str, Decimal], list[str]]:
    """Return one horizon week's stored figures (see :func:`raw_values`)."""
    vals, warnings = raw_values(fc, n, uplift)
    return {k: qty(v) for k, v in vals.items()}, warnings


def covariates_at(fc: Forecast, n: int) -> dict[str, float]:
    """Return the value of each covariate the engine used for horizon period ``n``."""
    return {name: round(float(values[n]), 6) for name, values in fc.covariates_used.items()
            if n < len(values) and values[n] == values[n]}


def explanation_json(fc: Forecast, n: int, covariates_used: dict[str, float] | None = None) -> dict[str, Any]:
    """Return what a planner reads beside one period of a forecast.

    ``factors`` are [Chinese name, contribution per period] (the SHAP groups 节假日/天气/促销/趋势/季节
    for the global model); ``covariates`` the value of each covariate used for this period (the
    bias board compares it with what happened).
    """
    e = fc.explanation

    def at(values: Sequence[float]) -> float:
        return float(values[n]) if n < len(values) else 0.0

    return {"level": e.level, "trend": e.trend, "seasonality": at(e.seasonality),
            "holiday_effect": at(e.holiday_effect), "promo_effect": at(e.promo_effect),
            "factors": [[name, value] for name, value in e.factors],
            "short_history": e.short_history, "summary": e.summary,
            "method_label": forecasting.methods().get(fc.method, fc.method),
            "covariates": covariates_at(fc, n) if covariates_used is None else covariates_used}


def _finish_lines(session: Session, org_id: int, lines: list[ForecastLine]) -> None:
    """Apply the active overrides to freshly built lines (later overrides win)."""
    if not lines:
        return
    overrides = session.scalars(select(ForecastOverride).where(
        ForecastOverride.org_id == org_id, ForecastOverride.active.is_(True)).order_by(ForecastOverride.id))
    by_key: dict[tuple[int, int], list[ForecastLine]] = defaultdict(list)
    for line in lines:
        by_key[(line.item_id, line.site_id)].append(line)
    for ov in overrides:
        for line in by_key.get((ov.item_id, ov.site_id), []):
            if covers(ov, line.week):
                line.final, line.override_id = overridden(ov, line.mean), ov.id


def covers(ov: ForecastOverride, week: date) -> bool:
    """Tell whether an override applies to a week."""
    return ov.from_week <= week < ov.from_week + timedelta(days=7 * ov.weeks)


def overridden(ov: ForecastOverride, mean: Decimal) -> Decimal:
    """Return the planned value of a week under an override."""
    if ov.set_value is not None:
        return ov.set_value
    return qty(mean * (1 + (ov.scale or ZERO)))


#: The idempotency operation name of :func:`run_forecast` (its records predate the phase split).
FORECAST_OPERATION = "forecast.run"
_RESULT = TypeAdapter(RunResult)


def _read_session(session: Session) -> Session:
    """Return a session for the read phase that takes no write lock.

    When the caller has not begun a transaction on an engine-bound session (``uow.run``), reads go
    through a DEFERRED session of the same engine: on SQLite the caller's session would BEGIN
    IMMEDIATE and hold the database's write lock through the whole computation. Otherwise (a
    transaction already open, or a session bound to a connection) its own uncommitted rows must
    be seen, so the caller's session reads.
    """
    bind = session.get_bind()
    if session.in_transaction() or not isinstance(bind, Engine):
        return session
    return Session(read_only(bind), expire_on_commit=False)


def _replay(session: Session, actor: Actor, cmd: RunForecast, key: str, shared: bool) -> RunResult | None:
    """Return the first answer to ``key``, None when unused; a different request under it is a conflict."""
    record = find_record(session, actor, key, shared=shared)
    if record is None:
        return None
    if record.request_hash != request_hash(FORECAST_OPERATION, cmd) or record.result is None:
        raise IdempotencyConflict(key=key, operation=record.operation)
    return _RESULT.validate_python(record.result)


@dataclass(frozen=True)
class _ForecastPlan:
    method: str
    horizon: int
    params: dict[str, Any]
    first_week: date
    frequency: str = "week"
    #: A day run's first day (None for a week run).
    first_day: date | None = None


def _plan(session: Session, actor: Actor, cmd: RunForecast) -> _ForecastPlan:
    cfg = planning_settings(session, actor.org_id)
    frequency = _frequency(cmd.frequency if cmd.frequency is not None else cfg["frequency"])
    default, top, label = ((int(cfg["day_horizon"]), DAY_HORIZON_MAX, "预测天数") if frequency == "day"
                           else (int(cfg["horizon"]), 104, "预测周数"))
    horizon = cmd.horizon if cmd.horizon is not None else default
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= top:
        raise ValidationError(f"{label}须在 1 到 {top} 之间", field="horizon")
    method = _method(cmd.method or str(cfg["method"]))
    params = {k: cfg[k] for k in ("season_length", "use_holidays", "backtest_folds")} | dict(cmd.parameters)
    unknown = set(params) - {"season_length", "use_holidays", "backtest_folds", "item_ids", "site_ids"}
    if unknown:
        raise ValidationError(f"未知参数：{'、'.join(sorted(unknown))}", field="parameters")
    today = cmd.as_of or local_date_today()
    if frequency == "day":
        return _ForecastPlan(method, horizon, params, day_layout(today, horizon).first_week, frequency, today)
    return _ForecastPlan(method, horizon, params, week_start(today))


def run_forecast(session: Session, actor: Actor, cmd: RunForecast, *, idempotency_key: str | None = None,
                 shared_key: bool = False) -> RunResult:
    """Forecast every item × site with demand, store the run and its lines, emit "forecast.completed".

    Three phases, so no write lock is held while the engine works: read (settings, history,
    promotions, covariates) on a read-only session; compute (pure); write — one short transaction
    on ``session`` that stores the run as of the read time, applying the overrides active at write
    time. A replayed ``idempotency_key`` returns the first answer (checked before reading and
    again in the write transaction, where the key is claimed).
    """
    reader = _read_session(session)
    try:
        if idempotency_key and (first := _replay(reader, actor, cmd, idempotency_key, shared_key)) is not None:
            return first
        actor.require(Permission.PLAN)
        plan = _plan(reader, actor, cmd)
        if plan.first_day is not None:
            inputs = load_day_inputs(reader, actor.org_id, first_day=plan.first_day, horizon=plan.horizon,
                                     method=plan.method, params=plan.params)
        else:
            inputs = load_forecast_inputs(reader, actor.org_id, first_week=plan.first_week, horizon=plan.horizon,
                                          method=plan.method, params=plan.params)
    finally:
        if reader is not session:
            reader.close()  # ends the read transaction before the engine runs
    error = ""
    forecasts: list[Forecast] = []
    day_forecasts: list[Forecast] = []
    try:
        forecasts = compute_forecasts(inputs)
        day_forecasts = compute_day_forecasts(inputs)
    except (EngineUnavailable, ValidationError):
        raise
    except Exception as exc:  # the engine failed: keep the run, marked failed, for the planner to see
        error = f"{type(exc).__name__}: {exc}"[:512]
    # Write phase: the caller's session begins its (write) transaction only now.
    record: IdempotencyRecord | None = None
    if idempotency_key:
        if (first := _replay(session, actor, cmd, idempotency_key, shared_key)) is not None:
            return first  # a concurrent run with the same key finished first
        record = IdempotencyRecord(org_id=actor.org_id, member_id=key_scope(actor, shared=shared_key),
                                   key=idempotency_key, operation=FORECAST_OPERATION,
                                   request_hash=request_hash(FORECAST_OPERATION, cmd))
        session.add(record)
        session.flush()
    if inputs.days is not None:
        result = _store_day_forecast(session, actor, plan, inputs, inputs.days, forecasts, day_forecasts, error)
    else:
        result = _store_forecast(session, actor, plan, inputs, forecasts, error)
    if record is not None:
        record.result = _RESULT.dump_python(result, mode="json")
    return result


def _store_forecast(session: Session, actor: Actor, plan: _ForecastPlan, inputs: ForecastInputs,
                    forecasts: list[Forecast], error: str) -> RunResult:
    """Store a computed run and its lines (or the failed run) and emit its event."""
    method, horizon, first_week = plan.method, plan.horizon, plan.first_week
    run = _new_run(session, actor, plan)
    if error:
        return _failed(session, actor, plan, run, error)
    lines: list[ForecastLine] = []
    warning_counts: defaultdict[str, int] = defaultdict(int)
    for fc in forecasts:
        item_id, site_id = parse_key(fc.key)
        accuracy = {"methods": fc.accuracy, "chosen": fc.method, "baseline": fc.baseline}
        for code in fc.warnings:
            warning_counts[code] += 1
        for n, week in enumerate(fc.weeks[:horizon]):
            vals, warnings = line_values(fc, n, inputs.uplift.get((item_id, site_id)))
            lines.append(ForecastLine(org_id=actor.org_id, run_id=run.id, item_id=item_id, site_id=site_id,
                                      week=week, final=vals["mean"], method=fc.method, error_sd=qty(fc.error_sd),
                                      explanation=explanation_json(fc, n), accuracy=accuracy, warnings=warnings,
                                      **vals))
    _finish_lines(session, actor.org_id, lines)
    session.add_all(lines)
    run.status, run.series_count, run.finished_at = RunStatus.COMPLETED, len(inputs.series), utcnow()
    session.flush()
    emit(session, actor.org_id, "forecast.completed", {
        "run_id": run.id, "method": method, "horizon": horizon, "first_week": first_week.isoformat(),
        "series": len(inputs.series), "lines": len(lines), "warnings": dict(warning_counts)})
    return RunResult(run.id, run.status.value, method, horizon, first_week, len(inputs.series), len(lines),
                     dict(warning_counts))


def _new_run(session: Session, actor: Actor, plan: _ForecastPlan) -> ForecastRun:
    params = plan.params if plan.first_day is None else {**plan.params, "first_day": plan.first_day.isoformat()}
    run = ForecastRun(org_id=actor.org_id, status=RunStatus.RUNNING, horizon=plan.horizon, method=plan.method,
                      parameters=params, first_week=plan.first_week, frequency=RunFrequency(plan.frequency),
                      created_by=actor.member_id)
    session.add(run)
    session.flush()
    return run


def _failed(session: Session, actor: Actor, plan: _ForecastPlan, run: ForecastRun, error: str) -> RunResult:
    run.status, run.error, run.finished_at = RunStatus.FAILED, error, utcnow()
    session.flush()
    emit(session, actor.org_id, "forecast.failed", {"run_id": run.id, "error": run.error})
    return RunResult(run.id, run.status.value, plan.method, plan.horizon, plan.first_week, 0, 0, {}, run.error,
                     plan.frequency, plan.first_day)


def _columns(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    return {k: [r[k] for r in rows] for k in BANDS}


def _store_day_forecast(session: Session, actor: Actor, plan: _ForecastPlan, inputs: ForecastInputs,
                        day_inputs: DayInputs, weekly: list[Forecast], daily: list[Forecast], error: str
                        ) -> RunResult:
    """Store a day run: reconciled day lines, and weekly lines (each the sum of its days) for the complete weeks."""
    run = _new_run(session, actor, plan)
    if error:
        return _failed(session, actor, plan, run, error)
    layout = day_inputs.layout
    by_key = {fc.key: fc for fc in weekly}
    week_lines: list[ForecastLine] = []
    day_lines: list[ForecastDayLine] = []
    warning_counts: defaultdict[str, int] = defaultdict(int)
    for fc in daily:
        item_id, site_id = parse_key(fc.key)
        for code in fc.warnings:
            warning_counts[code] += 1
        day_raw = [raw_values(fc, n, day_inputs.uplift.get((item_id, site_id))) for n in range(len(layout.days))]
        fw = by_key.get(fc.key)
        week_raw = ([raw_values(fw, k, inputs.uplift.get((item_id, site_id))) for k in range(len(fw.weeks))]
                    if fw is not None and len(fw.weeks) >= layout.weekly_horizon else None)
        figures = reconcile_figures(layout, _columns([v for v, _ in day_raw]),
                                    _columns([v for v, _ in week_raw]) if week_raw is not None else None)
        for n, day in enumerate(layout.days):
            explanation = {**explanation_json(fc, n), "warnings": day_raw[n][1]}
            day_lines.append(ForecastDayLine(org_id=actor.org_id, run_id=run.id, item_id=item_id, site_id=site_id,
                                             day=day, final=figures.days[n]["mean"], method=fc.method,
                                             explanation=explanation, **figures.days[n]))
        if fw is None or week_raw is None:
            continue
        accuracy = {"methods": fw.accuracy, "chosen": fw.method, "baseline": fw.baseline,
                    "days": {"methods": fc.accuracy, "chosen": fc.method}}
        for k, monday in enumerate(layout.weeks):
            start, row = layout.day_index(monday), layout.week_index(monday)
            used = {name: round(sum(v[start:start + 7]) / 7, 6) for name, v in fc.covariates_used.items()
                    if len(v) >= start + 7}
            week_lines.append(ForecastLine(
                org_id=actor.org_id, run_id=run.id, item_id=item_id, site_id=site_id, week=monday,
                final=figures.weeks[k]["mean"], method=fw.method, error_sd=qty(fw.error_sd),
                explanation=explanation_json(fw, row, used or covariates_at(fw, row)), accuracy=accuracy,
                warnings=[*week_raw[row][1], "RECONCILED"], **figures.weeks[k]))
    _finish_lines(session, actor.org_id, week_lines)
    weeks = {(ln.item_id, ln.site_id, ln.week): ln for ln in week_lines}
    for dl in day_lines:
        wl = weeks.get((dl.item_id, dl.site_id, week_start(dl.day)))
        dl.final = day_final(dl.mean, wl.mean if wl else None, wl.final if wl else None)
    session.add_all(week_lines)
    session.add_all(day_lines)
    series = len(day_inputs.series)
    run.status, run.series_count, run.finished_at = RunStatus.COMPLETED, series, utcnow()
    session.flush()
    emit(session, actor.org_id, "forecast.completed", {
        "run_id": run.id, "method": plan.method, "horizon": plan.horizon, "first_week": plan.first_week.isoformat(),
        "series": series, "lines": len(week_lines), "warnings": dict(warning_counts), "frequency": "day",
        "first_day": layout.first_day.isoformat(), "day_lines": len(day_lines)})
    return RunResult(run.id, run.status.value, plan.method, plan.horizon, plan.first_week, series, len(week_lines),
                     dict(warning_counts), "", "day", layout.first_day, len(day_lines))


def rescale_day_lines(session: Session, run_id: int, item_id: int, site_id: int) -> None:
    """Set the day lines' planned figures of an item × site from their weeks (after an override changed them)."""
    weeks = {ln.week: ln for ln in session.scalars(select(ForecastLine).where(
        ForecastLine.run_id == run_id, ForecastLine.item_id == item_id, ForecastLine.site_id == site_id))}
    for dl in session.scalars(select(ForecastDayLine).where(
            ForecastDayLine.run_id == run_id, ForecastDayLine.item_id == item_id, ForecastDayLine.site_id == site_id)):
        wl = weeks.get(week_start(dl.day))
        dl.final = day_final(dl.mean, wl.mean if wl else None, wl.final if wl else None)


def latest_run(session: Session, org_id: int) -> ForecastRun | None:
    """Return the newest completed forecast run of an organisation."""
    return session.scalar(select(ForecastRun).where(ForecastRun.org_id == org_id,
                                                    ForecastRun.status == RunStatus.COMPLETED)
                          .order_by(ForecastRun.id.desc()).limit(1))


def run_summary(run: ForecastRun) -> dict[str, Any]:
    """Render a run for lists."""
    frequency = run.frequency.value if run.frequency else "week"
    return {"id": run.id, "status": run.status.value, "method": run.method, "horizon": run.horizon,
            "frequency": frequency, "frequency_label": FREQUENCIES[frequency],
            "first_day": (run.parameters or {}).get("first_day") if frequency == "day" else None,
            "first_week": run.first_week.isoformat(), "series": run.series_count, "parameters": run.parameters,
            "created_by": run.created_by, "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None, "error": run.error}



