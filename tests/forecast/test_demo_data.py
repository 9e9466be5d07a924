"""The demo co-op generator: deterministic and shaped like tea sales."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from forecast import demo_data
from forecast.calendar import week_features
from forecast.methods import is_intermittent


def test_generator_is_deterministic_and_varied() -> None:
    a, b = demo_data.generate(), demo_data.generate()
    assert [d.series for d in a] == [d.series for d in b]
    assert any(is_intermittent(np.asarray(d.series.values)) for d in a)
    assert any(any(d.series.censored) for d in a)
    assert any(any(p > 0 for p in d.series.promo) for d in a)
    for d in a:  # sales never exceed demand; they fall short only in stockout weeks
        for sold, want, cens in zip(d.series.values, d.demand, d.series.censored, strict=True):
            assert sold <= want and (cens or sold == want)


def test_gift_boxes_peak_before_spring_festival() -> None:
    gift = next(d for d in demo_data.generate() if d.item == "GIFT" and d.site == "HZ")
    start = gift.series.start
    pre = [v for i, v in enumerate(gift.demand) if week_features(start + timedelta(weeks=i)).pre_spring_festival]
    assert len(pre) >= 6  # three run-up weeks in each of the generated years
    assert np.mean(pre) > 1.8 * np.mean(gift.demand)
