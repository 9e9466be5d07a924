"""The engine on awkward input: never a crash, a clear warning, a sane forecast."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast.engine import METHODS, forecast_series
from forecast.methods import INTERMITTENT_METHODS, SMOOTH_METHODS
from forecast.types import Series

START = date(2023, 1, 2)


def _seasonal(weeks: int = 156, seed: int = 1, noise: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    return 60 + 35 * np.sin(2 * np.pi * t / 52) + rng.normal(0, noise, weeks)


def test_one_forecast_per_input_in_order() -> None:
    series = [Series(f"k{i}", START, tuple(_seasonal(60, i))) for i in range(3)]
    out = forecast_series(series, 4)
    assert [f.key for f in out] == ["k0", "k1", "k2"]
    for f in out:
        assert len(f.mean) == len(f.weeks) == 4
        assert f.weeks[0] == START + timedelta(weeks=60)
        assert f.baseline == "seasonal_naive"
        assert f.explanation.summary


def test_all_zero_series_gives_zeros() -> None:
    (f,) = forecast_series([Series("z", START, (0.0,) * 40)], 6)
    assert "ALL_ZERO" in f.warnings
    assert f.mean == (0.0,) * 6 and f.hi95 == (0.0,) * 6
    assert f.error_sd == 0


def test_short_history_warns_and_falls_back() -> None:
    (f,) = forecast_series([Series("s", START, (4.0, 6.0, 5.0))], 4)
    assert "SHORT_HISTORY" in f.warnings
    assert f.explanation.short_history
    assert f.method in METHODS
    assert all(math.isclose(v, 5.0) for v in f.mean)
    assert "仅供参考" in f.explanation.summary


def test_empty_history_does_not_crash() -> None:
    (f,) = forecast_series([Series("e", START, ())], 3)
    assert f.mean == (0.0, 0.0, 0.0)
    assert "SHORT_HISTORY" in f.warnings


def test_negatives_are_clipped_with_a_warning() -> None:
    values = list(_seasonal(80))
    values[10] = -25.0
    (f,) = forecast_series([Series("n", START, tuple(values))], 4)
    assert "NEGATIVE_CLIPPED" in f.warnings
    assert min(f.lo95) >= 0


def test_nan_gaps_are_filled_with_a_warning() -> None:
    values = list(_seasonal(80))
    values[5] = values[30] = float("nan")
    (f,) = forecast_series([Series("g", START, tuple(values))], 4)
    assert "GAPS_FILLED" in f.warnings
    assert all(math.isfinite(v) for v in f.mean + f.hi95)


def test_strongly_seasonal_series_picks_a_seasonal_method() -> None:
    (f,) = forecast_series([Series("season", START, tuple(_seasonal()))], 13)
    # a smooth method on the de-seasonalised series, with the yearly profile added back
    assert f.method in SMOOTH_METHODS
    assert max(f.explanation.seasonality) - min(f.explanation.seasonality) > 20
    assert any(name == "季节性" for name, _ in f.explanation.factors)
    assert "去年同期法" in f.explanation.summary


def test_seasonal_method_has_lower_mase_than_naive_on_seasonal_series() -> None:
    (f,) = forecast_series([Series("season", START, tuple(_seasonal(seed=3)))], 13)
    assert f.accuracy[f.method]["mase"] <= f.accuracy["seasonal_naive"]["mase"]
    assert f.accuracy[f.method]["mase"] < 1.0


def test_intermittent_series_picks_a_croston_family_method() -> None:
    rng = np.random.default_rng(5)
    values = (rng.random(120) < 0.2) * rng.poisson(4, 120)
    (f,) = forecast_series([Series("sparse", START, tuple(float(v) for v in values))], 8)
    assert f.method in INTERMITTENT_METHODS
    assert set(INTERMITTENT_METHODS) <= set(f.accuracy)


def test_censored_weeks_raise_the_forecast() -> None:
    rng = np.random.default_rng(9)
    values = rng.poisson(50, 60).astype(float)
    cens = np.zeros(60, dtype=bool)
    cens[-12::2] = True  # stockouts in six of the last twelve weeks: sold only a few
    values[cens] = 3.0
    as_zeros = Series("x", START, tuple(values))
    as_censored = Series("x", START, tuple(values), censored=tuple(bool(c) for c in cens))
    plain, fixed = forecast_series([as_zeros, as_censored], 4, method="auto_ets")
    assert "CENSORED_WEEKS" in fixed.warnings
    assert np.mean(fixed.mean) > np.mean(plain.mean) + 5


def test_promotion_in_horizon_raises_that_week() -> None:
    rng = np.random.default_rng(11)
    promo = np.zeros(104)
    promo[rng.choice(104, 12, replace=False)] = 1.0
    values = rng.poisson(30 + 25 * promo).astype(float)
    s = Series("p", START, tuple(values), promo=tuple(promo))
    (f,) = forecast_series([s], 4, method="auto_ets", future_promo={"p": [0, 0, 1, 0]})
    assert f.mean[2] > f.mean[1] + 10
    assert f.explanation.promo_effect[2] > 10
    assert any(name == "促销" for name, _ in f.explanation.factors)


def test_covariates_are_named_weekly_series() -> None:
    rng = np.random.default_rng(2)
    temp = {START + timedelta(weeks=i): float(rng.normal(20, 5)) for i in range(84)}
    values = [40 + 2 * (temp[START + timedelta(weeks=i)] - 20) + rng.normal(0, 1) for i in range(80)]
    (f,) = forecast_series([Series("c", START, tuple(values))], 4, method="auto_ets", covariates={"气温": temp})
    assert any(name == "气温" for name, _ in f.explanation.factors)


def test_unknown_holiday_year_warns() -> None:
    start = date(2026, 1, 5)  # 40 weeks of 2026, then a horizon reaching into 2027
    (f,) = forecast_series([Series("u", start, tuple(_seasonal(40)))], 20)
    assert "HOLIDAY_CALENDAR_UNKNOWN" in f.warnings


def test_forced_method_is_used() -> None:
    (f,) = forecast_series([Series("f", START, tuple(_seasonal(80)))], 4, method="auto_theta")
    assert f.method == "auto_theta"
    assert set(f.accuracy) == {"auto_theta", "seasonal_naive"}


def test_unknown_method_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        forecast_series([Series("f", START, (1.0,))], 4, method="prophet")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.floats(-5, 500, allow_nan=False), st.just(0.0), st.just(float("nan"))),
             min_size=0, max_size=70),
    st.integers(1, 6),
)
def test_intervals_are_ordered(values: list[float], horizon: int) -> None:
    (f,) = forecast_series([Series("h", START, tuple(values))], horizon, backtest_folds=2)
    for lo95, lo80, mean, hi80, hi95 in zip(f.lo95, f.lo80, f.mean, f.hi80, f.hi95, strict=True):
        assert 0 <= lo95 <= lo80 <= mean <= hi80 <= hi95
        assert math.isfinite(hi95)
    assert math.isfinite(f.error_sd) and f.error_sd >= 0


def test_mismatched_flags_and_all_censored_history_do_not_crash() -> None:
    values = tuple(float(v) for v in _seasonal(30))
    odd = Series("odd", START, values, censored=(True,) * 10, promo=(1.0,) * 50)
    blind = Series("blind", START, values, censored=(True,) * 30)
    f1, f2 = forecast_series([odd, blind], 4)
    assert "INPUT_LENGTH_MISMATCH" in f1.warnings
    assert "CENSORED_WEEKS" in f2.warnings
    assert min(f2.mean) >= 0 and all(math.isfinite(v) for v in f2.hi95)


def test_stockout_weeks_are_not_scored() -> None:
    values = _seasonal(120, seed=8)
    cens = np.zeros(120, dtype=bool)
    cens[-20:] = True  # the whole backtest window is censored: nothing honest to score
    values[cens] = 0.0
    (f,) = forecast_series([Series("c", START, tuple(values), censored=tuple(bool(c) for c in cens))], 4)
    assert f.accuracy and all(math.isnan(m["mase"]) for m in f.accuracy.values())


def test_baseline_forecast_repeats_last_season() -> None:
    values = tuple(float(v) for v in range(1, 105))
    (f,) = forecast_series([Series("b", START, values)], 3, method="auto_ets", use_holidays=False)
    assert f.baseline_mean == (53.0, 54.0, 55.0)
