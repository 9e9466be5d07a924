"""freq="D": daily periods, weekly season, and ARIMA only where a previous run chose it."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from forecast.engine import forecast_series
from forecast.types import Series

START = date(2024, 3, 4)


def _daily(key: str, days: int, seed: int) -> Series:
    rng = np.random.default_rng(seed)
    weekday = np.array([8.0, 9.0, 10.0, 11.0, 14.0, 22.0, 20.0])
    values = weekday[np.arange(days) % 7] + rng.normal(0, 1.5, days)
    return Series(key, START, tuple(float(v) for v in np.clip(values, 0, None)))


def test_daily_horizon_days_follow_the_history_with_a_weekly_season() -> None:
    (f,) = forecast_series([_daily("d", 90, 1)], 14, freq="D")
    last = START + timedelta(days=89)
    assert f.freq == "D"
    assert f.weeks == tuple(last + timedelta(days=k) for k in range(1, 15))
    # the weekday pattern carries into the forecast: Saturdays well above Mondays
    sat = [m for d, m in zip(f.weeks, f.mean, strict=True) if d.weekday() == 5]
    mon = [m for d, m in zip(f.weeks, f.mean, strict=True) if d.weekday() == 0]
    assert min(sat) > max(mon) + 5
    assert f.baseline_mean[:7] == tuple(round(v, 6) for v in _daily("d", 90, 1).values[-7:])
    assert "天" in f.explanation.summary
    assert f.backtest_windows is not None and f.backtest_windows.freq == "D"
    assert f.backtest_windows.horizon == 14


def test_long_daily_history_skips_arima_unless_a_previous_run_chose_it() -> None:
    series = [_daily("a", 200, 2), _daily("b", 200, 3)]
    plain = forecast_series(series, 7, freq="D")
    assert all("auto_arima" not in f.accuracy for f in plain)
    assert all({"auto_ets", "auto_theta", "seasonal_naive"} <= set(f.accuracy) for f in plain)
    prior = forecast_series(series, 7, freq="D", prior_methods={"a": "auto_arima"})
    assert "auto_arima" in prior[0].accuracy and "auto_arima" not in prior[1].accuracy


def test_short_daily_history_may_try_arima() -> None:
    (f,) = forecast_series([_daily("s", 100, 4)], 7, freq="D")
    assert "auto_arima" in f.accuracy


def test_weekly_default_is_unchanged() -> None:
    s = Series("w", START, tuple(float(10 + (i % 4)) for i in range(60)))
    (f,) = forecast_series([s], 4)
    assert f.freq == "W"
    assert f.weeks[0] == START + timedelta(weeks=60)
    assert all(d.weekday() == 0 for d in f.weeks)
