"""Forecast many item × site weekly series at once and explain each forecast.

Pipeline per call: clean every history (forecast/prepare.py), estimate holiday/promotion
effects and a yearly profile, backtest the candidate methods on rolling origins and keep the
one with the lowest MASE per series, then forecast with it. Model fitting is batched: one
``StatsForecast`` call per method on one long DataFrame for all series that need it, which is
what keeps 10,000 series within a minute on two cores.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import Naive

from forecast import menu
from forecast import methods as M
from forecast.backtest import Tally, mase_scale
from forecast.explain import explain
from forecast.global_model import GlobalForecast
from forecast.prepare import PROMO_FACTOR, Decomposition, Prepared, decompose, future_parts, prepare
from forecast.types import BacktestWindows, Forecast, Series

METHODS = M.METHODS
#: Fewer weeks than this: no model is fitted, the forecast is the historic average.
MIN_FIT_WEEKS = 8
#: Pseudo-points at "the model's band is right" when calibrating bands on backtest errors.
CALIBRATION_PRIOR = 20


@dataclass
class _Job:
    """One series on its way through the engine."""

    prep: Prepared
    kind: str  #: "empty", "zero", "tiny", "intermittent", "smooth"
    candidates: list[str]
    full: Decomposition | None = None
    cv: Decomposition | None = None
    cutoff0: int = 0
    scale: float = 1.0
    scores: dict[str, Tally] = field(default_factory=dict)
    #: per method: backtest |error| / half-width of the 80% band, for calibrating the bands
    ratios: dict[str, np.ndarray] = field(default_factory=dict)
    chosen: str = M.BASELINE
    horizon: int = 1
    warnings: list[str] = field(default_factory=list)
    #: per method: backtest point forecasts, shape (folds, horizon) (the ensemble is built from them)
    window_means: dict[str, np.ndarray] = field(default_factory=dict)
    #: the statistical method the ensemble averages with the global model (best by backtest)
    partner: str = ""
    #: the statistical method whose forecast is computed ("" when the global model alone is used)
    stat: str = ""
    #: per menu method (global, ensemble): level → (2, horizon) band quantiles in MASE-scale units
    quant: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)

    def fitted(self) -> Decomposition:
        """The decomposition of the whole history: every job that gets a model has one."""
        if self.full is None:
            raise RuntimeError(f"series {self.prep.index} gets a model but was never decomposed")
        return self.full

    def backtested(self) -> Decomposition:
        """The decomposition up to the first backtest origin: every backtested job has one."""
        if self.cv is None:
            raise RuntimeError(f"series {self.prep.index} is backtested but was never decomposed up to its origin")
        return self.cv


#: Processes for big batches (None in forecast_series: this, capped by the machine's cores).
DEFAULT_JOBS = 2


def _n_jobs(rows: int, wanted: int | None) -> int:
    if wanted is not None:
        return max(1, wanted)
    # a daemonic process (a Celery prefork worker) may not start children of its own
    if multiprocessing.current_process().daemon:
        return 1
    # process start-up costs more than it saves on small batches
    return min(DEFAULT_JOBS, os.cpu_count() or 1) if rows > 200_000 else 1


#: Days per period and the pandas frequency statsforecast runs at, per engine frequency.
PERIOD_DAYS = {"W": 7, "D": 1}
PD_FREQ = {"W": "W-MON", "D": "D"}
#: Daily histories longer than this never try per-series ARIMA unless a previous run chose it.
DAILY_ARIMA_MAX_LENGTH = 120


def _frame(items: list[tuple[int, date, np.ndarray]], freq: str = "W") -> pd.DataFrame:
    lengths = np.array([len(y) for _, _, y in items])
    starts = np.array([np.datetime64(s, "D") for _, s, _ in items])
    offsets = np.concatenate([np.arange(n) for n in lengths]) * PERIOD_DAYS[freq]
    return pd.DataFrame(
        {
            "unique_id": np.repeat([i for i, _, _ in items], lengths),
            "ds": (np.repeat(starts, lengths) + offsets.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "y": np.concatenate([y for _, _, y in items]).astype(float),
        }
    )


def _columns(out: pd.DataFrame, alias: str, levels: tuple[int, int]) -> list[np.ndarray]:
    names = [alias, f"{alias}-lo-{levels[0]}", f"{alias}-hi-{levels[0]}", f"{alias}-lo-{levels[1]}"]
    names.append(f"{alias}-hi-{levels[1]}")
    return [out[n].to_numpy(dtype=float) if n in out else out[alias].to_numpy(dtype=float) for n in names]


def _model_for(method: str, horizon: int, season: int, length: int) -> Any:
    if method in M.SMOOTH_METHODS:
        return M.smooth_model(method, season)
    if method in M.INTERMITTENT_METHODS:
        return M.intermittent_model(method, horizon, min(3, (length - 1) // horizon))
    if method == M.BASELINE:
        return M.baseline_model(season, length)
    return M.average_model()


def _input(job: _Job, method: str, dec: Decomposition, season: int) -> np.ndarray:
    if method == M.BASELINE:
        return dec.clean
    if method in M.SMOOTH_METHODS:
        return dec.base if M.native_season(season) else dec.deseasonalised
    return np.clip(dec.base, 0.0, None)  # intermittent and average models expect non-negative demand


def _shift(job: _Job, method: str, dec: Decomposition, season: int, origin: int, horizon: int) -> np.ndarray:
    """Return what to add back to a model's output for the weeks after ``origin``."""
    if method == M.BASELINE:
        return np.zeros(horizon)  # the baseline stays plain: last year's weeks as they were
    seas, effects = future_parts(job.prep, dec, season, origin, horizon)
    add = effects.sum(axis=1)
    return add + seas if method in M.SMOOTH_METHODS and not M.native_season(season) else add


