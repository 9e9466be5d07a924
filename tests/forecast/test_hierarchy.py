"""Day/week reconciliation: the closed form, the sum, band order and zero floor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.hierarchy import Bands, reconcile, reconcile_week, week_means


def _bands(mean, width=1.0):
    m = np.asarray(mean, dtype=float)
    return Bands.of(m, m - width, m + width, m - 2 * width, m + 2 * width)


def test_closed_form_moves_each_day_by_an_eighth_of_the_gap():
    days, week = reconcile_week(_bands([10] * 7), _bands([78]))
    # gap 8 → each day +1, week = 77 (the OLS compromise between 70 and 78)
    assert np.allclose(days.mean, 11) and week.mean[0] == pytest.approx(77)
    assert np.allclose(days.hi80 - days.mean, 1) and week.hi95[0] - week.mean[0] == pytest.approx(2)


def test_agreeing_levels_are_left_alone():
    days, week = reconcile_week(_bands([1, 2, 3, 4, 5, 6, 7]), _bands([28]))
    assert np.allclose(days.mean, [1, 2, 3, 4, 5, 6, 7]) and week.mean[0] == pytest.approx(28)


def test_a_day_pushed_below_zero_is_clipped_and_the_week_follows():
    days, week = reconcile_week(_bands([0, 0, 0, 0, 0, 0, 70], 0.5), _bands([6]))
    assert (days.mean >= 0).all() and (days.lo95 >= 0).all()
    assert week.mean[0] == pytest.approx(days.mean.sum())


def test_only_complete_weeks_are_reconciled():
    days = _bands([5.0] * 10)
    new_days, weeks = reconcile(days, _bands([43.0]), [2])
    assert np.allclose(new_days.mean[:2], 5) and np.allclose(new_days.mean[9:], 5)
    assert weeks.mean[0] == pytest.approx(new_days.mean[2:9].sum())
    with pytest.raises(ValueError):
        reconcile(days, _bands([43.0]), [4])


def test_week_means_of_covariates():
    assert week_means(list(range(14)), [0, 7]) == [3.0, 10.0]


finite = st.floats(min_value=-50, max_value=500, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=7, max_size=7), finite, st.lists(st.floats(0, 50), min_size=4, max_size=4))
def test_reconciled_weeks_sum_their_days_and_bands_stay_ordered(day_means, week_mean, widths):
    a, b, c, e = widths
    d = np.asarray(day_means)
    days = Bands.of(d, d - a, d + b, d - a - c, d + b + e)
    week = Bands.of([week_mean], [week_mean - 3 * a], [week_mean + 3 * b], [week_mean - 4 * a - c],
                    [week_mean + 4 * b + e])
    rd, rw = reconcile_week(days, week)
    assert rw.mean[0] == pytest.approx(rd.mean.sum(), abs=1e-9)
    for bands in (rd, rw):
        assert (bands.lo95 >= 0).all()
        assert (bands.lo95 <= bands.lo80 + 1e-12).all() and (bands.lo80 <= bands.mean + 1e-12).all()
        assert (bands.mean <= bands.hi80 + 1e-12).all() and (bands.hi80 <= bands.hi95 + 1e-12).all()
