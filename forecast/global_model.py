"""One gradient-boosted model over all series of a call, daily ("D") or weekly ("W").

Why global: per-series ETS/Theta/ARIMA cannot learn that a holiday, a promotion or a hot day
moves demand unless each series has seen many of them; a LightGBM model trained across all
series of an organisation at once (the M5 winners' approach) pools that evidence.

Pipeline (``forecast_global``):

1. Each series is divided by its scale (mean of its last year) so series of different sizes
   share one model; forecasts are multiplied back, and SHAP values with them (linear). The loss
   is Huber with its knee at 15 % of that scale: noisy counts with a few far-off days (a
   holiday, a stock-out, a data error) pull a squared-error fit, and pure L1 (the median) lost
   accuracy on smooth series.
2. Features: lags and rolling means of the target (mlforecast), calendar and Chinese holiday
   features (forecast/features.py; the yearly ones only where some series has two years, since
   one year shows each day of the year once and trees would memorise it), promotion intensity
   and relative price per period, and any covariates ``{name: {date: value}}`` (org-wide) or
   ``{name: {key: {date: value}}}`` (per series). Future values of promotions, prices and
   covariates must cover the horizon; missing values are NaN, which LightGBM routes as missing.
3. Bands: conformal intervals from a rolling-origin backtest (``n_windows`` origins ``h`` apart,
   one model trained before the first origin). The score is the absolute error divided by the
   series' *local* noise scale (mean absolute seasonal difference over the periods just before
   that origin), so it is scale-free and follows a series whose noise grows or shrinks; scores
   are pooled across series per horizon week and the ⌈(n+1)·level⌉-th smallest (finite-sample
   conformal rank) times the local scale at the end of history gives each band's half-width —
   calibrated on held-out errors, not ±2σ. Absolute rather than signed scores: each signed tail
   of a 95 % band sees 2.5 % of a few dozen residuals, which under-covered (bench/README.md).
   A series' own backtest quantile, shrunk towards the pooled one (``OWN_PRIOR``), widens or
   narrows its band where the model errs more or less than its noise suggests.
   The same backtest gives each series' MASE, for selection against other methods.
4. Explanations: LightGBM's ``pred_contrib=True`` (TreeSHAP) on the exact feature rows of each
   recursive step, grouped into 节假日, 天气, 促销, 趋势, 季节, in demand units per step, plus a
   short Chinese sentence ("主要因素：节假日 +12%，促销 +8%") with percentages of the forecast.

Deterministic: LightGBM runs with a fixed seed and ``deterministic=True``; row subsampling for
large calls uses a seeded generator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean

from forecast.features import HOLIDAY, PROMO, SEASON, TREND, WEATHER, daily_calendar, factor_of, weekly_calendar

FACTORS = (HOLIDAY, WEATHER, PROMO, TREND, SEASON)
#: Training rows above this are subsampled (seeded): keeps 10,000 two-year daily series near a minute.
MAX_TRAIN_ROWS = 1_000_000
#: Fewer pooled residuals than this in a horizon block: pool all horizon steps instead.
MIN_BLOCK_RESIDUALS = 30
#: Pseudo-points of the pooled quantile when blending in a series' own backtest quantile.
OWN_PRIOR = 28
#: Huber loss knee, in units of each series' scale (its mean): see _params.
HUBER_KNEE = 0.15
#: Calendar columns with a yearly period: kept only when some series covers two years.
YEARLY_COLUMNS = ("doy", "solar_term", "month", "week")

DateValues = Mapping[date, float]
Covariates = Mapping[str, Mapping[Any, Any]]


@dataclass(frozen=True)
class GlobalSeries:
    """One history: ``values[i]`` is demand on ``start + i`` days (D) or weeks (W, start a Monday)."""

    key: str
    start: date
    values: tuple[float, ...]


@dataclass(frozen=True)
class GlobalForecast:
    key: str
    freq: str  #: "D" or "W"
    dates: tuple[date, ...]  #: each horizon day, or the Monday of each horizon week
    mean: tuple[float, ...]
    #: level (80, 95) → (lower, upper) per step, from conformal backtest residuals
    bands: dict[int, tuple[tuple[float, ...], tuple[float, ...]]]
    #: factor (节假日, 天气, 促销, 趋势, 季节) → contribution per step in demand units (SHAP, grouped)
    contributions: dict[str, tuple[float, ...]]
    base: tuple[float, ...]  #: the model's average output per step; base + contributions = raw mean
    explanation: str  #: e.g. "主要因素：节假日 +12%，促销 +8%"
    backtest_mase: float | None = None  #: rolling-origin MASE of this series (None if no backtest)
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Spec:
    freq: str
    pd_freq: str
    lags: tuple[int, ...]
    rolling: dict[int, tuple[int, ...]]
    season: int  #: MASE season
    block: int  #: horizon steps pooled together for conformal quantiles
    year: int  #: periods per year (scale window)
    local: int  #: periods before an origin whose noise scales the conformal score


def _spec(freq: str, min_len: int) -> _Spec:
    if freq == "D":
        return _Spec("D", "D", (1, 7, 14, 28), {7: (7, 28)}, season=7, block=7, year=365, local=56)
    if freq == "W":
        lags = (1, 2, 4) + ((52,) if min_len >= 52 + 26 else ())  # lag 52 only where a year is left to learn from
        return _Spec("W", "W-MON", lags, {1: (4, 13)}, season=52 if min_len >= 104 else 1, block=4, year=52, local=26)
    raise ValueError(f"freq must be 'D' or 'W', not {freq!r}")


def _params(seed: int, n_rows: int, n_jobs: int) -> dict[str, Any]:
    return {
        # shallow trees: TreeSHAP time grows with leaves × depth², and explanations run on every row
        "n_estimators": 200,
        "learning_rate": 0.08 if n_rows > 20_000 else 0.05,
        "num_leaves": 31 if n_rows > 20_000 else 15,
        "min_child_samples": 20,
        # y is in units of the series' scale: squared error within ±15 % of it, absolute beyond
        "objective": "huber",
        "alpha": HUBER_KNEE,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.9,
        "max_bin": 127,
        "random_state": seed,
        "deterministic": True,
        "force_row_wise": True,
        "n_jobs": n_jobs,
        "verbose": -1,
    }


def _noise_scale(y: np.ndarray, season: int) -> float:
    """Mean absolute seasonal difference (the MASE scale), falling back to lag-1, then 1."""
    for m in (season, 1):
        if len(y) > m:
            d = np.abs(y[m:] - y[:-m])
            d = d[~np.isnan(d)]
            if d.size and d.mean() > 0:
                return float(d.mean())
    return 1.0


def _per_series(values: Covariates | None, key: str) -> Mapping[Any, Any] | None:
    if values is None:
        return None
    return values.get(key)


@lru_cache(maxsize=256)
def _periods(start: date, n: int, pd_freq: str) -> tuple[pd.DatetimeIndex, tuple[date, ...]]:
    """The n period starts from ``start``, as pandas stamps and as dates (shared by equal series)."""
    days = pd.date_range(pd.Timestamp(start), periods=n, freq=pd_freq)
    return days, tuple(d.date() for d in days)


def _lookup(mapping: Mapping[Any, Any] | None, days: tuple[date, ...], default: float) -> np.ndarray:
    if not mapping:
        return np.full(len(days), default, dtype="float32")
    return np.fromiter((mapping.get(d, default) for d in days), dtype="float32", count=len(days))


def _covariate_values(spec: Mapping[Any, Any], key: str, days: tuple[date, ...]) -> np.ndarray:
    first = next(iter(spec), None)
    per_series = isinstance(first, str)  # {key: {date: v}} rather than {date: v}
    mapping = spec.get(key) if per_series else spec
    return _lookup(mapping, days, float("nan"))


def _frame(
    series: Sequence[GlobalSeries],
    spec: _Spec,
    horizon: int,
    scales: np.ndarray,
    promo: Mapping[str, DateValues] | None,
    price: Mapping[str, DateValues] | None,
    covariates: Covariates | None,
    chinese_holidays: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (history frame, future exogenous frame) in long format, y already scaled."""
    hist_parts, fut_parts = [], []
    all_days: list[pd.DatetimeIndex] = []
    for s, scale in zip(series, scales, strict=True):
        stamps, days = _periods(s.start, len(s.values) + horizon, spec.pd_freq)
        all_days.append(stamps)
        part = pd.DataFrame({"unique_id": s.key, "ds": stamps})
        part["y"] = np.concatenate([np.asarray(s.values, dtype="float64") / scale, np.full(horizon, np.nan)])
        part["promo"] = _lookup(_per_series(promo, s.key), days, 0.0)
        if price is not None:
            p = _lookup(_per_series(price, s.key), days, float("nan"))
            ref = np.nanmean(p[: len(s.values)]) if np.isfinite(p[: len(s.values)]).any() else np.nan
            part["price"] = p / ref if ref and np.isfinite(ref) else np.nan  # relative price: shared across items
        for name, cov in (covariates or {}).items():
            part[f"cov_{name}"] = _covariate_values(cov, s.key, days)
        hist_parts.append(part.iloc[: len(s.values)])
        fut_parts.append(part.iloc[len(s.values) :].drop(columns="y"))
    union = pd.DatetimeIndex(np.unique(np.concatenate([d.values for d in {id(d): d for d in all_days}.values()])))
    cal = (daily_calendar if spec.freq == "D" else weekly_calendar)(union, chinese_holidays=chinese_holidays)
    if max(len(s.values) for s in series) < 2 * spec.year:
        # one year shows each day (week, month) of the year once: a tree splitting on it memorises noise
        cal = cal.drop(columns=[c for c in YEARLY_COLUMNS if c in cal.columns])
    cal.index.name = "ds"
    cal = cal.reset_index()
    hist = pd.concat(hist_parts, ignore_index=True).merge(cal, on="ds", how="left")
    fut = pd.concat(fut_parts, ignore_index=True).merge(cal, on="ds", how="left")
    return hist, fut