def _sf(models: list[Any], rows: int, jobs: int | None, freq: str = "W") -> StatsForecast:
    return StatsForecast(models=models, freq=PD_FREQ[freq], n_jobs=_n_jobs(rows, jobs), fallback_model=Naive())


def _groups(jobs: list[_Job], method: str, season: int, length_of: Any) -> list[list[_Job]]:
    # seasonal naive needs a full season behind it; shorter ones get naive-1 in their own call
    if method != M.BASELINE:
        return [jobs]
    longer = [j for j in jobs if length_of(j) > season]
    shorter = [j for j in jobs if length_of(j) <= season]
    return [g for g in (longer, shorter) if g]


def _backtest(
    jobs: list[_Job],
    horizon: int,
    step: int,
    folds: int,
    season: int,
    levels: tuple[int, int],
    n_jobs: int | None,
    freq: str = "W",
) -> None:
    """Score every candidate of every job on rolling origins (one batched call per method)."""
    by_method: dict[str, list[_Job]] = {}
    for job in jobs:
        for method in job.candidates:
            if method not in M.MENU_METHODS:  # the global model and ensemble: forecast/menu.py
                by_method.setdefault(method, []).append(job)
    test_size = horizon + step * (folds - 1)
    for method, members in by_method.items():
        for group in _groups(members, method, season, lambda j: j.cutoff0):
            group.sort(key=lambda j: j.prep.index)
            items = [(j.prep.index, j.prep.start, _input(j, method, j.backtested(), season)) for j in group]
            df = _frame(items, freq)
            model = _model_for(method, horizon, season, min(j.cutoff0 for j in group))
            # models with a forward pass are fitted once at the first origin and rolled forward
            refit = not hasattr(model, "forward")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sf = StatsForecast(models=[model], freq=PD_FREQ[freq], n_jobs=_n_jobs(len(df), n_jobs))
                    out = sf.cross_validation(
                        h=horizon, df=df, n_windows=folds, step_size=step, level=list(levels), refit=refit
                    )
            except Exception:  # a failing method simply drops out of the choice for these series
                for job in group:
                    job.warnings.append("BACKTEST_FAILED")
                continue
            out = out.sort_values(["unique_id", "cutoff", "ds"])
            cols = [c.reshape(len(group), folds, horizon) for c in _columns(out, method, levels)]
            for gi, job in enumerate(group):
                tally = Tally()
                ratios = []
                means = np.zeros((folds, horizon))
                for w in range(folds):
                    origin = job.prep.length - test_size + w * step
                    add = _shift(job, method, job.backtested(), season, origin, horizon)
                    mean, lo80, hi80, lo95, hi95 = (np.clip(c[gi, w] + add, 0, None) for c in cols)
                    actual = job.prep.y[origin : origin + horizon]
                    valid = job.prep.valid[origin : origin + horizon]
                    tally.add(actual, mean, lo80, hi80, lo95, hi95, scale=job.scale, mask=valid)
                    half = (cols[2][gi, w] - cols[1][gi, w]) / 2
                    ok = valid & (half > 1e-9) & np.isfinite(half) & np.isfinite(mean)
                    ratios.append(np.abs(actual - mean)[ok] / half[ok])
                    means[w] = mean
                job.scores[method] = tally
                job.window_means[method] = means
                job.ratios[method] = np.concatenate(ratios) if ratios else np.zeros(0)


