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
from models.demand import demand_series, local_date_today, parse_key, promo_intensity
from models.errors import IdempotencyConflict, InvalidState, ValidationError
from models.forecasting import EngineUnavailable
from models.idempotency import find_record, idempotent, key_scope, request_hash
from models.infra import IdempotencyRecord
from models.lookup import get_owned
from models.operations.common import active_item, stock_site
from models.org import Org, Party
from models.outbox import emit
from models.planning import (
    CovariateValue,
    ForecastLine,
    ForecastOverride,
    ForecastRun,
    Promotion,
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
}
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
    #: Forecast from the week holding this day (default today); history is the weeks before it.
    as_of: date | None = None


@dataclass(frozen=True)
class RunResult:
    run_id: int
    status: str
    method: str
    horizon: int
    first_week: date
    series: int
    lines: int
    warnings: dict[str, int]
    error: str = ""


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
class ForecastInputs:
    """Everything the engine needs, read from the database; plain data, no session."""

    series: list[Series]
    horizon: int
    method: str
    params: dict[str, Any]
    intensity: dict[str, list[float]]
    uplift: Uplift
    covariates: dict[str, dict[date, float]]


def load_forecast_inputs(session: Session, org_id: int, *, first_week: date, horizon: int, method: str,
                         params: dict[str, Any], extra_promotions: Sequence[Any] = ()) -> ForecastInputs:
    """Read history, promotions and covariates (the read phase of a forecast; writes nothing)."""
    series, _weeks = demand_series(session, org_id, first_forecast_week=first_week,
                                   item_ids=params.get("item_ids"), site_ids=params.get("site_ids"))
    if not series:
        return ForecastInputs([], horizon, method, params, {}, {}, {})
    weeks = [first_week + timedelta(days=7 * n) for n in range(horizon)]
    promos = list(session.scalars(select(Promotion).where(Promotion.org_id == org_id, Promotion.active.is_(True))))
    intensity, uplift = future_promotions([*promos, *extra_promotions], [parse_key(s.key) for s in series], weeks)
    return ForecastInputs(series, horizon, method, params, intensity, uplift, covariates(session, org_id))


def compute_forecasts(inputs: ForecastInputs) -> list[Forecast]:
    """Call the engine (the compute phase: pure, no session, no lock)."""
    if not inputs.series:
        return []
    params = inputs.params
    return forecasting.forecast_series(
        inputs.series, inputs.horizon, method=inputs.method, season_length=int(params.get("season_length", 52)),
        future_promo=inputs.intensity or None, covariates=inputs.covariates or None,
        use_holidays=bool(params.get("use_holidays", True)), backtest_folds=int(params.get("backtest_folds", 3)))


def make_forecasts(session: Session, org_id: int, *, first_week: date, horizon: int, method: str,
                   params: dict[str, Any], extra_promotions: Sequence[Any] = ()
                   ) -> tuple[list[Series], list[Forecast], Uplift]:
    """Read history, promotions and covariates and call the engine; write nothing."""
    inputs = load_forecast_inputs(session, org_id, first_week=first_week, horizon=horizon, method=method,
                                  params=params, extra_promotions=extra_promotions)
    return inputs.series, compute_forecasts(inputs), inputs.uplift


CALENDAR_UNKNOWN = "HOLIDAY_CALENDAR_UNKNOWN"


def line_values(fc: Forecast, n: int, uplift: Sequence[float] | None) -> tuple[dict[str, Decimal], list[str]]:
    """Return one horizon week's stored figures, applying the planner's expected promotion uplift
    when the engine found no promotion effect to learn from."""
    # The engine warns per series when any week lacks the official holiday schedule; a line carries
    # the warning only if its own week does (the weeks past the last published year).
    warnings = [w for w in fc.warnings if w != CALENDAR_UNKNOWN]
    if CALENDAR_UNKNOWN in fc.warnings and n < len(fc.weeks) and not week_features(fc.weeks[n]).calendar_known:
        warnings.append(CALENDAR_UNKNOWN)
    factor = 1.0
    share = uplift[n] if uplift else 0.0
    promo_effect = fc.explanation.promo_effect[n] if n < len(fc.explanation.promo_effect) else 0.0
    if share and not promo_effect:
        factor = 1 + share
        warnings.append("PROMO_UPLIFT_APPLIED")
    vals = {k: qty(getattr(fc, k)[n] * factor) for k in ("mean", "lo80", "hi80", "lo95", "hi95")}
    return vals, warnings


