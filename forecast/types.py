"""The forecast engine's inputs and outputs (the contract between forecast/ and models/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Series:
    """One item × site demand history, oldest period first (weeks, or days when freq="D")."""

    key: str  #: caller's id, e.g. "item_id:site_id"
    #: Monday (Asia/Shanghai business week) of the first value; with freq="D" the first day.
    start: date
    values: tuple[float, ...]  #: demand per period (shipments, returns and giveaways excluded)
    #: True where the period had stockouts: the value is a lower bound (censored), not demand.
    censored: tuple[bool, ...] = ()
    #: Promotion intensity per history period (0 none, 1 a full-period promotion; fractions allowed).
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
class BacktestWindows:
    """The rolling-origin windows every candidate method of one series was scored on.

    Window ``i`` forecasts ``horizon`` periods from ``origins[i]`` (its first forecast period)
    with the history before it; consecutive origins are ``step`` periods apart.
    """

    origins: tuple[date, ...]
    horizon: int
    step: int
    freq: str = "W"


@dataclass(frozen=True)
class Forecast:
    key: str
    #: chosen method, e.g. "auto_ets", "croston_sba", "seasonal_naive", "global", "ensemble"
    method: str
    #: Start of each horizon period: the Monday of each week, or each day when ``freq == "D"``.
    weeks: tuple[date, ...]
    mean: tuple[float, ...]
    lo80: tuple[float, ...]
    hi80: tuple[float, ...]
    lo95: tuple[float, ...]
    hi95: tuple[float, ...]
    #: Rolling-origin backtest per method tried: {"mase", "wape", "coverage80", "coverage95",
    #: "points"} — every method of a series on the same windows (``backtest_windows``).
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
    freq: str = "W"  #: "W" (weekly periods) or "D" (daily periods)
    #: The windows ``accuracy`` was measured on (None when the history was too short to backtest).
    backtest_windows: BacktestWindows | None = None
    #: Per covariate name, the value used for each horizon period (a week: mean of its days).
    covariates_used: dict[str, tuple[float, ...]] = field(default_factory=dict)


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