def _choose(job: _Job, among: list[str] | None = None) -> str:
    """Return the candidate (of ``among``, default all) with the lowest backtest MASE.

    Candidates are listed simplest first and a later one must be strictly better, so a tie goes
    to the simpler method (the global model and the ensemble come last).
    """
    best, best_mase = None, math.inf
    candidates = job.candidates if among is None else among
    # a sparse series keeps a Croston-family method: MAE-type scores favour forecasting zero,
    # which is useless for replenishment; the baseline is still scored beside it
    choosable = [m for m in candidates if not (job.kind == "intermittent" and m == M.BASELINE)]
    for method in choosable or candidates:
        tally = job.scores.get(method)
        mase = tally.result()["mase"] if tally else math.nan
        if math.isfinite(mase) and mase < best_mase - 1e-12:
            best, best_mase = method, mase
    return best or _fallback(job, candidates[0] if candidates else "auto")


#: A series keeps its own backtest winner over the segment's only when it beats the segment's method
#: on that series by more than this share of MASE: a few windows per series choose noisily, and the
#: method that wins across the segment is the better bet when the two are close.
SEGMENT_MARGIN = 0.05


def _segment_best(jobs: list[_Job]) -> str | None:
    """The candidate with the lowest mean backtest MASE over every series of the segment that scored it
    (only methods scored on all of them), or None for fewer than two series."""
    if len(jobs) < 2:
        return None
    common = set.intersection(*(set(j.scores) for j in jobs))
    best, best_mase = None, math.inf
    for method in sorted(common):
        values = [j.scores[method].result()["mase"] for j in jobs]
        if all(math.isfinite(v) for v in values) and (mean := float(np.mean(values))) < best_mase:
            best, best_mase = method, mean
    return best


def _prefer_segment(job: _Job, own: str, segment: str) -> str:
    """The segment's method unless the series' own winner beats it there by more than SEGMENT_MARGIN."""
    if own == segment or segment not in job.scores or own not in job.scores:
        return own
    own_mase, seg_mase = job.scores[own].result()["mase"], job.scores[segment].result()["mase"]
    return segment if math.isfinite(seg_mase) and seg_mase <= own_mase * (1 + SEGMENT_MARGIN) else own


def _fallback(job: _Job, wanted: str) -> str:
    """Return a method that can run on this history, preferring ``wanted``."""
    n, h = job.prep.length, job.horizon
    if job.kind == "tiny":
        return "historic_average"
    if wanted in M.INTERMITTENT_METHODS or (wanted == "auto" and job.kind == "intermittent"):
        return (wanted if wanted != "auto" else "croston_sba") if n >= 2 * h + 1 else "historic_average"
    if wanted == M.BASELINE:
        return wanted
    return wanted if wanted in M.SMOOTH_METHODS else "auto_ets"


def _forecast(
    jobs: list[_Job], horizon: int, season: int, levels: tuple[int, int], n_jobs: int | None, freq: str = "W"
) -> dict[int, list[np.ndarray]]:
    """Forecast each job with its statistical method (``job.stat``), one batched call per method."""
    by_method: dict[str, list[_Job]] = {}
    for job in jobs:
        by_method.setdefault(job.stat, []).append(job)
    results: dict[int, list[np.ndarray]] = {}
    for method, members in by_method.items():
        for group in _groups(members, method, season, lambda j: j.prep.length):
            group.sort(key=lambda j: j.prep.index)
            items = [(j.prep.index, j.prep.start, _input(j, method, j.fitted(), season)) for j in group]
            df = _frame(items, freq)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = _model_for(method, horizon, season, min(j.prep.length for j in group))
                    out = _sf([model], len(df), n_jobs, freq).forecast(h=horizon, df=df, level=list(levels))
                out = out.sort_values(["unique_id", "ds"])
                cols = [c.reshape(len(group), horizon) for c in _columns(out, method, levels)]
            except Exception:
                # last resort: the historic average with a normal band, computed here
                cols = _average_band(group, horizon, levels)
                for job in group:
                    job.warnings.append("METHOD_FAILED")
                    if job.chosen == job.stat:
                        job.chosen = "historic_average"
                    job.stat = "historic_average"
            for gi, job in enumerate(group):
                add = _shift(job, job.stat, job.fitted(), season, job.prep.length, horizon)
                mean, lo1, hi1, lo2, hi2 = (c[gi] + add for c in cols)
                f = _band_factor(job)
                results[job.prep.index] = [mean, mean - f * (mean - lo1), mean + f * (hi1 - mean),
                                           mean - f * (mean - lo2), mean + f * (hi2 - mean)]
    return results


