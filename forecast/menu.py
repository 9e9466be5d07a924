"""The global model and the ensemble as candidates in the engine's backtest menu.

The engine (forecast/engine.py) scores every candidate of a series on the same rolling-origin
windows. For the global model (forecast/global_model.py) that means one LightGBM model trained
over all series of the call per backtest origin, each series cut at its own origin — never one
model per series. The ensemble is the mean of the global model and the series' best statistical
method on those windows.

Bands: the global model's own conformal bands need extra backtest windows (extra trainings);
instead the engine's windows are reused: signed errors divided by each series' MASE scale are
pooled across series per horizon block and their empirical quantiles (finite-sample corrected)
give the bands. On daily calls the global model's own conformal bands are used instead
(``DEFAULT_BAND_SOURCE``; bench/forecast_menu.py compares the two).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from forecast.explain import UNITS, rounded_explanation, summary_text
from forecast.features import HOLIDAY, PROMO, SEASON, WEATHER
from forecast.global_model import GlobalForecast, GlobalSeries, explanation_text, forecast_global
from forecast.types import Explanation

#: "auto" adds the global model and the ensemble to the menu of calls up to this many series:
#: each backtest origin costs one more model over all series (see bench/forecast_menu.py).
GLOBAL_MAX_SERIES = 2_000
#: Where the global model's bands come from, per frequency: "backtest" (the engine's shared windows,
#: no extra training) or "conformal" (forecast_global's own, scaled by each series' recent noise:
#: two more trainings, but on daily series the only one that stayed within 75–85 % in
#: bench/forecast_menu.py, where single series have too few shared-window errors to calibrate on).
DEFAULT_BAND_SOURCE = {"D": "conformal", "W": "backtest"}
#: Set to "backtest" or "conformal" to override DEFAULT_BAND_SOURCE (the benchmark compares them).
BAND_SOURCE: str | None = None
#: Backtest windows forecast_global uses for its own bands when the band source is "conformal".
CONFORMAL_WINDOWS = 2
#: Fewer pooled residuals than this in a horizon block: pool all horizon steps instead.
MIN_BLOCK_RESIDUALS = 30
#: Horizon steps pooled together for the band quantiles, per frequency.
BLOCK = {"W": 4, "D": 7}
#: How many factors an explanation lists.
TOP_FACTORS = 5


def band_source(freq: str) -> str:
    """"backtest" or "conformal": where a global-model series of this frequency takes its bands."""
    return BAND_SOURCE or DEFAULT_BAND_SOURCE.get(freq, "backtest")


@dataclass(frozen=True)
class MenuSeries:
    """One series as the global model sees it: clean history and promotions (history + horizon)."""

    key: str
    start: date
    values: np.ndarray  #: clean history (censored periods imputed)
    promo: np.ndarray  #: promotion intensity per period, history then horizon


def run_global(
    members: Sequence[MenuSeries],
    cuts: Sequence[int],
    horizon: int,
    *,
    freq: str,
    levels: tuple[int, int],
    covariates: Mapping[str, Mapping[date, float]] | None,
    use_holidays: bool,
    explain: Collection[str] = (),
    conformal: bool = False,
) -> list[GlobalForecast]:
    """Train one global model on every member cut at ``cuts[i]`` periods and forecast ``horizon``.

    Promotions after the cut are passed as known (they are planned ahead, as in the engine).
    """
    period = timedelta(days=1 if freq == "D" else 7)
    series, promo = [], {}
    for m, cut in zip(members, cuts, strict=True):
        series.append(GlobalSeries(m.key, m.start, tuple(float(v) for v in m.values[:cut])))
        p = m.promo[: cut + horizon]
        if np.any(p != 0):
            promo[m.key] = {m.start + i * period: float(v) for i, v in enumerate(p) if v != 0}
    return forecast_global(
        series, horizon, freq=freq, levels=levels, promo=promo or None, covariates=covariates or None,
        chinese_holidays=use_holidays, n_windows=CONFORMAL_WINDOWS if conformal else 0,
        explain=set(explain) if explain else False, n_jobs=1,
    )


def period_covariates(
    covariates: Mapping[str, Mapping[date, float]] | None, starts: Collection[date], rows: int, freq: str
) -> dict[str, dict[date, float]]:
    """Return each covariate per period start (a week: the mean of the values given for its days)."""
    if not covariates:
        return {}
    step = 1 if freq == "D" else 7
    firsts = sorted({s + timedelta(days=step * i) for s in starts for i in range(rows)})
    out: dict[str, dict[date, float]] = {}
    for name, values in covariates.items():
        col: dict[date, float] = {}
        for first in firsts:
            found = [values.get(first + timedelta(days=d)) for d in range(step)]
            finite = [float(v) for v in found if v is not None and math.isfinite(float(v))]
            if finite:
                col[first] = sum(finite) / len(finite)
        out[name] = col
    return out


def quantiles(resid: np.ndarray, levels: Sequence[int], block: int) -> dict[int, np.ndarray]:
    """Return per level a (2, horizon) array of signed lower/upper residual quantiles.

    ``resid`` has shape (rows, horizon), NaN where not scored. Steps are pooled in blocks of
    ``block``; a block with too few residuals uses all steps.
    """
    horizon = resid.shape[1]
    out: dict[int, np.ndarray] = {}
    finite_all = resid[np.isfinite(resid)]
    for level in levels:
        q = np.zeros((2, horizon))
        for b0 in range(0, horizon, block):
            r = resid[:, b0 : b0 + block].ravel()
            r = r[np.isfinite(r)]
            if r.size < MIN_BLOCK_RESIDUALS:
                r = finite_all
            if r.size == 0:
                continue
            alpha = (1 - level / 100) / 2
            r = np.sort(r)
            # finite-sample conformal correction: one pseudo-point more in each tail
            lo_rank = max(math.floor(alpha * (r.size + 1)) - 1, 0)
            hi_rank = min(math.ceil((1 - alpha) * (r.size + 1)) - 1, r.size - 1)
            q[0, b0 : b0 + block] = r[lo_rank]
            q[1, b0 : b0 + block] = r[hi_rank]
        out[level] = q
    return out


def explanation(
    gf: GlobalForecast,
    weight: float,
    method: str,
    mean: Sequence[float],
    accuracy: dict[str, dict[str, float]],
    short: bool,
    n: int,
    freq: str,
) -> Explanation:
    """Return the Explanation of a global or ensemble forecast from the model's SHAP factors.

    ``weight`` is the global model's share of the forecast (1 for global, ½ for the ensemble):
    its contributions are scaled by it, so they add up to that share of the forecast.
    """
    m = np.asarray(mean, dtype=float)
    horizon = len(m)
    contrib = {f: weight * np.asarray(v, dtype=float) for f, v in gf.contributions.items() if len(v) == horizon}
    zeros = np.zeros(horizon)
    holiday = contrib.get(HOLIDAY, zeros)
    promo = contrib.get(PROMO, zeros)
    seas = contrib.get(SEASON, zeros)
    # what the named factors do not explain: level and trend (for the ensemble, its statistical half too)
    rest = m - holiday - promo - seas - contrib.get(WEATHER, zeros)
    level = float(rest[0]) if horizon else 0.0
    trend = float((rest[-1] - rest[0]) / (horizon - 1)) if horizon > 1 else 0.0
    factors = sorted(
        ((f, round(float(v.mean()), 3)) for f, v in contrib.items() if abs(float(v.mean())) > 1e-6),
        key=lambda x: -abs(x[1]),
    )[:TOP_FACTORS]
    unit = UNITS.get(freq, "周")
    text = summary_text(method, horizon, m, accuracy, [], short, n, unit)
    if contrib:
        share = "（全局模型部分）" if weight < 1 else ""
        factors_text = explanation_text({f: tuple(v) for f, v in contrib.items()}, float(m.sum()))
        text += factors_text.rstrip("。") + share + "。"
    return rounded_explanation(level, trend, seas, holiday, promo, factors, short, text)
