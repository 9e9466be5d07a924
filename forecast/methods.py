"""The forecasting methods the engine knows: names, Chinese labels, and statsforecast models.

Every model carries its method name as ``alias`` so the output columns of one batched
``StatsForecast`` call can be read back by name. Smooth methods (ETS, Theta, ARIMA) are fitted
to the de-seasonalised, factor-adjusted series (the engine adds the yearly profile and the
holiday/promotion effects back), so they run with ``season_length=1``: statsforecast's ETS
cannot model seasons longer than 24 anyway, and a 52-week seasonal ARIMA is far too slow for
thousands of series. Short seasons (monthly, quarterly) are left to the models themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import statsforecast
import statsforecast.models as _sf_models
import statsforecast.utils as _sf_utils
from scipy.special import ndtri
from statsforecast.models import (
    ADIDA,
    TSB,
    AutoARIMA,
    AutoETS,
    AutoTheta,
    CrostonSBA,
    HistoricAverage,
    Naive,
    SeasonalNaive,
)
from statsforecast.utils import ConformalIntervals

_scipy_quantiles = _sf_utils._quantiles


def _normal_quantiles(level: Any, distribution: str = "normal", dist_params: Any = None) -> Any:
    """Return normal interval quantiles without freezing a scipy distribution per call."""
    if distribution != "normal" or dist_params is not None:
        return _scipy_quantiles(level, distribution, dist_params)
    return ndtri(0.5 + np.asarray(level, dtype=float) / 200)  # same values as norm.ppf


# Why: statsforecast 2.1.1 builds a frozen scipy distribution for every interval it computes
# (~0.5 ms each, a third of a 10,000-series run). The replacement returns identical numbers
# (tests/forecast/test_methods.py); it is applied only to the version it was checked against.
if statsforecast.__version__ == "2.1.1":
    _sf_utils._quantiles = _normal_quantiles
    _sf_models._quantiles = _normal_quantiles

#: Method name → label a planner reads.
METHODS: dict[str, str] = {
    "seasonal_naive": "季节性朴素（去年同期）",
    "auto_ets": "指数平滑 ETS",
    "auto_theta": "Theta 法",
    "auto_arima": "ARIMA",
    "croston_sba": "Croston-SBA（间歇需求）",
    "tsb": "TSB（间歇需求）",
    "adida": "ADIDA（聚合间歇需求）",
    "historic_average": "历史平均",
    "global": "全局模型（LightGBM，跨品项学习节假日/促销/天气）",
    "ensemble": "组合预测（全局模型与最优统计方法平均）",
}

BASELINE = "seasonal_naive"
#: The global model over all series of a call, and the mean of it and a series' best statistical
#: method (forecast/menu.py); tried last, so a tie goes to the simpler statistical method.
GLOBAL = "global"
ENSEMBLE = "ensemble"
MENU_METHODS: tuple[str, ...] = (GLOBAL, ENSEMBLE)
SMOOTH_METHODS: tuple[str, ...] = ("auto_ets", "auto_theta", "auto_arima")
INTERMITTENT_METHODS: tuple[str, ...] = ("croston_sba", "tsb", "adida")
#: What "auto" tries on a smooth series. ARIMA is ~30× slower than ETS, so "auto" only adds it
#: for small batches (see AUTO_ARIMA_MAX_SERIES); it can always be forced by name.
AUTO_SMOOTH: tuple[str, ...] = ("auto_ets", "auto_theta")
AUTO_ARIMA_MAX_SERIES = 200
#: Average inter-demand interval above which a series counts as intermittent (Syntetos-Boylan).
ADI_CUTOFF = 1.32


#: Seasons up to this long are modelled natively by ETS/Theta/ARIMA (monthly, quarterly data);
#: longer ones (52 weeks) are removed by the engine's yearly profile first.
NATIVE_SEASON_MAX = 24


def native_season(season_length: int) -> bool:
    """Return True when smooth models handle the season themselves."""
    return 1 < season_length <= NATIVE_SEASON_MAX


def smooth_model(name: str, season_length: int = 1) -> Any:
    """Return the statsforecast model for a smooth method (season 1: data already de-seasonalised)."""
    m = season_length if native_season(season_length) else 1
    if name == "auto_ets":
        # additive error for de-seasonalised input: it can be near zero or negative
        return AutoETS(season_length=m, model="ZZZ" if m > 1 else "AZN", alias=name)
    if name == "auto_theta":
        # standard theta (SES with drift) on de-seasonalised data: the optimised variants cost 3× more
        return AutoTheta(season_length=m, model=None if m > 1 else "STM", alias=name)
    if name == "auto_arima":
        return AutoARIMA(season_length=m, max_p=3, max_q=3, alias=name)
    raise ValueError(f"not a smooth method: {name}")


def intermittent_model(name: str, horizon: int, windows: int) -> Any:
    """Return the statsforecast model for an intermittent method, with conformal intervals."""
    # these models have no native intervals: statsforecast calibrates them on rolling windows
    intervals = ConformalIntervals(h=horizon, n_windows=max(2, windows))
    if name == "croston_sba":
        return CrostonSBA(alias=name, prediction_intervals=intervals)
    if name == "tsb":
        return TSB(alpha_d=0.2, alpha_p=0.2, alias=name, prediction_intervals=intervals)
    if name == "adida":
        return ADIDA(alias=name, prediction_intervals=intervals)
    raise ValueError(f"not an intermittent method: {name}")


def baseline_model(season_length: int, length: int) -> Any:
    """Return seasonal naive, or naive-1 when the history is shorter than one season."""
    if length > season_length:
        return SeasonalNaive(season_length=season_length, alias=BASELINE)
    return Naive(alias=BASELINE)


def average_model() -> Any:
    """Return the historic-average fallback for very short histories."""
    return HistoricAverage(alias="historic_average")


def is_intermittent(values: np.ndarray) -> bool:
    """Return True when the average interval between non-zero weeks exceeds ADI_CUTOFF."""
    nonzero = int(np.count_nonzero(values > 0))
    if nonzero == 0:
        return False
    return len(values) / nonzero > ADI_CUTOFF
