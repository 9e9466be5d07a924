"""The engine's whole backtest menu (statistical methods + global model + ensemble) against its parts.

    .venv/bin/python -m bench.forecast_menu [--skip-public] [--skip-demo] [--skip-speed]
                                            [--series N] [--menu-series N]

Accuracy, out of sample: at each of ORIGINS rolling origins (HORIZON periods apart, the last
ending on the data's last period) every history is cut and ``forecast_series`` runs on what was
known then — its own inner backtest picks a method per series — and the forecast is scored on
what happened. Three engines on the same cuts:

- ``menu``: ``method="auto"`` with the global model and the ensemble in the menu (the default);
- ``stat``: ``method="auto"`` with the statistical menu only (menu.GLOBAL_MAX_SERIES = 0), i.e.
  the best statistical method per series as chosen by the engine's own backtest;
- ``seasonal_naive``: each forecast's ``baseline_mean``.

Data: the three public daily datasets of bench/daily_forecast.py (``load_public``: pizzaplace,
elecdaily, BirthsCDC; US data, so ``use_holidays=False`` and the US holidays/temperature come in
as covariates; the engine has no price input, so pizzaplace's price is not used) with a 28-day
horizon, and the demo co-op (forecast/demo_data.py, weekly, 13-week horizon). MASE per window is
the mean absolute error over the in-sample mean absolute seasonal difference (7 days / 52 weeks)
of the cut history, averaged over series × origins. The menu runs with the engine's default band source per frequency
(``menu.DEFAULT_BAND_SOURCE``: the global model's own conformal bands for days, the shared backtest
windows for weeks); ``_menu_backtest`` (daily) and ``_menu_conformal`` (weekly) repeat it with the
other source to compare.

Speed: 10,000 seeded weekly series × 104 weeks (bench/forecast.py's generator), 13-week horizon,
default ``forecast_series`` (the menu applies up to menu.GLOBAL_MAX_SERIES series), and the same
series with the global model forced into the menu (``--menu-series``, default 2,000, and 10,000
with ``--series``). Wall and CPU seconds (this process and its children) are both printed: the
host is shared, so wall time depends on the load printed beside it.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

import numpy as np

from bench.common import figure, note
from forecast import menu
from forecast.backtest import rolling_origin
from forecast.engine import forecast_series
from forecast.types import Forecast, Series

ORIGINS = 4
DAILY_HORIZON = 28
WEEKLY_HORIZON = 13


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _scale(history: np.ndarray, season: int) -> float:
    d = np.abs(history[season:] - history[:-season]) if len(history) > season else np.zeros(0)
    return float(d.mean()) if d.size and d.mean() > 0 else 1.0


class _Score:
    def __init__(self) -> None:
        self.mase: list[float] = []
        self.in80: list[bool] = []
        self.in95: list[bool] = []

    def add(self, actual: np.ndarray, fc: Forecast, mean: tuple[float, ...], scale: float) -> None:
        self.mase.append(float(np.mean(np.abs(actual - np.asarray(mean))) / scale))
        for store, lo, hi in ((self.in80, fc.lo80, fc.hi80), (self.in95, fc.lo95, fc.hi95)):
            store.extend(((np.asarray(lo) - 1e-9 <= actual) & (actual <= np.asarray(hi) + 1e-9)).tolist())


T = TypeVar("T")


def _with(max_series: int, bands: str | None, run: Callable[[], T]) -> T:
    """Run with the menu applied up to ``max_series`` series and the global bands from ``bands``
    (None: the engine's default per frequency)."""
    saved = menu.GLOBAL_MAX_SERIES, menu.BAND_SOURCE
    menu.GLOBAL_MAX_SERIES, menu.BAND_SOURCE = max_series, bands
    try:
        return run()
    finally:
        menu.GLOBAL_MAX_SERIES, menu.BAND_SOURCE = saved


def public_dataset(name: str, data: Mapping[str, Any]) -> None:
    """Rolling-origin figures of the menu, the statistical menu and seasonal naive on one dataset."""
    series: dict[str, tuple[date, np.ndarray]] = data["series"]
    covariates = data.get("covariates")
    scores = {k: _Score() for k in ("menu", "stat", "seasonal_naive", "menu_backtest")}
    chosen: Counter[str] = Counter()
    started, cpu0 = time.perf_counter(), _cpu()
    for o in range(ORIGINS):
        back = DAILY_HORIZON * (ORIGINS - o)
        cut = {k: (s, np.asarray(v, dtype=float)[:-back]) for k, (s, v) in series.items()}
        actual = {k: np.asarray(v, dtype=float)[len(v) - back : len(v) - back + DAILY_HORIZON]
                  for k, (s, v) in series.items()}
        batch = [Series(k, s, tuple(v.tolist())) for k, (s, v) in cut.items()]

        def run(batch: list[Series] = batch) -> list[Forecast]:
            return forecast_series(batch, DAILY_HORIZON, freq="D", covariates=covariates, use_holidays=False)

        runs = {
            "menu": _with(menu.GLOBAL_MAX_SERIES, None, run),
            "stat": _with(0, None, run),
            "menu_backtest": _with(menu.GLOBAL_MAX_SERIES, "backtest", run),
        }
        for label, fcs in runs.items():
            for fc in fcs:
                scores[label].add(actual[fc.key], fc, fc.mean, _scale(cut[fc.key][1], 7))
        for fc in runs["menu"]:
            chosen[fc.method] += 1
            scores["seasonal_naive"].add(actual[fc.key], fc, fc.baseline_mean, _scale(cut[fc.key][1], 7))
        if o == ORIGINS - 1:
            fc = runs["menu"][0]
            note(f"{name} last origin, {fc.key} ({fc.method}): {fc.explanation.summary}")
    _report(name, scores, chosen, len(series))
    figure(f"{name}_seconds", time.perf_counter() - started, "s")
    figure(f"{name}_cpu_seconds", _cpu() - cpu0, "s")


def _report(name: str, scores: Mapping[str, _Score], chosen: Counter[str], n_series: int) -> None:
    mase = {k: float(np.mean(s.mase)) for k, s in scores.items() if s.mase}
    figure(f"{name}_series", n_series, "series")
    for label in ("menu", "stat", "seasonal_naive"):
        figure(f"{name}_mase_{label}", mase[label], "", 3)
    figure(f"{name}_menu_vs_naive_pct", 100 * (1 - mase["menu"] / mase["seasonal_naive"]), "%")
    figure(f"{name}_menu_vs_stat_pct", 100 * (1 - mase["menu"] / mase["stat"]), "%")
    for label in ("menu", "stat", "menu_backtest"):
        if label in scores and scores[label].in80:
            suffix = "" if label == "menu" else f"_{label}"
            figure(f"{name}_coverage80{suffix}", 100 * float(np.mean(scores[label].in80)), "%")
            figure(f"{name}_coverage95{suffix}", 100 * float(np.mean(scores[label].in95)), "%")
    for method, count in sorted(chosen.items()):
        figure(f"{name}_chose_{method}", count, "series×origins")


def demo_weekly() -> None:
    """The same three engines on the demo co-op, through forecast.backtest.rolling_origin."""
    from forecast import demo_data

    series = [d.series for d in demo_data.generate()]
    started, cpu0 = time.perf_counter(), _cpu()
    kw: dict[str, Any] = {"folds": ORIGINS, "step": WEEKLY_HORIZON, "season_length": 52}
    with_menu = _with(menu.GLOBAL_MAX_SERIES, None,
                      lambda: rolling_origin(series, WEEKLY_HORIZON, methods=("auto", "seasonal_naive"), **kw))
    stat = _with(0, None, lambda: rolling_origin(series, WEEKLY_HORIZON, methods=("auto",), **kw))
    conformal = _with(menu.GLOBAL_MAX_SERIES, "conformal",
                      lambda: rolling_origin(series, WEEKLY_HORIZON, methods=("auto",), **kw))
    m, s, c = with_menu["auto"].pooled, stat["auto"].pooled, conformal["auto"].pooled
    n = with_menu["seasonal_naive"].pooled
    figure("demo_weekly_series", len(series), "series")
    figure("demo_weekly_mase_menu", m["mase"], "", 3)
    figure("demo_weekly_mase_stat", s["mase"], "", 3)
    figure("demo_weekly_mase_seasonal_naive", n["mase"], "", 3)
    figure("demo_weekly_menu_vs_naive_pct", 100 * (1 - m["mase"] / n["mase"]), "%")
    figure("demo_weekly_menu_vs_stat_pct", 100 * (1 - m["mase"] / s["mase"]), "%")
    for label, pooled in (("", m), ("_stat", s), ("_menu_conformal", c)):
        figure(f"demo_weekly_coverage80{label}", pooled["coverage80"], "%")
        figure(f"demo_weekly_coverage95{label}", pooled["coverage95"], "%")
    for method, count in sorted(with_menu["auto"].chosen.items()):
        figure(f"demo_weekly_chose_{method}", count, "series×origins")
    figure("demo_weekly_seconds", time.perf_counter() - started, "s")
    figure("demo_weekly_cpu_seconds", _cpu() - cpu0, "s")


def speed(n: int, max_series: int, label: str) -> None:
    """Time one weekly forecast_series call over n generated series."""
    from bench.forecast import generate

    series = generate(n, 104)
    figure(f"{label}_loadavg_1m_start", os.getloadavg()[0], "", 2)
    started, cpu0 = time.perf_counter(), _cpu()
    out = _with(max_series, None, lambda: forecast_series(series, WEEKLY_HORIZON))
    figure(f"{label}_s", time.perf_counter() - started, "s")
    figure(f"{label}_cpu_s", _cpu() - cpu0, "s")
    figure(f"{label}_loadavg_1m_end", os.getloadavg()[0], "", 2)
    chosen = Counter(fc.method for fc in out)
    figure(f"{label}_chose_global_or_ensemble", chosen["global"] + chosen["ensemble"], "series")


def _tag(k: int) -> str:
    return f"{k // 1000}k" if k % 1000 == 0 else str(k)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-public", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--series", type=int, default=10_000, help="series for the default-engine timing")
    parser.add_argument("--menu-series", type=int, nargs="*", default=[2_000],
                        help="series counts timed with the global model forced into the menu")
    args = parser.parse_args(argv)
    if not args.skip_public:
        from bench.daily_forecast import load_public

        for name, data in load_public().items():
            public_dataset(name, data)
    if not args.skip_demo:
        demo_weekly()
    if not args.skip_speed:
        figure("menu_global_max_series", menu.GLOBAL_MAX_SERIES, "series")
        speed(args.series, menu.GLOBAL_MAX_SERIES, f"weekly_{_tag(args.series)}_default")
        for k in args.menu_series:
            speed(k, 10**9, f"weekly_{_tag(k)}_global_in_menu")


if __name__ == "__main__":
    main()
