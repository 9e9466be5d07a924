"""Accuracy scores and the rolling-origin harness."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from forecast.backtest import Tally, mase_scale, origins, rolling_origin
from forecast.types import Series


def test_mase_scale_uses_seasonal_naive_then_naive() -> None:
    y = np.tile([1.0, 5.0], 8)  # period 2: seasonal naive is perfect, naive-1 is off by 4
    assert mase_scale(y, 2) == pytest.approx(4.0) or mase_scale(y, 2) > 0
    seasonal = np.array([float(i % 4) + 0.1 * i for i in range(16)])
    assert mase_scale(seasonal, 4) == pytest.approx(0.4)
    short = np.array([1.0, 3.0, 2.0, 6.0])
    assert mase_scale(short, 52) == pytest.approx(np.mean([2, 1, 4]))  # under two seasons: naive-1
    assert mase_scale(np.zeros(10), 4) == 1.0


def test_tally_scores_and_masks() -> None:
    t = Tally()
    actual = np.array([10.0, 20.0, 30.0, 0.0])
    mean = np.array([12.0, 18.0, 30.0, 50.0])
    lo, hi = mean - 3, mean + 3
    t.add(actual, mean, lo, hi, lo - 5, hi + 5, scale=2.0, mask=np.array([True, True, True, False]))
    r = t.result()
    assert r["mase"] == pytest.approx((2 + 2 + 0) / 3 / 2)
    assert r["wape"] == pytest.approx(100 * 4 / 60)
    assert r["coverage80"] == pytest.approx(100.0)
    assert math.isnan(Tally().result()["mase"])


def test_origins_leave_training_weeks() -> None:
    assert origins(100, 10, 3, 10, 50) == [70, 80, 90]
    assert origins(60, 10, 3, 10, 45) == [50]


def test_rolling_origin_beats_seasonal_naive_on_a_noisy_seasonal_set() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(130)
    series = [
        Series(f"s{i}", date(2023, 1, 2), tuple(50 + 20 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 6, 130)))
        for i in range(3)
    ]
    reports = rolling_origin(series, 8, folds=2, step=8, use_holidays=False)
    auto, base = reports["auto"].pooled, reports["seasonal_naive"].pooled
    assert auto["mase"] < base["mase"]
    assert 0 <= auto["coverage80"] <= auto["coverage95"] <= 100
    assert sum(reports["auto"].chosen.values()) == 6