def explanation_json(fc: Forecast, n: int) -> dict[str, Any]:
    """Return what a planner reads beside one week of a forecast."""
    e = fc.explanation

    def at(values: Sequence[float]) -> float:
        return float(values[n]) if n < len(values) else 0.0

    return {"level": e.level, "trend": e.trend, "seasonality": at(e.seasonality),
            "holiday_effect": at(e.holiday_effect), "promo_effect": at(e.promo_effect),
            "factors": [[name, value] for name, value in e.factors], "short_history": e.short_history,
            "summary": e.summary, "method_label": forecasting.methods().get(fc.method, fc.method)}


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


def _plan(session: Session, actor: Actor, cmd: RunForecast) -> _ForecastPlan:
    cfg = planning_settings(session, actor.org_id)
    horizon = cmd.horizon or int(cfg["horizon"])
    if not 1 <= horizon <= 104:
        raise ValidationError("预测周数须在 1 到 104 之间", field="horizon")
    method = _method(cmd.method or str(cfg["method"]))
    params = {k: cfg[k] for k in ("season_length", "use_holidays", "backtest_folds")} | dict(cmd.parameters)
    unknown = set(params) - {"season_length", "use_holidays", "backtest_folds", "item_ids", "site_ids"}
    if unknown:
        raise ValidationError(f"未知参数：{'、'.join(sorted(unknown))}", field="parameters")
    return _ForecastPlan(method, horizon, params, week_start(cmd.as_of or local_date_today()))


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
        inputs = load_forecast_inputs(reader, actor.org_id, first_week=plan.first_week, horizon=plan.horizon,
                                      method=plan.method, params=plan.params)
    finally:
        if reader is not session:
            reader.close()  # ends the read transaction before the engine runs
    error = ""
    forecasts: list[Forecast] = []
    try:
        forecasts = compute_forecasts(inputs)
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
    result = _store_forecast(session, actor, plan, inputs, forecasts, error)
    if record is not None:
        record.result = _RESULT.dump_python(result, mode="json")
    return result


def _store_forecast(session: Session, actor: Actor, plan: _ForecastPlan, inputs: ForecastInputs,
                    forecasts: list[Forecast], error: str) -> RunResult:
    """Store a computed run and its lines (or the failed run) and emit its event."""
    method, horizon, first_week = plan.method, plan.horizon, plan.first_week
    run = ForecastRun(org_id=actor.org_id, status=RunStatus.RUNNING, horizon=horizon, method=method,
                      parameters=plan.params, first_week=first_week, created_by=actor.member_id)
    session.add(run)
    if error:
        run.status, run.error, run.finished_at = RunStatus.FAILED, error, utcnow()
        session.flush()
        emit(session, actor.org_id, "forecast.failed", {"run_id": run.id, "error": run.error})
        return RunResult(run.id, run.status.value, method, horizon, first_week, 0, 0, {}, run.error)
    session.flush()
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


def latest_run(session: Session, org_id: int) -> ForecastRun | None:
    """Return the newest completed forecast run of an organisation."""
    return session.scalar(select(ForecastRun).where(ForecastRun.org_id == org_id,
                                                    ForecastRun.status == RunStatus.COMPLETED)
                          .order_by(ForecastRun.id.desc()).limit(1))


def run_summary(run: ForecastRun) -> dict[str, Any]:
    """Render a run for lists."""
    return {"id": run.id, "status": run.status.value, "method": run.method, "horizon": run.horizon,
            "first_week": run.first_week.isoformat(), "series": run.series_count, "parameters": run.parameters,
            "created_by": run.created_by, "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None, "error": run.error}



