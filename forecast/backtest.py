"""Rolling-origin evaluation: accuracy scores, and a harness over the whole engine.

The engine uses :func:`mase_scale`, :class:`Tally` and :func:`origins` to choose a method per
series (inside one batched statsforecast call). :func:`rolling_origin` evaluates the engine end
to end: at each origin it cuts every history, calls :func:`forecast.engine.forecast_series` on
what was known then (so method choice, factor effects and the yearly profile never see the
future), and scores the forecast against what happened. Censored (stockout) and gap weeks are
never scored: their recorded value is not demand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from forecast.types import Series

METRICS: tuple[str, ...] = ("mase", "wape", "coverage80", "coverage95")


def mase_scale(history: np.ndarray, season_length: int, mask: np.ndarray | None = None) -> float:
    """Return the in-sample MAE of seasonal naive (naive-1 below two seasons) on ``history``."""
    y = np.asarray(history, dtype=float)
    ok = np.isfinite(y) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(y))
    lags = [season_length, 1] if len(y) >= 2 * season_length and season_length > 1 else [1]
    for lag in lags:
        if len(y) <= lag:
            continue
        both = ok[lag:] & ok[:-lag]
        if both.any():
            mae = float(np.mean(np.abs(y[lag:][both] - y[:-lag][both])))
            if mae > 0:
                return mae
    level = float(np.mean(np.abs(y[ok]))) if ok.any() else 0.0
    return level if level > 0 else 1.0  # a constant history: errors are scored in its own units


@dataclass
class Tally:
    """Accumulates forecast errors over windows and series; :meth:`result` gives the metrics."""

    scaled_error: float = 0.0
    abs_error: float = 0.0
    abs_actual: float = 0.0
    points: int = 0
    inside80: int = 0
    inside95: int = 0
    errors: list[float] = field(default_factory=list)  #: signed errors, first step of each window

    def add(
        self,
        actual: np.ndarray,
        mean: np.ndarray,
        lo80: np.ndarray,
        hi80: np.ndarray,
        lo95: np.ndarray,
        hi95: np.ndarray,
        *,
        scale: float,
        mask: np.ndarray | None = None,
    ) -> None:
        """Add one forecast window (arrays over its weeks); masked-out weeks are skipped."""
        a = np.asarray(actual, dtype=float)
        ok = np.isfinite(a) & np.isfinite(mean)
        if mask is not None:
            ok &= np.asarray(mask, dtype=bool)
        if len(ok) and ok[0]:
            self.errors.append(float(a[0] - mean[0]))
        if not ok.any():
            return
        a, m = a[ok], np.asarray(mean, dtype=float)[ok]
        err = np.abs(a - m)
        self.scaled_error += float(err.sum() / scale)
        self.abs_error += float(err.sum())
        self.abs_actual += float(np.abs(a).sum())
        self.points += int(ok.sum())
        self.inside80 += int(((a >= np.asarray(lo80)[ok] - 1e-9) & (a <= np.asarray(hi80)[ok] + 1e-9)).sum())
        self.inside95 += int(((a >= np.asarray(lo95)[ok] - 1e-9) & (a <= np.asarray(hi95)[ok] + 1e-9)).sum())

    def merge(self, other: Tally) -> None:
        """Add another tally's counts into this one."""
        self.scaled_error += other.scaled_error
        self.abs_error += other.abs_error
        self.abs_actual += other.abs_actual
        self.points += other.points
        self.inside80 += other.inside80
        self.inside95 += other.inside95
        self.errors.extend(other.errors)

    def result(self) -> dict[str, float]:
        """Return MASE, WAPE (%) and 80/95% coverage (%) of what was added (NaN when empty)."""
        if not self.points:
            return dict.fromkeys(METRICS, math.nan)
        return {
            "mase": self.scaled_error / self.points,
            "wape": 100 * self.abs_error / self.abs_actual if self.abs_actual > 0 else math.nan,
            "coverage80": 100 * self.inside80 / self.points,
            "coverage95": 100 * self.inside95 / self.points,
        }