class _Capture:
    """before_predict_callback that keeps each recursive step's feature rows (for SHAP)."""

    def __init__(self) -> None:
        self.steps: list[pd.DataFrame] = []

    def __call__(self, features: pd.DataFrame) -> pd.DataFrame:
        self.steps.append(features.copy())
        return features


def _train(hist: pd.DataFrame, spec: _Spec, seed: int, n_jobs: int) -> MLForecast:
    mlf = MLForecast(
        models={"lgb": lgb.LGBMRegressor()},
        freq=spec.pd_freq,
        lags=list(spec.lags),
        lag_transforms={lag: [RollingMean(window_size=w) for w in ws] for lag, ws in spec.rolling.items()},
        num_threads=1,
    )
    # rows whose lags reach before the history stay in (NaN features): short series still train
    feats = cast(pd.DataFrame, mlf.preprocess(hist, static_features=[], dropna=False))
    target_ok = feats["y"].notna().to_numpy()
    feats = feats[target_ok]
    if len(feats) > MAX_TRAIN_ROWS:
        rng = np.random.default_rng(seed)
        feats = feats.iloc[np.sort(rng.choice(len(feats), MAX_TRAIN_ROWS, replace=False))]
    X = feats.drop(columns=["unique_id", "ds", "y"])
    model = lgb.LGBMRegressor(**_params(seed, len(X), n_jobs))
    model.fit(X, feats["y"].to_numpy())
    mlf.models_ = {"lgb": model}
    return mlf


