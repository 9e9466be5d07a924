"""Forecast accuracy: rolling-origin backtests on the demo co-op and on public series.

    .venv/bin/python -m bench.backtest [--source demo|public|all] [--no-sim]

Each origin cuts the histories, runs the whole engine (method choice included) on what was
known then, and scores the next weeks. Figures go to stdout as ``name: value unit``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from typing import Any

import numpy as np

from forecast import demo_data
from forecast.backtest import rolling_origin
from forecast.replenish import simulate_policy
from forecast.types import Series

try:  # bench.common pulls in the database stack; the figures only need two helpers
    from bench.common import figure, note
except Exception:  # pragma: no cover - keep the harness usable without the DB dependencies

    def figure(name: str, value: float | int, unit: str = "", digits: int = 1) -> None:
        shown = str(value) if isinstance(value, int) else f"{value:.{digits}f}"
        print(f"{name}: {shown} {unit}".rstrip(), flush=True)

    def note(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)


#: name → (loader, season length, horizon, origins, step). Only series bundled in the pmdarima
#: wheel: load_gasoline fetches from the web on first use, and nothing may download at run time.
PUBLIC: dict[str, tuple[str, int, int, int, int]] = {
    "wineind": ("load_wineind", 12, 12, 8, 6),
    "airpassengers": ("load_airpassengers", 12, 12, 6, 6),
    "ausbeer": ("load_ausbeer", 4, 8, 8, 4),
    "woolyrnq": ("load_woolyrnq", 4, 8, 8, 4),
}


def _report(prefix: str, reports: dict[str, Any]) -> None:
    auto, base = reports["auto"].pooled, reports["seasonal_naive"].pooled
    figure(f"{prefix}_mase_auto", auto["mase"], "ratio", 3)
    figure(f"{prefix}_mase_seasonal_naive", base["mase"], "ratio", 3)
    figure(f"{prefix}_mase_improvement_vs_naive", 100 * (1 - auto["mase"] / base["mase"]), "%")
    figure(f"{prefix}_wape_auto", auto["wape"], "%")
    figure(f"{prefix}_wape_seasonal_naive", base["wape"], "%")
    figure(f"{prefix}_coverage80", auto["coverage80"], "%")
    figure(f"{prefix}_coverage95", auto["coverage95"], "%")
    figure(f"{prefix}_coverage80_seasonal_naive", base["coverage80"], "%")
    note(f"{prefix}: methods chosen {reports['auto'].chosen}")


def run_public() -> None:
    """Backtest each public pmdarima series on its own."""
    from pmdarima import datasets

    note("gasoline (weekly) skipped: pmdarima 2.1.1 downloads it on first use instead of shipping it")
    for name, (loader, season, horizon, folds, step) in PUBLIC.items():
        values = np.asarray(getattr(datasets, loader)(), dtype=float)
        # the engine works on weekly indices; a month or quarter is just one period here
        series = [Series(key=name, start=date(2000, 1, 3), values=tuple(values))]
        started = time.perf_counter()
        reports = rolling_origin(
            series, horizon, folds=folds, step=step, season_length=season, use_holidays=False,
            min_train=2 * season + horizon,
        )
        note(f"public {name}: {len(values)} periods, season {season}, {time.perf_counter() - started:.1f}s")
        _report(f"public_{name}", reports)


def run_demo(simulate: bool = True) -> None:
    """Backtest the demo co-op (stockout weeks unscored) and simulate replenishment on it."""
    demo = demo_data.generate()
    series = [d.series for d in demo]
    started = time.perf_counter()
    reports = rolling_origin(series, 13, folds=4, step=13, season_length=52)
    note(f"demo: {len(series)} series × {len(series[0].values)} weeks, {time.perf_counter() - started:.1f}s")
    _report("demo", reports)
    smooth = [d for d in demo if d.item not in ("TEASET", "PREMIUM")]
    sparse = [d for d in demo if d.item in ("TEASET", "PREMIUM")]
    for label, group in (("smooth", smooth), ("intermittent", sparse)):
        keys = {d.series.key for d in group}
        sub = {m: _subset(r, keys) for m, r in reports.items()}
        figure(f"demo_{label}_mase_auto", sub["auto"], "ratio", 3)
        figure(f"demo_{label}_mase_seasonal_naive", sub["seasonal_naive"], "ratio", 3)
        figure(f"demo_{label}_coverage80", _subset(reports["auto"], keys, "coverage80"), "%")
    if not simulate:
        return
    started = time.perf_counter()
    sim = simulate_policy(
        series, demand=[d.demand for d in demo], warmup_weeks=104, lead_time_weeks=2, review_weeks=1,
        service_level=0.95, refit_every=4,
    )
    note(f"simulation: {sim.series} series × {sim.weeks} weeks, {time.perf_counter() - started:.1f}s")
    for name, result in (("forecast", sim.forecast), ("minmax", sim.minmax),
                         ("minmax_same_stock", sim.minmax_same_stock)):
        figure(f"demo_sim_stockout_rate_{name}", 100 * result.stockout_rate, "%")
        figure(f"demo_sim_avg_stock_{name}", result.average_stock, "units")
        figure(f"demo_sim_fill_rate_{name}", 100 * result.fill_rate, "%")
    note(f"min/max levels scaled ×{sim.minmax_same_stock.scale:.2f} to hold the forecast policy's stock")


def _subset(report: Any, keys: set[str], metric: str = "mase") -> float:
    """Return the mean over ``keys`` of one per-series metric."""
    values = [r[metric] for k, r in report.per_series.items() if k in keys]
    return float(np.nanmean(values)) if values else float("nan")


def main(argv: list[str] | None = None) -> None:
    """Run the selected backtests and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("demo", "public", "all"), default="all")
    parser.add_argument("--no-sim", action="store_true", help="skip the replenishment simulation")
    args = parser.parse_args(argv)
    if args.source in ("public", "all"):
        run_public()
    if args.source in ("demo", "all"):
        run_demo(simulate=not args.no_sim)


if __name__ == "__main__":
    main()
