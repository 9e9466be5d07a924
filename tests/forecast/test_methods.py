"""The engine's speed-up of statsforecast's interval quantiles must not change a number."""

from __future__ import annotations

import numpy as np
import statsforecast.utils as sf_utils

from forecast import methods


def test_normal_quantiles_match_scipy_and_other_distributions_are_untouched():
    levels = np.array([50, 80, 90, 95, 99])
    np.testing.assert_allclose(methods._normal_quantiles(levels), methods._scipy_quantiles(levels), rtol=1e-12)
    assert sf_utils._quantiles is methods._normal_quantiles  # the pinned version gets the fast path
    t = methods._normal_quantiles(levels, "t", {"df": 3})
    np.testing.assert_allclose(t, methods._scipy_quantiles(levels, "t", {"df": 3}))
    assert t[-1] > methods._normal_quantiles(levels)[-1]  # heavier tails than the normal
