"""The one door from models/ to the pure forecast engine (forecast/), resolved when first called.

Operations call :func:`forecast_series` and :func:`plan_replenishment` here rather than import
the engine directly, so the engine loads (statsforecast is heavy) only when a forecast is made,
and tests may replace it with a small stand-in.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from forecast.types import Forecast, Plan, Series

if TYPE_CHECKING:
    from forecast.replenish import Projection
from models.errors import DomainError

#: Used for labels when the engine cannot be imported.
FALLBACK_METHODS = {
    "auto": "自动选择", "seasonal_naive": "季节性朴素法", "auto_ets": "指数平滑（自动）",
    "auto_theta": "Theta（自动）", "auto_arima": "ARIMA（自动）", "croston_sba": "Croston-SBA（间歇需求）",
    "tsb": "TSB（间歇需求）", "adida": "ADIDA（间歇需求）", "global": "全局模型（LightGBM）",
    "ensemble": "组合预测（全局模型与统计方法平均）",
}


class EngineUnavailable(DomainError):
    code = "FORECAST_ENGINE_UNAVAILABLE"
    http_status = 503
    default_message = "预测引擎暂不可用"


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise EngineUnavailable(module=name, reason=str(exc)) from None


def methods() -> dict[str, str]:
    """Return the method names a run may force, with their Chinese labels."""
    try:
        labels = dict(importlib.import_module("forecast.engine").METHODS)
    except (ImportError, AttributeError):
        labels = {}
    return {"auto": FALLBACK_METHODS["auto"], **(labels or {k: v for k, v in FALLBACK_METHODS.items()})}


def forecast_series(series: Sequence[Series], horizon: int, *, freq: str = "W", method: str = "auto",
                    season_length: int | None = None, levels: tuple[int, ...] = (80, 95),
                    future_promo: Mapping[str, Sequence[float]] | None = None,
                    covariates: Mapping[str, Mapping[date, float]] | None = None, use_holidays: bool = True,
                    backtest_folds: int = 3, prior_methods: Mapping[str, str] | None = None) -> list[Forecast]:
    """Forecast each series ``horizon`` weeks (or days, freq="D") ahead (see forecast.engine.forecast_series).

    ``season_length`` None: 52 for weeks, 7 for days. ``prior_methods``: key → the method a
    previous run chose (lets "auto" try ARIMA where it has won before).
    """
    engine = _module("forecast.engine")
    return list(engine.forecast_series(series, horizon, freq=freq, method=method, season_length=season_length,
                                       levels=levels, future_promo=future_promo, covariates=covariates,
                                       use_holidays=use_holidays, backtest_folds=backtest_folds,
                                       prior_methods=prior_methods))


def plan_replenishment(forecast: Forecast, *, on_hand: float, on_order: float, lead_time_weeks: float,
                       service_level: float = 0.95, review_weeks: float = 1, pack_size: float = 1,
                       min_order: float = 0) -> Plan:
    """Return safety stock, reorder point and order quantity (see forecast.replenish.plan_replenishment)."""
    replenish = _module("forecast.replenish")
    return replenish.plan_replenishment(forecast, on_hand=on_hand, on_order=on_order,
                                        lead_time_weeks=lead_time_weeks, service_level=service_level,
                                        review_weeks=review_weeks, pack_size=pack_size, min_order=min_order)


def round_order(quantity: float, pack_size: float, min_order: float) -> float:
    """Raise an order to the minimum and round it up to whole packs (see forecast.replenish.round_order)."""
    return _module("forecast.replenish").round_order(quantity, pack_size, min_order)


def project_stock(mean: Sequence[float], *, on_hand: float, on_order: float, order_quantity: float,
                  lead_time_weeks: float) -> Projection:
    """Project end-of-week stock if the plan is followed (see forecast.replenish.project_stock)."""
    return _module("forecast.replenish").project_stock(mean, on_hand=on_hand, on_order=on_order,
                                                       order_quantity=order_quantity, lead_time_weeks=lead_time_weeks)
