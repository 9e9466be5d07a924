"""Day/week reconciliation speed and coherence: what a day run adds after the engine.

    .venv/bin/python -m bench.reconcile [--series 10000] [--days 28]

For each generated item × site (seeded), day and week forecasts that disagree by up to ±30 % are
reconciled and quantised exactly as a day run stores them (models.operations.planning_days); the
figures are the time per call and the largest |week − Σ days| over the stored figures (0 by design).
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from decimal import Decimal

import numpy as np

from models.operations.planning_days import day_layout, reconcile_figures


def _figure(name: str, value: float | int | Decimal, unit: str = "") -> None:
    print(f"{name}: {value} {unit}".rstrip(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=28)
    args = parser.parse_args()
    rng = np.random.default_rng(15)
    layout = day_layout(date(2026, 12, 2), args.days)  # a Wednesday: a partial week first
    weeks = layout.weekly_horizon
    worst = Decimal(0)
    started = time.perf_counter()
    for _ in range(args.series):
        level = rng.gamma(2.0, 5.0)
        day = level * (1 + 0.3 * rng.standard_normal(args.days)).clip(0)
        week = 7 * level * (1 + 0.3 * rng.uniform(-1, 1, weeks))
        spread_d, spread_w = 0.4 * day + 1, 0.25 * week + 2
        days = {"mean": day, "lo80": day - spread_d, "hi80": day + spread_d, "lo95": day - 1.6 * spread_d,
                "hi95": day + 1.6 * spread_d}
        wk = {"mean": week, "lo80": week - spread_w, "hi80": week + spread_w, "lo95": week - 1.6 * spread_w,
              "hi95": week + 1.6 * spread_w}
        out = reconcile_figures(layout, days, wk)
        for k, monday in enumerate(layout.weeks):
            start = layout.day_index(monday)
            total = sum((d["mean"] for d in out.days[start:start + 7]), Decimal(0))
            worst = max(worst, abs(out.weeks[k]["mean"] - total))
    elapsed = time.perf_counter() - started
    _figure("reconcile_series", args.series, "series")
    _figure("reconcile_days", args.days, "days")
    _figure("reconcile_complete_weeks", len(layout.weeks), "weeks")
    _figure("reconcile_total", round(elapsed, 2), "s")
    _figure("reconcile_per_series", round(1000 * elapsed / args.series, 3), "ms")
    _figure("reconcile_max_week_minus_sum_of_days", worst, "units")


if __name__ == "__main__":
    main()
