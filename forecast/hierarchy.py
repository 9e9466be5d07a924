"""Day/week coherence: reconcile the 7 day forecasts of a week with the week's own forecast.

Why: a day run forecasts days (for the shop) and weeks (for ordering) with separate models, and
a planner must never see a week that is not the sum of its days. OLS reconciliation over the
two-level hierarchy (7 days + their week, summing matrix S) has a closed form: with y = (d, w),
the reconciled days are d + (w − Σd)/8, and the week is their sum. Each level's bands are
shifted by the same amount as its mean (the width each model measured is kept), then put back
in order (lo95 ≤ lo80 ≤ mean ≤ hi80 ≤ hi95) and clipped at zero. A day clipped at zero lowers
the week with it, so the week stays the sum of its days.

Pure numpy; nothing here knows items, sites or the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DAYS = 7
#: Figures per period: a list or an array.
Values = Sequence[float] | np.ndarray
#: Band names in the order the arrays are kept.
FIELDS = ("mean", "lo80", "hi80", "lo95", "hi95")


@dataclass(frozen=True)
class Bands:
    """A mean and its 80 %/95 % bands per period (any number of periods)."""

    mean: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray

    @classmethod
    def of(cls, mean: Values, lo80: Values, hi80: Values, lo95: Values, hi95: Values) -> Bands:
        return cls(*(np.nan_to_num(np.asarray(v, dtype=float), nan=0.0) for v in (mean, lo80, hi80, lo95, hi95)))

    def shifted(self, delta: np.ndarray | float) -> Bands:
        """Every band moved by ``delta`` (the mean's change), then ordered and clipped at zero."""
        return ordered(Bands(*(getattr(self, f) + delta for f in FIELDS)))


def ordered(b: Bands) -> Bands:
    """Clip at zero and force lo95 ≤ lo80 ≤ mean ≤ hi80 ≤ hi95."""
    mean = np.clip(b.mean, 0.0, None)
    lo80 = np.clip(np.minimum(b.lo80, mean), 0.0, None)
    lo95 = np.clip(np.minimum(b.lo95, lo80), 0.0, None)
    hi80 = np.maximum(b.hi80, mean)
    hi95 = np.maximum(b.hi95, hi80)
    return Bands(mean, lo80, hi80, lo95, hi95)


def reconcile_week(days: Bands, week: Bands) -> tuple[Bands, Bands]:
    """Reconcile 7 day forecasts with one week forecast (arrays of length 7 and 1).

    Return (days, week): reconciled days, and the week whose mean is exactly their sum.
    """
    if len(days.mean) != DAYS or len(week.mean) != 1:
        raise ValueError("reconcile_week needs 7 days and 1 week")
    return reconcile(days, week, [0])


def reconcile(days: Bands, weeks: Bands, starts: Sequence[int]) -> tuple[Bands, Bands]:
    """Reconcile every complete week of a day horizon (vectorised over the weeks).

    ``starts[k]`` is the index in ``days`` of the Monday of week ``k`` of ``weeks``; each must be
    followed by 7 days, and weeks must not overlap. Days outside those weeks are returned ordered
    but otherwise unchanged.
    """
    n = len(days.mean)
    first = np.asarray(starts, dtype=int).reshape(-1)
    if len(first) != len(weeks.mean):
        raise ValueError("one start index per week")
    if len(first) and (first.min() < 0 or first.max() + DAYS > n):
        raise ValueError("a week is not complete in the day horizon")
    members = first[:, None] + np.arange(DAYS)  # weeks × 7 day indexes
    gap = weeks.mean - days.mean[members].sum(axis=1)
    delta = np.zeros(n)
    delta[members] = (gap / (DAYS + 1))[:, None]
    new_days = days.shifted(delta)
    total = new_days.mean[members].sum(axis=1)
    # each week's own bands move by as much as its mean did, then centre on the sum exactly
    moved = weeks.shifted(total - weeks.mean)
    return new_days, ordered(Bands(total, moved.lo80, moved.hi80, moved.lo95, moved.hi95))


def week_means(values: Sequence[float], starts: Sequence[int]) -> list[float]:
    """The mean of ``values`` over each 7-day week (for covariates used: one value per week)."""
    arr = np.asarray(values, dtype=float)
    return [float(arr[s : s + DAYS].mean()) if s + DAYS <= len(arr) else float("nan") for s in starts]