def _quantiles(
    score: np.ndarray, step: np.ndarray, levels: Sequence[int], block: int, horizon: int
) -> dict[int, np.ndarray]:
    """Per-step band half-widths (in local-scale units) from scale-free absolute scores.

    ``score[i]`` is |error| / local scale of one backtest point at horizon step ``step[i]``;
    steps are pooled per ``block``, or all together where a block has too few points.
    """
    finite = np.isfinite(score)
    out: dict[int, np.ndarray] = {}
    for level in levels:
        q = np.zeros(horizon)
        for b0 in range(0, horizon, block):
            in_block = finite & (step >= b0) & (step < b0 + block)
            r = np.sort(score[in_block if in_block.sum() >= MIN_BLOCK_RESIDUALS else finite])
            if r.size == 0:
                continue
            # split-conformal rank ⌈(n+1)·level⌉: covers ≥ level for exchangeable errors
            rank = min(math.ceil(level / 100 * (r.size + 1)), r.size) - 1
            q[b0 : b0 + block] = r[rank]
        out[level] = q
    return out


def _own_factor(score: np.ndarray, codes: np.ndarray, n_series: int, levels: Sequence[int]) -> dict[int, np.ndarray]:
    """Per series: how much wider its own conformal quantile is than the pooled one, shrunk to 1.

    Scaling by noise leaves series whose model error is larger relative to their noise (smooth
    series, where the model's level error dominates) under-covered; their own backtest scores say so,
    but a few dozen of them give a noisy quantile, hence the shrinkage by ``OWN_PRIOR`` pseudo-points.
    ``codes[i]`` is the series index (0..n_series-1) of ``score[i]``; returns level → factor per series.
    """
    ok = np.isfinite(score)
    score, codes = score[ok], codes[ok]
    order = np.lexsort((score, codes))
    score, codes = score[order], codes[order]
    n = np.bincount(codes, minlength=n_series)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    out: dict[int, np.ndarray] = {}
    for level in levels:
        if score.size == 0:
            out[level] = np.ones(n_series)
            continue
        pooled = np.sort(score)[min(math.ceil(level / 100 * (score.size + 1)), score.size) - 1]
        rank = np.minimum(np.ceil(level / 100 * (n + 1)), n).astype(int) - 1  # same conformal rank, per series
        own = score[np.clip(start + rank, 0, score.size - 1)]
        ratio = np.where((n > 0) & (pooled > 0), own / max(pooled, 1e-12), 1.0)
        out[level] = (n * ratio + OWN_PRIOR) / (n + OWN_PRIOR)
    return out


