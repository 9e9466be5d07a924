"""The global LightGBM model (forecast/global_model.py) on seeded synthetic data with known effects."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import numpy as np
import pandas as pd
import pytest

from forecast.features import daily_calendar, weekly_calendar
from forecast.global_model import GlobalSeries, _quantiles, explanation_text, forecast_global

START = date(2023, 1, 2)  # a Monday
HISTORY = 630  # ends 2024-09-23: the 28-day horizon holds National Day (1–7 Oct 2024)
H = 28
DOW = np.array([1.0, 0.95, 1.0, 1.05, 1.2, 1.5, 1.4])


def _statutory(d: date) -> bool:
    rest, name = chinese_calendar.get_holiday_detail(d)
    return bool(rest and name)


def _daily(n_series: int, seed: int, *, holiday_lift: float = 0.8, promo_lift: float = 0.6, noise: float = 0.08):
    rng = np.random.default_rng(seed)
    days = [START + timedelta(days=i) for i in range(HISTORY + H)]
    dow = DOW[[d.weekday() for d in days]]
    hol = np.array([_statutory(d) for d in days], dtype=float)
    series, promo, truth = [], {}, {}
    for k in range(n_series):
        level = rng.uniform(20, 200)
        p = (rng.random(len(days)) < 0.07).astype(float)
        mu = level * dow * (1 + holiday_lift * hol) * (1 + promo_lift * p)
        y = np.maximum(mu + rng.normal(0, noise * level, len(days)), 0)
        key = f"item{k}"
        series.append(GlobalSeries(key, START, tuple(y[:HISTORY])))
        promo[key] = dict(zip(days, p, strict=True))
        truth[key] = (y[HISTORY:], mu[HISTORY:], p[HISTORY:], level)
    return series, promo, truth, days


def _mase(y: np.ndarray, fc: np.ndarray, history: np.ndarray, m: int = 7) -> float:
    return float(np.mean(np.abs(y - fc)) / np.mean(np.abs(history[m:] - history[:-m])))


@pytest.fixture(scope="module")
def daily_run():
    series, promo, truth, days = _daily(24, seed=3)
    return series, promo, truth, days, forecast_global(series, H, freq="D", promo=promo)


def test_calendar_features_mark_holidays_and_the_days_around_them() -> None:
    cal = daily_calendar(pd.date_range("2024-09-28", "2024-10-13"))
    assert cal.loc["2024-10-01", "cn_holiday"] == 1
    assert cal.loc["2024-09-30", "cn_days_to_holiday"] == 1
    assert cal.loc["2024-10-09", "cn_days_after_holiday"] == 2
    assert cal.loc["2024-10-12", "cn_workday"] == 1  # a Saturday worked in lieu (调休)
    assert cal.loc["2024-10-13", "cn_workday"] == 0
    assert cal.loc["2024-09-29", "cn_workday"] == 1  # a Sunday worked in lieu (调休)
    unknown = daily_calendar(pd.date_range("2031-01-01", periods=3))
    assert unknown["cn_holiday"].isna().all()  # an unpublished year is missing, not "no holiday"
    assert daily_calendar(pd.DatetimeIndex(["2024-02-10"])).loc["2024-02-10", "sf_distance"] == 0
    weeks = weekly_calendar(pd.DatetimeIndex(["2024-09-30"]))
    assert weeks.loc["2024-09-30", "cn_holiday_days"] == 6  # 1–6 October
    assert weeks.loc["2024-09-30", "cn_workdays"] == 1


def test_daily_beats_seasonal_naive_out_of_sample_with_holiday_and_promotion(daily_run) -> None:
    series, _, truth, _, out = daily_run
    ours, naive = [], []
    for s, f in zip(series, out, strict=True):
        y = truth[s.key][0]
        hist = np.array(s.values)
        assert len(f.mean) == H and f.dates[0] == START + timedelta(days=HISTORY)
        ours.append(_mase(y, np.array(f.mean), hist))
        naive.append(_mase(y, np.resize(hist[-7:], H), hist))
    assert np.mean(ours) < 0.7 * np.mean(naive)


def test_bands_cover_at_roughly_the_nominal_rate(daily_run) -> None:
    _, _, truth, _, out = daily_run
    hits: dict[int, list[bool]] = {80: [], 95: []}
    for f in out:
        y = truth[f.key][0]
        for level in hits:
            lo, hi = (np.array(b) for b in f.bands[level])
            assert np.all(lo <= np.array(f.mean) + 1e-9) and np.all(np.array(f.mean) <= hi + 1e-9)
            hits[level].extend(((lo <= y) & (y <= hi)).tolist())
    assert 0.65 <= np.mean(hits[80]) <= 0.93
    assert 0.85 <= np.mean(hits[95]) <= 1.0
    assert np.mean(hits[95]) > np.mean(hits[80])


def _noise_regimes(seed: int, per_group: int = 15, history: int = 420):
    """Four groups of series: steady low noise, steady high noise, noise that tripled and noise that
    fell to a third 120 days before the end (the last 56 days and the horizon are in the new regime)."""
    rng = np.random.default_rng(seed)
    t = np.arange(history + H)
    groups = {"low": (0.05, 0.05), "high": (0.25, 0.25), "rising": (0.08, 0.24), "falling": (0.24, 0.08)}
    series, truth, group = [], {}, {}
    for name, (before, after) in groups.items():
        for i in range(per_group):
            level = rng.uniform(20, 300)
            cv = np.where(t < history - 120, before, after)
            mu = level * DOW[t % 7] * (1 + 0.2 * np.sin(2 * np.pi * (t / 365 + rng.random())))
            y = np.maximum(mu + rng.normal(0, 1, len(t)) * cv * level, 0)
            key = f"{name}{i}"
            series.append(GlobalSeries(key, START, tuple(y[:history])))
            truth[key], group[key] = y[history:], name
    return series, truth, group


def test_bands_are_calibrated_per_series_across_noise_levels_and_regime_changes() -> None:
    # Pooled signed quantiles on whole-history noise gave 58–60 % for the rising group and 99–100 %
    # for the falling one; a missing per-series scale would split the low and high groups the same way.
    series, truth, group = _noise_regimes(seed=2)
    out = forecast_global(series, H, freq="D", chinese_holidays=False, explain=False)
    hits: dict[tuple[str, int], list[bool]] = {}
    for f in out:
        y = truth[f.key]
        for level in (80, 95):
            lo, hi = (np.array(b) for b in f.bands[level])
            assert (
                np.allclose(np.array(f.mean) - lo, hi - np.array(f.mean)) or lo.min() == 0
            )  # symmetric unless clipped
            hits.setdefault((group[f.key], level), []).extend(((lo <= y) & (y <= hi)).tolist())
    cover = {k: float(np.mean(v)) for k, v in hits.items()}
    for name in ("low", "high", "rising", "falling"):
        assert 0.68 <= cover[(name, 80)] <= 0.90, (name, cover)
        assert cover[(name, 95)] >= 0.85 and cover[(name, 95)] > cover[(name, 80)], (name, cover)
    overall = np.mean([h for (_, level), v in hits.items() if level == 80 for h in v])
    assert 0.74 <= overall <= 0.86


def test_conformal_quantile_takes_the_finite_sample_rank() -> None:
    # ⌈(n+1)·level⌉-th smallest of n scores: 9 scores → the 8th for 80 %, the largest for 95 %
    q = _quantiles(np.arange(1.0, 10.0), np.zeros(9, dtype=int), (80, 95), block=7, horizon=3)
    assert q[80].tolist() == [8.0, 8.0, 8.0]
    assert q[95].tolist() == [9.0, 9.0, 9.0]
    # 40 scores per horizon week: each week gets its own quantile (⌈41·0.8⌉ = 33rd)
    scores = np.concatenate([np.arange(1.0, 41.0), 10 * np.arange(1.0, 41.0)])
    steps = np.concatenate([np.zeros(40, dtype=int), np.full(40, 7)])
    q = _quantiles(scores, steps, (80,), block=7, horizon=14)
    assert q[80][0] == 33.0 and q[80][7] == 330.0


def test_explanation_attributes_promotion_lift_to_promotion(daily_run) -> None:
    _, _, truth, _, out = daily_run
    attributed, lifts, top = [], [], []
    for f in out:
        _, mu, p, _ = truth[f.key]
        for step in np.flatnonzero(p):
            by_factor = {k: v[step] for k, v in f.contributions.items()}
            attributed.append(by_factor["促销"])
            lifts.append(mu[step] - mu[step] / 1.6)  # the true promotion lift that day
            top.append(max(by_factor, key=lambda k: by_factor[k]) == "促销")
        assert set(f.contributions) >= {"节假日", "天气", "促销", "趋势", "季节"}
        # base + contributions reproduce the point forecast (SHAP is additive)
        total = np.array(f.base) + sum(np.array(v) for v in f.contributions.values())
        assert np.allclose(np.clip(total, 0, None), f.mean, atol=1e-6 * max(f.mean))
        assert f.explanation.startswith("主要因素：")
    assert len(attributed) >= 10
    ratio = np.sum(attributed) / np.sum(lifts)
    assert 0.5 < ratio < 1.5
    assert np.mean(top) > 0.6


def test_holiday_is_named_in_the_explanation_of_a_holiday_week(daily_run) -> None:
    _, _, _, _, out = daily_run
    national_day = [i for i, d in enumerate(out[0].dates) if date(2024, 10, 1) <= d <= date(2024, 10, 7)]
    holiday = np.array([np.sum(np.array(f.contributions["节假日"])[national_day]) for f in out])
    assert np.all(holiday > 0)


def test_deterministic() -> None:
    series, promo, _, _ = _daily(6, seed=5)
    a = forecast_global(series, 14, freq="D", promo=promo, n_windows=1)
    b = forecast_global(series, 14, freq="D", promo=promo, n_windows=1)
    assert [f.mean for f in a] == [f.mean for f in b]
    assert [f.bands for f in a] == [f.bands for f in b]


def test_weekly_forecasts_with_yearly_season() -> None:
    rng = np.random.default_rng(8)
    weeks = 156
    t = np.arange(weeks + 13)
    series, truth = [], {}
    for k in range(20):
        level = rng.uniform(50, 500)
        y = level * (1 + 0.4 * np.sin(2 * np.pi * t / 52 + k)) + rng.normal(0, 0.05 * level, len(t))
        series.append(GlobalSeries(f"w{k}", START, tuple(y[:weeks])))
        truth[f"w{k}"] = y[weeks:]
    out = forecast_global(series, 13, freq="W")
    ours, naive = [], []
    for s, f in zip(series, out, strict=True):
        assert len(f.mean) == 13 and all(d.weekday() == 0 for d in f.dates)
        assert f.dates[0] == START + timedelta(weeks=weeks)
        assert f.backtest_mase is not None
        hist = np.array(s.values)
        ours.append(_mase(truth[s.key], np.array(f.mean), hist, 52))
        naive.append(_mase(truth[s.key], hist[-52:-39], hist, 52))
        lo, hi = f.bands[80]
        assert all(a <= b for a, b in zip(lo, hi, strict=True))
    assert np.mean(ours) < np.mean(naive)


def test_a_covariate_with_future_values_is_used() -> None:
    rng = np.random.default_rng(4)
    n = 500
    days = [START + timedelta(days=i) for i in range(n + H)]
    temp = 20 + 8 * rng.standard_normal(len(days))  # weather unrelated to the calendar: only the covariate tells
    series, truth = [], {}
    for k in range(10):
        level = rng.uniform(50, 150)
        y = level * (1 + 0.03 * (temp - 20)) + rng.normal(0, 0.03 * level, len(days))
        series.append(GlobalSeries(f"c{k}", START, tuple(y[:n])))
        truth[f"c{k}"] = y[n:]
    weather = {"temperature": dict(zip(days, temp, strict=True))}
    with_cov = forecast_global(series, H, freq="D", covariates=weather, chinese_holidays=False)
    without = forecast_global(series, H, freq="D", chinese_holidays=False)

    def err(out):
        return np.mean([np.mean(np.abs(np.array(f.mean) - truth[f.key])) for f in out])

    assert err(with_cov) < 0.5 * err(without)
    future = temp[n:]
    for f in with_cov:
        weather_part = np.array(f.contributions["天气"])
        assert np.corrcoef(weather_part, future)[0, 1] > 0.8
    assert "天气" in with_cov[0].explanation


def test_per_series_covariates_and_factor_names() -> None:
    series, promo, _, days = _daily(4, seed=9)
    footfall = {s.key: {d: 1.0 for d in days} for s in series}
    out = forecast_global(
        series,
        7,
        freq="D",
        promo=promo,
        covariates={"footfall": footfall},
        covariate_factor={"footfall": "客流"},
        n_windows=1,
    )
    assert "客流" in out[0].contributions


def test_explanation_text() -> None:
    text = explanation_text({"节假日": [12.0], "促销": [8.0], "季节": [0.2]}, 100.0)
    assert text == "主要因素：节假日 +12%，促销 +8%"
    assert explanation_text({}, 0.0) == "预测为零：近期无需求。"


def test_rejects_bad_input() -> None:
    s = GlobalSeries("a", START, (1.0,) * 60)
    with pytest.raises(ValueError):
        forecast_global([s, s], 7)
    with pytest.raises(ValueError):
        forecast_global([s], 7, freq="M")
    assert forecast_global([], 7) == []
