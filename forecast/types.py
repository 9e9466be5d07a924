"""The forecast engine's inputs and outputs (the contract between forecast/ and models/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Series:
    """One item × site weekly demand history, oldest week first."""

    key: str  #: caller's id, e.g. "item_id:site_id"
    start: date  #: Monday (Asia/Shanghai business week) of the first value
    values: tuple[float, ...]  #: demand per week (shipments, returns and giveaways excluded)
    #: True where the week had stockout days: the value is a lower bound (censored), not demand.
    censored: tuple[bool, ...] = ()
    #: Promotion intensity per history week (0 none, 1 a full-week promotion; fractions allowed).
    promo: tuple[float, ...] = ()


@dataclass(frozen=True)
class Explanation:
    """What a planner reads beside a forecast."""

    level: float  #: current de-seasonalised weekly level
    trend: float  #: change in level per week
    seasonality: tuple[float, ...]  #: additive seasonal effect per horizon week
    holiday_effect: tuple[float, ...]  #: additive holiday effect per horizon week
    promo_effect: tuple[float, ...]  #: additive promotion effect per horizon week
    #: Top factors, largest absolute contribution first: (name, mean contribution per week).
    factors: tuple[tuple[str, float], ...]
    short_history: bool  #: too little history to trust the method or its accuracy
    summary: str  #: one or two Chinese sentences for the planner


@dataclass(frozen=True)
class Forecast:
    key: str
    method: str  #: chosen method, e.g. "auto_ets", "croston_sba", "seasonal_naive"
    weeks: tuple[date, ...]  #: Monday of each horizon week
    mean: tuple[float, ...]
    lo80: tuple[float, ...]
    hi80: tuple[float, ...]
    lo95: tuple[float, ...]
    hi95: tuple[float, ...]
    #: Rolling-origin backtest per method tried: {"mase", "wape", "coverage80", "coverage95"}.
    accuracy: dict[str, dict[str, float]]
    baseline: str  #: always "seasonal_naive"
    explanation: Explanation
    #: Stable codes: SHORT_HISTORY, ALL_ZERO, NEGATIVE_CLIPPED, CENSORED_WEEKS, GAPS_FILLED …
    warnings: tuple[str, ...] = field(default=())
    #: Standard deviation of one-week-ahead backtest errors (drives safety stock).
    error_sd: float = 0.0
    #: The seasonal-naive baseline's forecast per horizon week (same season positions as last
    #: year; naive-1 under one season), shown beside ``mean`` so a planner can compare.
    baseline_mean: tuple[float, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A replenishment decision for one item × site."""

    key: str
    safety_stock: float
    reorder_point: float
    order_quantity: float  #: 0 when no order is needed now
    expected_demand_lead_time: float
    service_level: float
    lead_time_weeks: float
    reason: str  #: Chinese, e.g. "在途+在库 40 低于再订货点 55"