def origins(length: int, horizon: int, folds: int, step: int, min_train: int) -> list[int]:
    """Return the forecast origins (training lengths), oldest first, that leave min_train weeks."""
    cuts = [length - horizon - step * (folds - 1 - j) for j in range(folds)]
    return [c for c in cuts if c >= min_train]


@dataclass
class MethodReport:
    """How one method did over all series and origins of a harness run."""

    method: str
    pooled: dict[str, float]  #: metrics over all scored weeks; "mase" is the mean of per-series MASE
    per_series: dict[str, dict[str, float]]
    chosen: dict[str, int]  #: for "auto": how often each method was chosen


def rolling_origin(
    series: Sequence[Series],
    horizon: int,
    *,
    folds: int = 4,
    step: int | None = None,
    methods: Sequence[str] = ("auto", "seasonal_naive"),
    season_length: int = 52,
    min_train: int | None = None,
    use_holidays: bool = True,
    covariates: Mapping[str, Mapping[date, float]] | None = None,
    backtest_folds: int = 3,
) -> dict[str, MethodReport]:
    """Evaluate the engine per method by rolling-origin: cut, forecast, score against what happened."""
    from forecast.engine import forecast_series  # the engine imports this module for its scores

    step = step or horizon
    min_train = min_train if min_train is not None else max(2 * horizon + 1, 16)
    reports: dict[str, MethodReport] = {}
    cut_plan = {s.key: origins(len(s.values), horizon, folds, step, min_train) for s in series}
    for method in methods:
        tallies: dict[str, Tally] = {s.key: Tally() for s in series}
        chosen: dict[str, int] = {}
        for fold in range(folds):
            batch: list[Series] = []
            promos: dict[str, list[float]] = {}
            cuts: list[int] = []
            for s in series:
                plan = cut_plan[s.key]
                offset = fold - (folds - len(plan))
                if offset < 0:
                    continue  # this series is too short for the earliest origins
                cut = plan[offset]
                batch.append(
                    replace(s, values=s.values[:cut], censored=s.censored[:cut], promo=s.promo[:cut])
                )
                # promotions are planned ahead: the forecaster may know the horizon's promo weeks
                promos[s.key] = list(s.promo[cut : cut + horizon]) if s.promo else [0.0] * horizon
                cuts.append(cut)
            if not batch:
                continue
            results = forecast_series(
                batch,
                horizon,
                method=method,
                season_length=season_length,
                future_promo=promos,
                covariates=covariates,
                use_holidays=use_holidays,
                backtest_folds=backtest_folds,
            )
            for s, cut, fc in zip(batch, cuts, results, strict=True):
                full = next(x for x in series if x.key == s.key)
                actual = np.asarray(full.values[cut : cut + horizon], dtype=float)
                cens = np.asarray(full.censored[cut : cut + horizon], dtype=bool) if full.censored else None
                mask = ~cens if cens is not None else None
                hist = np.clip(np.asarray(s.values, dtype=float), 0, None)
                hist_mask = ~np.asarray(s.censored, dtype=bool) if s.censored else None
                tallies[s.key].add(
                    actual,
                    np.asarray(fc.mean),
                    np.asarray(fc.lo80),
                    np.asarray(fc.hi80),
                    np.asarray(fc.lo95),
                    np.asarray(fc.hi95),
                    scale=mase_scale(hist, season_length, hist_mask),
                    mask=mask,
                )
                chosen[fc.method] = chosen.get(fc.method, 0) + 1
        per_series = {k: t.result() for k, t in tallies.items() if t.points}
        total = Tally()
        for t in tallies.values():
            total.merge(t)
        pooled = total.result()
        mases = [r["mase"] for r in per_series.values() if math.isfinite(r["mase"])]
        pooled["mase"] = float(np.mean(mases)) if mases else math.nan
        reports[method] = MethodReport(method, pooled, per_series, chosen)
    return reports
