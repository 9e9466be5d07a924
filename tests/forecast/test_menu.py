"""The backtest menu: the global model and the ensemble beside the statistical methods."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import numpy as np
import pytest

from forecast import methods as M
from forecast.engine import forecast_series
from forecast.types import Forecast, Series

STATISTICAL = ("seasonal_naive", "auto_ets", "auto_theta", "auto_arima", "croston_sba", "tsb", "adida")
#: Daily histories end here: the backtest windows span Mid-Autumn and National Day 2024.
END = date(2024, 10, 12)
DAYS = 420


def _holiday_driven(n: int, seed: int) -> tuple[list[Series], dict[str, list[float]]]:
    """Daily series where statutory holidays (×2.5) and promotions (×1.8) drive demand."""
    rng = np.random.default_rng(seed)
    start = END - timedelta(days=DAYS - 1)
    days = [start + timedelta(days=i) for i in range(DAYS + 14)]
    holiday = np.array([chinese_calendar.get_holiday_detail(d)[1] is not None
                        and chinese_calendar.is_holiday(d) for d in days], dtype=float)
    weekday = np.array([1.0, 0.9, 0.9, 1.0, 1.1, 1.3, 1.2])[[d.weekday() for d in days]]
    series, future = [], {}
    for i in range(n):
        promo = (rng.random(len(days)) < 0.06).astype(float)
        mu = rng.uniform(20, 80) * weekday * (1 + 1.5 * holiday) * (1 + 0.8 * promo)
        y = rng.poisson(mu).astype(float)
        key = f"h{i}"
        series.append(Series(key, start, tuple(y[:DAYS]), promo=tuple(promo[:DAYS])))
        future[key] = list(promo[DAYS:])
    return series, future


@pytest.fixture(scope="module")
def holiday_run() -> list[Forecast]:
    series, future = _holiday_driven(24, 1)
    return forecast_series(series, 14, freq="D", future_promo=future)


def _best_stat(f: Forecast) -> float:
    return min(v["mase"] for m, v in f.accuracy.items() if m in STATISTICAL)


def test_holiday_driven_series_choose_the_global_model_and_beat_seasonal_naive(holiday_run: list[Forecast]) -> None:
    menu = [f for f in holiday_run if f.method in M.MENU_METHODS]
    assert len(menu) >= 0.75 * len(holiday_run)
    chosen = np.mean([f.accuracy[f.method]["mase"] for f in holiday_run])
    naive = np.mean([f.accuracy["seasonal_naive"]["mase"] for f in holiday_run])
    assert chosen < 0.85 * naive
    assert all(f.accuracy[f.method]["mase"] < _best_stat(f) for f in menu)


def test_every_candidate_is_scored_on_the_same_stated_windows(holiday_run: list[Forecast]) -> None:
    for f in holiday_run:
        w = f.backtest_windows
        assert w is not None and w.freq == "D" and w.horizon == 14 and len(w.origins) == 3
        assert all((b - a).days == w.step for a, b in zip(w.origins, w.origins[1:], strict=False))
        # the last window ends on the history's last day
        assert w.origins[-1] + timedelta(days=w.horizon - 1) == END
        assert {"global", "ensemble", "seasonal_naive", "auto_ets", "auto_theta"} <= set(f.accuracy)
        points = {v["points"] for v in f.accuracy.values()}
        assert points == {3.0 * 14}


def test_global_bands_are_calibrated_on_the_backtest(holiday_run: list[Forecast]) -> None:
    cover = [f.accuracy["global"]["coverage80"] for f in holiday_run]
    assert 70 <= np.mean(cover) <= 90
    for f in holiday_run:
        assert all(lo <= m <= hi for lo, m, hi in zip(f.lo80, f.mean, f.hi80, strict=True))
        assert all(a <= b for a, b in zip(f.lo95, f.lo80, strict=True))
        assert all(a >= b for a, b in zip(f.hi95, f.hi80, strict=True))


def test_explanation_names_the_factors_of_a_global_forecast(holiday_run: list[Forecast]) -> None:
    # the horizon (Oct 13–26) holds no holiday: promotions are what moves the forecast
    promoted = [f for f in holiday_run if f.method in M.MENU_METHODS and max(f.explanation.promo_effect) > 0]
    assert promoted
    for f in promoted:
        names = [name for name, _ in f.explanation.factors]
        assert "促销" in names and set(names) <= {"节假日", "天气", "促销", "趋势", "季节"}
        assert len(f.explanation.promo_effect) == 14
        assert "主要因素" in f.explanation.summary
        values = [abs(v) for _, v in f.explanation.factors]
        assert values == sorted(values, reverse=True)


def test_promotion_days_lift_the_global_forecast(holiday_run: list[Forecast]) -> None:
    _, future = _holiday_driven(24, 1)
    for f in holiday_run:
        if f.method != "global":
            continue
        promo = np.array(future[f.key]) > 0
        effect = np.array(f.explanation.promo_effect)
        if promo.any() and (~promo).any():
            assert effect[promo].mean() > effect[~promo].mean()


def _seasonal_noise(n: int, seed: int) -> list[Series]:
    rng = np.random.default_rng(seed)
    t = np.arange(120)
    out = []
    for i in range(n):
        mu = rng.uniform(20, 60) * (1 + 0.4 * np.sin(2 * np.pi * (t + rng.integers(52)) / 52))
        out.append(Series(f"n{i}", date(2023, 1, 2), tuple(rng.poisson(mu).astype(float))))
    return out


def test_pure_seasonal_noise_does_not_need_the_global_model() -> None:
    out = forecast_series(_seasonal_noise(20, 5), 8, use_holidays=False)
    menu = [f for f in out if f.method in M.MENU_METHODS]
    # where the global model is chosen at all, the backtest says it is better
    assert all(f.accuracy[f.method]["mase"] < _best_stat(f) for f in menu)
    assert len(menu) <= len(out) // 2


def test_global_and_ensemble_can_be_forced() -> None:
    series = _seasonal_noise(6, 9)
    for method in ("global", "ensemble"):
        out = forecast_series(series, 4, method=method)
        assert {f.method for f in out} == {method}
        assert all(method in f.accuracy and len(f.mean) == 4 for f in out)
    forced = forecast_series(series, 4, method="global")
    assert all(set(f.accuracy) == {"global", "seasonal_naive"} for f in forced)


def test_covariates_used_are_the_weekly_means_of_the_daily_values() -> None:
    start = date(2024, 1, 1)
    temp = {start + timedelta(days=d): float(d % 7) + (d // 7) * 0.1 for d in range(60 * 7)}
    series = [Series(f"c{i}", start, tuple(float(10 + (w % 5) + i) for w in range(52))) for i in range(3)]
    out = forecast_series(series, 4, covariates={"temp": temp}, method="auto_ets")
    expected = tuple(round(3.0 + (52 + k) * 0.1, 6) for k in range(4))  # mean of 0..6 is 3
    for f in out:
        assert f.covariates_used["temp"] == pytest.approx(expected)


def test_weekly_covariate_uses_the_value_given_for_each_week() -> None:
    start = date(2024, 1, 1)
    weekly = {start + timedelta(weeks=w): 20.0 + w for w in range(60)}
    (f,) = forecast_series([Series("w", start, tuple(float(10 + w % 3) for w in range(52)))], 3,
                           covariates={"rain": weekly}, method="auto_ets")
    assert f.covariates_used == {"rain": (72.0, 73.0, 74.0)}
    assert forecast_series([Series("x", start, (1.0,) * 30)], 2)[0].covariates_used == {}


def test_daily_covariates_used_are_the_values_of_the_horizon_days() -> None:
    start = date(2024, 5, 1)
    temp = {start + timedelta(days=d): 15.0 + d / 10 for d in range(80)}
    (f,) = forecast_series([Series("d", start, tuple(float(5 + d % 7) for d in range(70)))], 5, freq="D",
                           covariates={"temp": temp}, method="auto_ets")
    assert f.covariates_used["temp"] == pytest.approx(tuple(15.0 + d / 10 for d in range(70, 75)))


def test_band_quantiles_cover_the_pooled_errors() -> None:
    from forecast.menu import quantiles

    rng = np.random.default_rng(3)
    resid = rng.normal(0, 1, (200, 8))
    q = quantiles(resid, (80, 95), 4)
    inside80 = ((resid >= q[80][0]) & (resid <= q[80][1])).mean()
    assert 0.78 <= inside80 <= 0.85
    assert (q[95][0] < q[80][0]).all() and (q[95][1] > q[80][1]).all()
    # too few errors in a block: every step's errors are pooled instead
    sparse = np.full((4, 8), np.nan)
    sparse[:, 0] = [-1.0, 0.0, 1.0, 2.0]
    assert quantiles(sparse, (80,), 4)[80][:, 5].tolist() == [-1.0, 2.0]


def test_summary_of_a_factorless_ensemble_reads_as_one_sentence() -> None:
    from forecast.global_model import GlobalForecast
    from forecast.menu import explanation

    flat: dict[str, tuple[float, ...]] = {f: (0.0, 0.0) for f in ("节假日", "天气", "促销", "趋势", "季节")}
    gf = GlobalForecast("k", "W", (date(2025, 1, 6), date(2025, 1, 13)), (10.0, 10.0), {}, flat, (10.0, 10.0), "")
    e = explanation(gf, 0.5, "ensemble", [10.0, 12.0], {"ensemble": {"mase": 0.5}}, False, 60, "W")
    assert e.factors == () and "。。" not in e.summary and "（全局模型部分）。" in e.summary
    assert e.level == 10.0 and e.trend == 2.0