def _band_factor(job: _Job) -> float:
    """Return how much to widen (or narrow) the bands so the backtest errors fit the 80% band.

    Model bands ignore the uncertainty of the yearly profile and factor effects removed before
    fitting; the backtest shows what the errors really were. Few points: shrink towards 1.
    """
    ratios = job.ratios.get(job.stat)
    if ratios is None or len(ratios) < 8:
        return 1.0
    q = float(np.quantile(ratios, 0.8))
    weight = len(ratios) / (len(ratios) + CALIBRATION_PRIOR)
    return float(np.clip(1 + weight * (q - 1), 0.7, 2.5))


def _average_band(group: list[_Job], horizon: int, levels: tuple[int, int]) -> list[np.ndarray]:
    from statistics import NormalDist

    out = [np.zeros((len(group), horizon)) for _ in range(5)]
    for gi, job in enumerate(group):
        y = np.clip(job.full.base if job.full is not None else job.prep.y, 0, None)
        mu, sd = (float(y.mean()), float(y.std())) if len(y) else (0.0, 0.0)
        z1, z2 = (NormalDist().inv_cdf(0.5 + lv / 200) for lv in levels)
        for k, v in enumerate((mu, mu - z1 * sd, mu + z1 * sd, mu - z2 * sd, mu + z2 * sd)):
            out[k][gi] = v
    return out


def _classify(
    prep: Prepared, method: str, horizon: int, n_series: int, prior: str | None = None, menu: bool = False
) -> tuple[str, list[str]]:
    """Return the series' kind and its candidate methods, simplest first (``menu``: add global, ensemble)."""
    n = prep.length
    if n == 0:
        return "empty", []
    if "ALL_ZERO" in prep.warnings:
        return "zero", []
    if n < MIN_FIT_WEEKS:
        return "tiny", []
    kind = "intermittent" if M.is_intermittent(prep.y[prep.valid]) else "smooth"
    if method == M.ENSEMBLE:  # the ensemble needs the best statistical method beside the global model
        return kind, [*_statistical(prep, kind, n_series, prior), *M.MENU_METHODS]
    if method != "auto":
        return kind, [method] if method == M.BASELINE else [method, M.BASELINE]
    # a sparse series keeps a Croston-family method (see _choose): a global model scored by MASE
    # would win there by forecasting little, which starves replenishment
    with_menu = menu and kind == "smooth"
    return kind, [*_statistical(prep, kind, n_series, prior), *(M.MENU_METHODS if with_menu else ())]


def _statistical(prep: Prepared, kind: str, n_series: int, prior: str | None) -> list[str]:
    if kind == "intermittent":
        return [*M.INTERMITTENT_METHODS, M.BASELINE]
    return [*M.AUTO_SMOOTH, *(["auto_arima"] if _try_arima(prep, n_series, prior) else []), M.BASELINE]


def _try_arima(prep: Prepared, n_series: int, prior: str | None) -> bool:
    """ARIMA costs ~30× ETS (far more on years of days): try it where a run has seen it win,
    else only on small batches, and never on long daily histories."""
    if prior == "auto_arima":
        return True
    if prep.freq == "D" and prep.length > DAILY_ARIMA_MAX_LENGTH:
        return False
    return n_series <= M.AUTO_ARIMA_MAX_SERIES


