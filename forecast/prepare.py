"""Clean one history and split it into base demand, yearly profile and factor effects.

Everything here is per series and plain numpy; the engine batches the model fitting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from forecast.calendar import feature_matrix
from forecast.types import Series

#: Factor columns from the calendar, with the Chinese name a planner reads.
CALENDAR_FACTORS: dict[str, str] = {
    "holiday": "法定节假日",
    "spring_festival": "春节",
    "pre_spring_festival": "春节前备货",
}
PROMO_FACTOR = "promo"
FACTOR_LABELS: dict[str, str] = {**CALENDAR_FACTORS, PROMO_FACTOR: "促销"}
#: Ridge penalty (in weeks of evidence at zero effect) keeping effects of rare factors modest.
RIDGE = 1.0
#: Window of the robust local level the factor effects are measured against.
LEVEL_WINDOW = 13
#: Neighbours either side used to impute a censored (stockout) week.
IMPUTE_RADIUS = 4


@dataclass
class Prepared:
    """One cleaned history and what the engine needs to forecast it."""

    index: int
    series: Series
    start: date  #: first history period: a Monday, or any day when freq="D"
    y: np.ndarray  #: clean history: clipped, gaps interpolated (censored weeks not yet imputed)
    valid: np.ndarray  #: True where the week is a real, uncensored observation
    censored: np.ndarray
    X: np.ndarray  #: factor columns for history + horizon rows
    factor_names: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)
    freq: str = "W"  #: "W" or "D": what one row (period) is
    #: covariate name → value per horizon period as the factor matrix uses it (before centring)
    covariates_used: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return len(self.y)


@dataclass
class Decomposition:
    """Factor-adjusted demand and the pieces removed from it."""

    clean: np.ndarray  #: history with censored weeks imputed (what seasonal naive sees)
    base: np.ndarray  #: clean minus factor effects
    deseasonalised: np.ndarray  #: base minus the yearly profile
    profile: np.ndarray | None  #: additive effect per season position, or None
    beta: np.ndarray  #: effect per factor column (0 for unused columns)


def _fit_length(values: Sequence[float] | tuple[bool, ...], length: int, fill: float) -> tuple[np.ndarray, bool]:
    arr = np.asarray(values, dtype=float) if len(values) else np.zeros(0)
    if len(arr) == length:
        return arr, False
    if len(arr) == 0:
        return np.full(length, fill), False
    out = np.full(length, fill)
    out[: min(length, len(arr))] = arr[:length]
    return out, True


@lru_cache(maxsize=256)
def _calendar_block(start: date, rows: int, use_holidays: bool) -> tuple[np.ndarray, bool]:
    if not use_holidays:
        return np.zeros((rows, len(CALENDAR_FACTORS))), True
    mondays = [start + timedelta(weeks=i) for i in range(rows)]
    matrix, known = feature_matrix(mondays)
    block = np.asarray(matrix, dtype=float).reshape(rows, 3)
    block[:, 0] /= 7.0  # holiday days → fraction of the week, so the effect is "per full holiday week"
    block.setflags(write=False)
    return block, known


def prepare(
    index: int,
    series: Series,
    horizon: int,
    *,
    future_promo: Sequence[float] | None,
    covariates: Mapping[str, Mapping[date, float]] | None,
    use_holidays: bool,
    freq: str = "W",
) -> Prepared:
    """Clean a history (gaps, negatives, lengths) and build its factor matrix; never raise.

    ``freq="D"``: one row per day from ``series.start``; the calendar columns stay zero there
    (holiday effects on daily demand are the global model's job, it has day-level calendar
    features) while promotions and covariates are still regressed per day.
    """
    warns: list[str] = []
    daily = freq == "D"
    # tolerate a non-Monday start for weeks
    start = series.start if daily else series.start - timedelta(days=series.start.weekday())
    period = timedelta(days=1) if daily else timedelta(weeks=1)
    try:
        raw = np.asarray([np.nan if v is None else float(v) for v in series.values], dtype=float)
    except (TypeError, ValueError):
        raw = np.full(len(series.values), np.nan)
        warns.append("BAD_VALUES")
    length = len(raw)
    gaps = ~np.isfinite(raw)
    if gaps.any():
        warns.append("GAPS_FILLED")
        if gaps.all():
            raw = np.zeros(length)
        else:
            idx = np.arange(length)
            raw = np.interp(idx, idx[~gaps], raw[~gaps])  # linear inside, nearest value at the edges
    if (raw < 0).any():
        warns.append("NEGATIVE_CLIPPED")  # returns netted into demand: demand itself is never negative
        raw = np.clip(raw, 0.0, None)
    censored, bad_c = _fit_length(series.censored, length, 0.0)
    promo, bad_p = _fit_length(series.promo, length, 0.0)
    censored = censored.astype(bool)
    if bad_c or bad_p:
        warns.append("INPUT_LENGTH_MISMATCH")
    if censored.any():
        warns.append("CENSORED_WEEKS")
    promo = np.nan_to_num(promo, nan=0.0)
    fut = np.zeros(horizon)
    if future_promo is not None:
        got, bad_f = _fit_length(list(future_promo), horizon, 0.0)
        fut = np.nan_to_num(got, nan=0.0)
        if bad_f:
            warns.append("PROMO_LENGTH_MISMATCH")
    rows = length + horizon
    block, known = _calendar_block(start, rows, use_holidays and not daily)
    if not known:
        warns.append("HOLIDAY_CALENDAR_UNKNOWN")
    columns = [block, np.concatenate([promo, fut])[:, None]]
    names = [*CALENDAR_FACTORS, PROMO_FACTOR]
    used: dict[str, np.ndarray] = {}
    for name, values in (covariates or {}).items():
        col = np.array([_covariate_at(values, start + i * period, period) for i in range(rows)], dtype=float)
        if not np.isfinite(col[:length]).any():
            continue
        missing = ~np.isfinite(col)
        if missing[length:].any():
            warns.append("COVARIATE_GAPS")
        col[missing] = np.nanmean(col[:length])  # an unknown week is an average week
        used[name] = col[length:].copy()
        columns.append((col - col[:length].mean())[:, None])  # centred: the effect is relative to usual
        names.append(name)
    X = np.hstack(columns)
    valid = ~(gaps | censored)
    if length and not (raw > 0).any():
        warns.append("ALL_ZERO")
    return Prepared(index, series, start, raw, valid, censored, X, tuple(names), warns, freq, used)


def _covariate_at(values: Mapping[date, float], first: date, period: timedelta) -> float:
    """Return a covariate's value for the period starting ``first``: the mean of the values given
    for its days (a daily covariate over a week), which is the one value given for a weekly one."""
    found = [values.get(first + timedelta(days=d)) for d in range(period.days)]
    finite = [float(v) for v in found if v is not None and math.isfinite(float(v))]
    return sum(finite) / len(finite) if finite else float("nan")


def _local_median(y: np.ndarray, mask: np.ndarray, radius: int) -> np.ndarray:
    """Median of masked-in values within ``radius`` weeks either side (NaN where none)."""
    vals = np.where(mask, y, np.nan)
    padded = np.concatenate([np.full(radius, np.nan), vals, np.full(radius, np.nan)])
    # sort puts NaN last, so the median of each row's k finite values sits at (k-1)//2 and k//2
    windows = np.sort(sliding_window_view(padded, 2 * radius + 1), axis=1)
    k = np.isfinite(windows).sum(axis=1)
    rows = np.arange(len(y))
    lo = windows[rows, np.maximum(k - 1, 0) // 2]
    hi = windows[rows, np.maximum(k, 1) // 2 - (k == 0)]
    return np.where(k > 0, (lo + hi) / 2, np.nan)


def seasonal_profile(y: np.ndarray, mask: np.ndarray, season: int) -> np.ndarray | None:
    """Estimate an additive yearly profile, shrunk towards zero by how much it beats noise."""
    n = len(y)
    if season < 2 or n < season + max(8, season // 4):
        return None
    # local level: centred moving average over one season, held flat where the window runs out
    kernel = np.ones(season) / season
    ma = np.convolve(y, kernel, mode="valid")
    offset = season // 2
    level = np.empty(n)
    level[offset : offset + len(ma)] = ma
    level[:offset] = ma[0]
    level[offset + len(ma) :] = ma[-1]
    detrended = y - level
    pos = np.arange(n) % season
    w = mask.astype(float)
    sums = np.bincount(pos, weights=detrended * w, minlength=season)
    counts = np.bincount(pos, weights=w, minlength=season)
    raw = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    # circular 1-2-3-2-1 smoothing: neighbouring weeks share a season (months and quarters do not)
    taps = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0 if season > 24 else np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    wide = np.concatenate([raw[-2:], raw, raw[:2]])
    cnt = np.concatenate([counts[-2:], counts, counts[:2]])
    smooth = np.convolve(wide * (cnt > 0), taps, mode="valid") / np.maximum(
        np.convolve((cnt > 0).astype(float), taps, mode="valid"), 1e-9
    )
    smooth -= smooth.mean()
    # noise of one week: robust spread of week-to-week changes (a smooth season barely moves them)
    diffs = np.diff(detrended)[mask[1:] & mask[:-1]]
    if len(diffs) < 4:
        return None
    sigma = 1.4826 * np.median(np.abs(diffs - np.median(diffs))) / np.sqrt(2)
    noise_var = sigma**2 * (taps**2).sum() / np.maximum(counts, 1).mean()
    signal_var = max(0.0, smooth.var() - noise_var)
    if signal_var <= 0:
        return None
    return smooth * (signal_var / (signal_var + noise_var))


def _ridge(X: np.ndarray, r: np.ndarray) -> np.ndarray:
    xtx = X.T @ X + RIDGE * np.eye(X.shape[1])
    return np.linalg.solve(xtx, X.T @ r)


def decompose(prep: Prepared, season: int, fit_upto: int | None = None) -> Decomposition:
    """Estimate factor effects and the yearly profile on the first ``fit_upto`` weeks; apply to all."""
    n = prep.length
    fit_upto = n if fit_upto is None else fit_upto
    y = prep.y.copy()
    X = prep.X[:n]
    valid = prep.valid.copy()
    valid[fit_upto:] = False  # estimation never sees weeks after the origin
    obs_mask = prep.valid.copy()
    # first guess for stockout weeks: the local level, never below what was actually sold
    if prep.censored.any():
        est = _local_median(y, prep.valid & (np.arange(n) < fit_upto), IMPUTE_RADIUS)
        fill = prep.censored & np.isfinite(est)
        y[fill] = np.maximum(y[fill], est[fill])
    beta = np.zeros(X.shape[1])
    usable = valid.copy()
    train = np.arange(n) < fit_upto
    if usable.sum() >= 8:
        level = _local_median(y, (usable | prep.censored) & train, LEVEL_WINDOW // 2)
        level = np.where(np.isfinite(level), level, np.nanmedian(y[:fit_upto]) if fit_upto else 0.0)
        resid = y - level
        Xu = X[usable]
        # a factor needs at least two observed weeks before it may explain anything
        active = [j for j in range(X.shape[1]) if np.count_nonzero(Xu[:, j]) >= 2 and Xu[:, j].std() > 0]
        if active:
            beta[active] = _ridge(Xu[:, active], resid[usable])
    base = y - X @ beta
    profile = seasonal_profile(base[:fit_upto], valid[:fit_upto] | prep.censored[:fit_upto], season)
    seas = profile[np.arange(n) % season] if profile is not None else np.zeros(n)
    if prep.censored.any():
        # second pass: local level of the adjusted series plus this week's season and factors
        est = _local_median(base - seas, obs_mask & train, IMPUTE_RADIUS) + seas + X @ beta
        fill = prep.censored & np.isfinite(est)
        y[fill] = np.maximum(prep.y[fill], est[fill])
        base = y - X @ beta
    return Decomposition(clean=y, base=base, deseasonalised=base - seas, profile=profile, beta=beta)


def future_parts(prep: Prepared, dec: Decomposition, season: int, origin: int, horizon: int) -> tuple[np.ndarray, ...]:
    """Return (seasonal, effect per factor column) for the ``horizon`` weeks after ``origin``."""
    pos = np.arange(origin, origin + horizon) % season
    seas = dec.profile[pos] if dec.profile is not None else np.zeros(horizon)
    rows = prep.X[origin : origin + horizon]
    effects = rows * dec.beta[None, :]
    return seas, effects