def _local_scale(y: np.ndarray, end: int, spec: _Spec, season: int) -> float:
    """Noise scale of the ``spec.local`` periods before index ``end`` (whole history if too short)."""
    recent = y[max(0, end - spec.local) : end]
    return _noise_scale(recent if recent.size > 2 * season else y[:end], season)


def _backtest(
    hist: pd.DataFrame, fut_cols: list[str], spec: _Spec, horizon: int, n_windows: int, seed: int, n_jobs: int
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Rolling-origin residuals: one model before the first origin, forecasts from each origin."""
    last = hist.groupby("unique_id", sort=False)["ds"].transform("max")
    step = pd.tseries.frequencies.to_offset(spec.pd_freq)
    cut0 = last - step * (horizon * n_windows)
    train = hist[hist["ds"] <= cut0]
    if train.groupby("unique_id").size().min() < max(spec.lags) + horizon:
        return None
    mlf = _train(train, spec, seed, n_jobs)
    preds = []
    for w in range(n_windows):
        cut = last - step * (horizon * (n_windows - w))
        known = hist[hist["ds"] <= cut]
        window = hist[(hist["ds"] > cut) & (hist["ds"] <= cut + step * horizon)]
        out = mlf.predict(horizon, new_df=known, X_df=window[["unique_id", "ds", *fut_cols]])
        out = out.merge(window[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="left")
        out["step"] = out.groupby("unique_id").cumcount()
        out["window"] = w
        preds.append(out)
    return pd.concat(preds, ignore_index=True), train


def forecast_global(
    series: Sequence[GlobalSeries],
    horizon: int,
    *,
    freq: str = "D",
    levels: Sequence[int] = (80, 95),
    promo: Mapping[str, DateValues] | None = None,
    price: Mapping[str, DateValues] | None = None,
    covariates: Covariates | None = None,
    covariate_factor: Mapping[str, str] | None = None,
    chinese_holidays: bool = True,
    n_windows: int = 2,
    explain: bool | Collection[str] = True,
    seed: int = 0,
    n_jobs: int = 1,
    timings: dict[str, float] | None = None,
) -> list[GlobalForecast]:
    """Forecast every series ``horizon`` periods ahead with one LightGBM model over all of them.

    ``promo``/``price``: {key: {date: value}} for history and horizon (promo missing → 0, price → NaN).
    ``covariates``: {name: {date: value}} (org-wide) or {name: {key: {date: value}}} (per series),
    future values included; their contributions go to 天气 unless ``covariate_factor`` names another
    factor per covariate (e.g. {"footfall": "促销"}). ``chinese_holidays=False`` drops the Chinese
    holiday columns (for data from elsewhere). ``explain``: True for SHAP factors on every series,
    or the keys to explain (TreeSHAP costs more than the forecast on big calls). ``timings``, if
    given, receives backtest_s, fit_predict_s and explain_s. ``n_jobs``: LightGBM threads; 1 by
    default because OpenMP threads on a shared, busy 2-core host ran ten times slower than one.
    Returns one :class:`GlobalForecast` per series, in order.
    """
    if not series:
        return []
    if horizon < 1:
        raise ValueError("horizon must be ≥ 1")
    if len({s.key for s in series}) != len(series):
        raise ValueError("series keys must be unique")
    spec = _spec(freq, min(len(s.values) for s in series))
    scales = np.array(
        [
            (lambda v: v.mean() if v.size and v.mean() > 0 else 1.0)(
                np.nan_to_num(np.asarray(s.values[-spec.year :], dtype="float64"))
            )
            for s in series
        ]
    )
    hist, fut = _frame(series, spec, horizon, scales, promo, price, covariates, chinese_holidays)
    fut_cols = [c for c in fut.columns if c not in ("unique_id", "ds")]
    noise_season = 7 if freq == "D" else 1
    scaled = {s.key: np.asarray(s.values, dtype="float64") / sc for s, sc in zip(series, scales, strict=True)}
    noise = {k: _local_scale(y, len(y), spec, noise_season) for k, y in scaled.items()}
    mase_scale = {
        s.key: _noise_scale(np.asarray(s.values, dtype="float64") / sc, spec.season)
        for s, sc in zip(series, scales, strict=True)
    }

    warnings: list[str] = []
    clock = time.perf_counter()
    bt = _backtest(hist, fut_cols, spec, horizon, n_windows, seed, n_jobs) if n_windows > 0 else None
    quant: dict[int, np.ndarray] = {}
    own_of: dict[int, dict[str, float]] = {}
    mase: dict[str, float] = {}
    if bt is None:
        warnings.append("NO_BACKTEST")
    else:
        res, _ = bt
        err = res["y"] - res["lgb"]
        # each point's score is scaled by its series' noise just before its own origin
        origin_scale = {
            (k, w): _local_scale(y, len(y) - horizon * (n_windows - w), spec, noise_season)
            for k, y in scaled.items()
            for w in range(n_windows)
        }
        local = np.array([origin_scale[kw] for kw in zip(res["unique_id"], res["window"], strict=True)])
        score = np.abs(err.to_numpy(dtype="float64")) / local
        quant = _quantiles(score, res["step"].to_numpy(), levels, spec.block, horizon)
        keys = [s.key for s in series]
        codes = res["unique_id"].map({k: i for i, k in enumerate(keys)}).to_numpy()
        own = _own_factor(score, codes, len(keys), levels)
        own_of = {lv: dict(zip(keys, f, strict=True)) for lv, f in own.items()}
        res["ae"] = np.abs(err) / res["unique_id"].map(mase_scale)
        mase = res.groupby("unique_id")["ae"].mean().to_dict()
    if timings is not None:
        timings["backtest_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    mlf = _train(hist, spec, seed, n_jobs)
    capture = _Capture()
    pred = mlf.predict(horizon, X_df=fut, before_predict_callback=capture if explain else None)
    pred["step"] = pred.groupby("unique_id", sort=False).cumcount()
    means = pred.pivot(index="unique_id", columns="step", values="lgb")
    if timings is not None:
        timings["fit_predict_s"] = time.perf_counter() - clock
    clock = time.perf_counter()

    wanted = {s.key for s in series} if explain is True else set(explain or ())
    contrib: dict[str, np.ndarray] = {}
    base: dict[str, np.ndarray] = {}
    factor_names: list[str] = list(FACTORS)
    if wanted and capture.steps:
        model = cast(lgb.LGBMRegressor, mlf.models_["lgb"])
        cols = list(model.feature_name_)
        order = list(pred["unique_id"].unique())  # row order of every recursive step's features
        rows = np.array([i for i, k in enumerate(order) if k in wanted])
        cfac = dict(covariate_factor or {})
        groups = [factor_of(c, cfac) for c in cols]
        factor_names += [g for g in dict.fromkeys(groups) if g not in factor_names]
        member = np.zeros((len(cols) + 1, len(factor_names)))  # feature → factor; bias row stays 0
        for j, g in enumerate(groups):
            member[j, factor_names.index(g)] = 1.0
        phi = np.stack(
            [np.asarray(model.predict(f[cols].iloc[rows], pred_contrib=True)) for f in capture.steps], axis=1
        )  # (explained series, step, features + bias)
        grouped = phi @ member  # (explained series, step, factor)
        scale_of = {s.key: sc for s, sc in zip(series, scales, strict=True)}
        for i, r in enumerate(rows):
            key = order[r]
            contrib[key] = grouped[i].T * scale_of[key]
            base[key] = phi[i, :, -1] * scale_of[key]
    if timings is not None:
        timings["explain_s"] = time.perf_counter() - clock

    results = []
    for s, sc in zip(series, scales, strict=True):
        raw = means.loc[s.key].to_numpy(dtype="float64") * sc
        mean = np.clip(raw, 0, None)
        dates = _periods(s.start, len(s.values) + horizon, spec.pd_freq)[1][len(s.values) :]
        bands: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {}
        for level in levels:
            if level in quant:
                half = quant[level] * noise[s.key] * sc * (own_of[level][s.key] if level in own_of else 1.0)
                lo = np.clip(raw - half, 0, None)
                hi = np.clip(raw + half, 0, None)
                lo, hi = np.minimum(lo, mean), np.maximum(hi, mean)
            else:
                lo = hi = mean
            bands[level] = (tuple(lo.tolist()), tuple(hi.tolist()))
        contributions: dict[str, tuple[float, ...]] = {}
        text = ""
        if s.key in contrib:
            contributions = {f: tuple(contrib[s.key][i].tolist()) for i, f in enumerate(factor_names)}
            text = explanation_text(contributions, float(mean.sum()))
        results.append(
            GlobalForecast(
                key=s.key,
                freq=freq,
                dates=dates,
                mean=tuple(mean.tolist()),
                bands=bands,
                contributions=contributions,
                base=tuple(base[s.key].tolist()) if s.key in base else (),
                explanation=text,
                backtest_mase=mase.get(s.key),
                warnings=tuple(warnings),
            )
        )
    return results


def explanation_text(contributions: Mapping[str, Sequence[float]], total: float, top: int = 3) -> str:
    """Return "主要因素：节假日 +12%，促销 +8%": factors by absolute share of the forecast, largest first."""
    if total <= 0:
        return "预测为零：近期无需求。"
    shares = [(f, 100 * sum(v) / total) for f, v in contributions.items()]
    shares = [x for x in sorted(shares, key=lambda x: -abs(x[1])) if abs(x[1]) >= 1][:top]
    if not shares:
        return "主要因素：无明显因素，接近平常水平。"
    return "主要因素：" + "，".join(f"{f} {p:+.0f}%" for f, p in shares)