def forecast_series(
    series: Sequence[Series],
    horizon: int,
    *,
    freq: str = "W",
    method: str = "auto",
    season_length: int | None = None,
    levels: tuple[int, int] = (80, 95),
    future_promo: Mapping[str, Sequence[float]] | None = None,
    covariates: Mapping[str, Mapping[date, float]] | None = None,
    use_holidays: bool = True,
    backtest_folds: int = 3,
    n_jobs: int | None = None,
    prior_methods: Mapping[str, str] | None = None,
) -> list[Forecast]:
    """Forecast each series ``horizon`` periods ahead; return one Forecast per input, in order.

    ``freq``: "W" (weeks, ``Series.start`` a Monday) or "D" (days); ``season_length`` defaults
    to 52 for weeks and 7 for days. ``levels`` fill lo80/hi80 and lo95/hi95 in that order.
    ``future_promo`` maps a series key to promotion intensity per horizon period; ``covariates``
    are named series {date: value} shared by all (daily values are averaged into weeks).
    ``prior_methods`` maps a key to the method a previous run chose: "auto_arima" there lets
    "auto" try ARIMA where it is otherwise skipped for speed (long daily histories, big batches).
    Bad input (short, all-zero, gaps, negatives, stockouts) gives warning codes, never an error.
    ``n_jobs`` fixes the number of processes statsforecast may use (default: 2 for big batches).
    """
    if freq not in PERIOD_DAYS:
        raise ValueError(f"freq must be 'W' or 'D', not {freq!r}")
    season = season_length if season_length is not None else (7 if freq == "D" else 52)
    return _forecast_series(series, horizon, method, season, levels, future_promo, covariates,
                            use_holidays, backtest_folds, n_jobs, freq, prior_methods or {})


