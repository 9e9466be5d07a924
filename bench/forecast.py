"""Forecast speed: 10,000 item × site weekly series through forecast_series(method="auto").

    .venv/bin/python -m bench.forecast [--series 10000] [--weeks 104] [--horizon 13]

The series are generated (seeded): a mix of seasonal, trending, flat and intermittent demand
with some promotions and stockout weeks, 104 weeks each, so every code path is exercised.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date

import numpy as np

from bench.common import figure, note
from forecast.engine import forecast_series
from forecast.types import Series


def generate(n: int, weeks: int, seed: int = 7) -> list[Series]:
    """Return ``n`` seeded weekly series of ``weeks`` weeks each."""
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    out = []
    start = date(2024, 1, 1)
    for i in range(n):
        level = rng.uniform(2, 200)
        kind = rng.random()
        season = 1 + rng.uniform(0, 0.6) * np.sin(2 * np.pi * (t + rng.integers(52)) / 52)
        trend = 1 + rng.uniform(-0.003, 0.006) * t
        promo = (rng.random(weeks) < 0.05).astype(float)
        mu = level * season * trend * (1 + 0.5 * promo)
        # a fifth of the series are intermittent: mostly zero weeks
        values = (rng.random(weeks) < 0.25) * rng.poisson(3, weeks) if kind < 0.2 else rng.poisson(mu)
        values = values.astype(float)
        censored = rng.random(weeks) < 0.02
        values[censored] = np.floor(values[censored] * 0.5)
        out.append(Series(f"item{i}:site{i % 7}", start, tuple(values), tuple(bool(c) for c in censored),
                          tuple(promo)))
    return out


def main(argv: list[str] | None = None) -> None:
    """Time one forecast_series call over the generated series and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--horizon", type=int, default=13)
    args = parser.parse_args(argv)
    note(f"generating {args.series} series × {args.weeks} weeks")
    series = generate(args.series, args.weeks)
    load = os.getloadavg()[0]
    figure("host_loadavg_1m_start", load, "", 2)
    note(f"forecasting {args.horizon} weeks ahead, method=auto")
    started = time.perf_counter()
    results = forecast_series(series, args.horizon, method="auto")
    elapsed = time.perf_counter() - started
    chosen: dict[str, int] = {}
    for fc in results:
        chosen[fc.method] = chosen.get(fc.method, 0) + 1
    note(f"methods chosen: {chosen}")
    label = f"{args.series // 1000}k" if args.series % 1000 == 0 else str(args.series)
    figure(f"forecast_{label}_series_s", elapsed, "s")
    figure(f"forecast_{label}_series_per_s", args.series / elapsed, "series/s", 0)
    figure("host_loadavg_1m_end", os.getloadavg()[0], "", 2)


if __name__ == "__main__":
    main()