def _forecast_series(
    series: Sequence[Series],
    horizon: int,
    method: str,
    season_length: int,
    levels: tuple[int, int],
    future_promo: Mapping[str, Sequence[float]] | None,
    covariates: Mapping[str, Mapping[date, float]] | None,
    use_holidays: bool,
    backtest_folds: int,
    n_jobs: int | None,
    freq: str,
    prior_methods: Mapping[str, str],
) -> list[Forecast]:
    if horizon < 1:
        raise ValueError("horizon must be at least one period")
    if method != "auto" and method not in M.METHODS:
        raise ValueError(f"unknown method {method!r}; choose 'auto' or one of {sorted(M.METHODS)}")
    levels = (int(min(levels)), int(max(levels)))
    season = max(1, int(season_length))
    folds = max(0, int(backtest_folds))
    step = max(1, horizon // max(folds, 1))
    test_size = horizon + step * (folds - 1) if folds else 0
    min_train = max(2 * horizon + 1, 16)
    period = timedelta(days=PERIOD_DAYS[freq])
    # "auto" tries the global model and the ensemble where a backtest can score them, on calls small
    # enough that one model over all series per origin fits the time budget (menu.GLOBAL_MAX_SERIES)
    with_menu = method == "auto" and folds > 0 and len(series) <= menu.GLOBAL_MAX_SERIES
    jobs: list[_Job] = []
    for i, s in enumerate(series):
        prep = prepare(
            i, s, horizon, future_promo=(future_promo or {}).get(s.key), covariates=covariates,
            use_holidays=use_holidays, freq=freq,
        )
        kind, candidates = _classify(prep, method, horizon, len(series), prior_methods.get(s.key), with_menu)
        job = _Job(prep=prep, kind=kind, candidates=candidates, horizon=horizon, warnings=list(prep.warnings))
        jobs.append(job)
    fitted = [j for j in jobs if j.kind in ("tiny", "intermittent", "smooth")]
    for job in fitted:
        job.full = decompose(job.prep, season)
    testable = [j for j in fitted if j.kind != "tiny" and folds and j.prep.length >= test_size + min_train]
    for job in testable:
        job.cutoff0 = job.prep.length - test_size
        job.cv = decompose(job.prep, season, fit_upto=job.cutoff0)
        job.scale = mase_scale(job.cv.clean[: job.cutoff0], season, job.prep.valid[: job.cutoff0])
    _backtest(testable, horizon, step, folds, season, levels, n_jobs, freq)
    ctx = _MenuContext(horizon, step, folds, test_size, freq, levels, covariates, use_holidays)
    _backtest_menu([j for j in testable if M.GLOBAL in j.candidates], ctx)
    segment = _segment_best([j for j in testable if M.GLOBAL in j.candidates and j.kind == "smooth"])
    for job in fitted:
        if method == "auto":
            job.chosen = _choose(job) if job.scores else _fallback(job, method)
            if segment and job.kind == "smooth" and M.GLOBAL in job.candidates:
                job.chosen = _prefer_segment(job, job.chosen, segment)
            continue
        # a forced method is used whenever it ran; the baseline beside it is only for comparison
        ran = job.scores.get(method)
        job.chosen = method if ran is not None and ran.points else _fallback(job, method)
        if job.chosen != method:
            job.warnings.append("METHOD_FALLBACK")
    chose_menu = [j for j in fitted if j.chosen in M.MENU_METHODS]
    final = _forecast_global([j for j in testable if M.GLOBAL in j.scores], chose_menu, ctx)
    for job in fitted:
        job.stat = "" if job.chosen == M.GLOBAL else job.partner if job.chosen == M.ENSEMBLE else job.chosen
    raw = _forecast([j for j in fitted if j.stat], horizon, season, levels, n_jobs, freq)
    for job in chose_menu:
        if job.chosen in M.MENU_METHODS:  # still: a failed global fit sent them back to statistics
            raw[job.prep.index] = _menu_columns(job, final[job.prep.index], raw.get(job.prep.index), ctx)
    weeks_of: dict[date, tuple[date, ...]] = {}
    out: list[Forecast] = []
    for job in jobs:
        n = job.prep.length
        first = job.prep.start + n * period
        weeks = weeks_of.setdefault(first, tuple(first + k * period for k in range(horizon)))
        if job.kind in ("empty", "zero"):
            job.chosen = M.BASELINE
            cols = [np.zeros(horizon)] * 5
        else:
            cols = raw[job.prep.index]
        short = n < season + horizon or (not job.scores and job.kind != "zero")
        if short and "SHORT_HISTORY" not in job.warnings and job.kind != "zero":
            job.warnings.append("SHORT_HISTORY")
        mean, lo1, hi1, lo2, hi2 = _ordered(cols)
        accuracy = {m: {**t.result(), "points": float(t.points)} for m, t in job.scores.items()}
        sd = _error_sd(job, cols)
        gf = final.get(job.prep.index)
        if job.chosen in M.MENU_METHODS and gf is not None and gf.contributions:
            weight = 1.0 if job.chosen == M.GLOBAL else 0.5
            explanation = menu.explanation(gf, weight, job.chosen, mean, accuracy, short, n, freq)
        else:
            explanation = explain(job.prep, job.full, job.chosen, season, horizon, mean, accuracy, short)
        windows = None
        if job.scores:
            origins = tuple(job.prep.start + (n - test_size + w * step) * period for w in range(folds))
            windows = BacktestWindows(origins=origins, horizon=horizon, step=step, freq=freq)
        out.append(
            Forecast(
                key=job.prep.series.key,
                method=job.chosen,
                weeks=weeks,
                mean=tuple(mean),
                lo80=tuple(lo1),
                hi80=tuple(hi1),
                lo95=tuple(lo2),
                hi95=tuple(hi2),
                accuracy=accuracy,
                baseline=M.BASELINE,
                explanation=explanation,
                warnings=tuple(dict.fromkeys(job.warnings)),
                error_sd=sd,
                baseline_mean=_baseline_mean(job, season, horizon),
                freq=freq,
                backtest_windows=windows,
                covariates_used={k: tuple(round(float(v), 6) for v in col)
                                 for k, col in job.prep.covariates_used.items()},
            )
        )
    return out


@dataclass(frozen=True)
class _MenuContext:
    """What the global model's backtest and forecast need to know about the call."""

    horizon: int
    step: int
    folds: int
    test_size: int
    freq: str
    levels: tuple[int, int]
    covariates: Mapping[str, Mapping[date, float]] | None
    use_holidays: bool

    def period_covariates(self, jobs: list[_Job]) -> dict[str, dict[date, float]]:
        rows = max(j.prep.length for j in jobs) + self.horizon
        return menu.period_covariates(self.covariates, {j.prep.start for j in jobs}, rows, self.freq)


def _menu_series(job: _Job, dec: Decomposition) -> menu.MenuSeries:
    names = job.prep.factor_names
    promo = job.prep.X[:, names.index(PROMO_FACTOR)] if PROMO_FACTOR in names else np.zeros(len(job.prep.X))
    return menu.MenuSeries(str(job.prep.index), job.prep.start, dec.clean, promo)


def _backtest_menu(members: list[_Job], ctx: _MenuContext) -> None:
    """Score the global model and the ensemble on each member's own backtest windows.

    One global model per origin over all members (each cut at its own origin w), then the
    ensemble as the mean of it and the member's best statistical method; bands from the pooled
    scaled errors of these windows (forecast/menu.py).
    """
    if not members:
        return
    covs = ctx.period_covariates(members)
    inputs = [_menu_series(j, j.backtested()) for j in members]
    g = np.zeros((len(members), ctx.folds, ctx.horizon))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for w in range(ctx.folds):
                cuts = [j.prep.length - ctx.test_size + w * ctx.step for j in members]
                fcs = menu.run_global(inputs, cuts, ctx.horizon, freq=ctx.freq, levels=ctx.levels,
                                      covariates=covs, use_holidays=ctx.use_holidays)
                g[:, w] = np.asarray([fc.mean for fc in fcs], dtype=float)
    except Exception:  # the global model drops out of the choice; the statistical menu stands
        for job in members:
            job.warnings.append("BACKTEST_FAILED")
        return
    for i, job in enumerate(members):
        job.window_means[M.GLOBAL] = g[i]
        stats = [m for m in job.candidates if m not in M.MENU_METHODS and m in job.window_means]
        if stats and M.ENSEMBLE in job.candidates:
            job.partner = _choose(job, stats)
            if job.partner in job.window_means:
                job.window_means[M.ENSEMBLE] = (g[i] + job.window_means[job.partner]) / 2
    for method in M.MENU_METHODS:
        scored = [j for j in members if method in j.window_means]
        resid = {j.prep.index: _scaled_errors(j, j.window_means[method], ctx) for j in scored}
        block = menu.BLOCK.get(ctx.freq, 4)
        everyone = np.concatenate(list(resid.values())) if resid else np.zeros((0, ctx.horizon))
        by_kind: dict[str, dict[int, np.ndarray]] = {}
        for kind in ("smooth", "intermittent"):
            rows = [resid[j.prep.index] for j in scored if j.kind == kind]
            pooled = np.concatenate(rows) if rows else np.zeros((0, ctx.horizon))
            # sparse and smooth series err differently: pool them apart where there is enough of each
            enough = np.isfinite(pooled).sum() >= 4 * menu.MIN_BLOCK_RESIDUALS
            by_kind[kind] = menu.quantiles(pooled if enough else everyone, ctx.levels, block)
        for job in scored:
            job.quant[method] = by_kind[job.kind]
            job.scores[method] = _score(job, job.window_means[method], job.quant[method], ctx)


def _origin(job: _Job, w: int, ctx: _MenuContext) -> int:
    return job.prep.length - ctx.test_size + w * ctx.step


def _scaled_errors(job: _Job, means: np.ndarray, ctx: _MenuContext) -> np.ndarray:
    """Signed backtest errors over the MASE scale, shape (folds, horizon), NaN where not scored."""
    out = np.full((ctx.folds, ctx.horizon), np.nan)
    for w in range(ctx.folds):
        o = _origin(job, w, ctx)
        actual = job.prep.y[o : o + ctx.horizon]
        ok = job.prep.valid[o : o + ctx.horizon]
        out[w, ok] = (actual[ok] - means[w][ok]) / job.scale
    return out


def _bands(mean: np.ndarray, quant: dict[int, np.ndarray], scale: float, levels: tuple[int, int]) -> list[np.ndarray]:
    cols = [mean]
    for level in levels:
        q = quant[level]
        cols += [np.clip(mean + q[0] * scale, 0, None), mean + q[1] * scale]
    return cols


def _score(job: _Job, means: np.ndarray, quant: dict[int, np.ndarray], ctx: _MenuContext) -> Tally:
    tally = Tally()
    for w in range(ctx.folds):
        o = _origin(job, w, ctx)
        mean, lo1, hi1, lo2, hi2 = _bands(np.clip(means[w], 0, None), quant, job.scale, ctx.levels)
        tally.add(job.prep.y[o : o + ctx.horizon], mean, lo1, hi1, lo2, hi2, scale=job.scale,
                  mask=job.prep.valid[o : o + ctx.horizon])
    return tally


def _forecast_global(members: list[_Job], chosen: list[_Job], ctx: _MenuContext) -> dict[int, GlobalForecast]:
    """Fit the global model once on every backtested member's full history; explain the chosen.

    Skipped when no series chose the global model or the ensemble. If it fails, those series
    fall back to their best statistical method.
    """
    if not chosen:
        return {}
    conformal = menu.band_source(ctx.freq) == "conformal"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fcs = menu.run_global(
                [_menu_series(j, j.fitted()) for j in members], [j.prep.length for j in members], ctx.horizon,
                freq=ctx.freq, levels=ctx.levels, covariates=ctx.period_covariates(members),
                use_holidays=ctx.use_holidays, explain={str(j.prep.index) for j in chosen}, conformal=conformal,
            )
    except Exception:
        for job in chosen:
            job.warnings.append("METHOD_FAILED")
            job.chosen = job.partner or _choose(job, [m for m in job.candidates if m not in M.MENU_METHODS])
        return {}
    return {j.prep.index: fc for j, fc in zip(members, fcs, strict=True)}


def _menu_columns(
    job: _Job, gf: GlobalForecast, stat: list[np.ndarray] | None, ctx: _MenuContext
) -> list[np.ndarray]:
    """Return [mean, lo80, hi80, lo95, hi95] of a global or ensemble forecast."""
    g = np.asarray(gf.mean, dtype=float)
    conformal = menu.band_source(ctx.freq) == "conformal" and all(lv in gf.bands for lv in ctx.levels)
    if job.chosen == M.ENSEMBLE and stat is not None:
        mean = (g + np.clip(stat[0], 0, None)) / 2
        if not conformal:
            return _bands(mean, job.quant[M.ENSEMBLE], job.scale, ctx.levels)
        # the global model's conformal widths around the ensemble's mean: averaging with the
        # statistical forecast narrows the error, so these widths err on the wide side
        cols = [mean]
        for lv in ctx.levels:
            lo, hi = (np.asarray(b, dtype=float) for b in gf.bands[lv])
            cols += [mean - (g - lo), mean + (hi - g)]
        return cols
    if conformal:
        cols = [g]
        for lv in ctx.levels:
            cols += [np.asarray(gf.bands[lv][0], dtype=float), np.asarray(gf.bands[lv][1], dtype=float)]
        return cols
    return _bands(g, job.quant[M.GLOBAL], job.scale, ctx.levels)


def _baseline_mean(job: _Job, season: int, horizon: int) -> tuple[float, ...]:
    """Return seasonal naive's point forecast (what statsforecast's SeasonalNaive gives) cheaply."""
    y = job.full.clean if job.full is not None else job.prep.y
    n = len(y)
    if n == 0:
        return (0.0,) * horizon
    if n < season or season < 2:
        return (round(float(y[-1]), 6),) * horizon
    last = y[n - season :]
    return tuple(round(float(last[k % season]), 6) for k in range(horizon))


def _ordered(cols: list[np.ndarray]) -> list[list[float]]:
    """Clip at zero, replace NaN, and force lo95 ≤ lo80 ≤ mean ≤ hi80 ≤ hi95."""
    mean, lo1, hi1, lo2, hi2 = (np.nan_to_num(np.asarray(c, dtype=float), nan=0.0) for c in cols)
    mean = np.clip(mean, 0, None)
    lo1 = np.clip(np.minimum(lo1, mean), 0, None)
    lo2 = np.clip(np.minimum(lo2, lo1), 0, None)
    hi1 = np.maximum(hi1, mean)
    hi2 = np.maximum(hi2, hi1)
    return [[round(float(v), 6) for v in a] for a in (mean, lo1, hi1, lo2, hi2)]


def _error_sd(job: _Job, cols: list[np.ndarray]) -> float:
    """Blend one-week-ahead backtest errors with the sd the first-week 80% band implies."""
    if job.kind in ("empty", "zero"):
        return 0.0
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.9)
    band = float(cols[2][0] - cols[1][0]) / (2 * z) if len(cols[0]) else 0.0
    band = band if math.isfinite(band) and band > 0 else 0.0
    tally = job.scores.get(job.chosen)
    errors = [e for e in (tally.errors if tally else []) if math.isfinite(e)]
    # two pseudo-observations of the band keep three backtest errors from ruling alone
    total = sum(e * e for e in errors) + 2 * band * band
    return math.sqrt(total / (len(errors) + 2))
