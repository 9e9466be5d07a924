"""Day runs: which days and weeks a day horizon covers, and the reconciled figures to store.

Pure helpers for models.operations.planning (no session): a day run forecasts days from its
first day and weeks from the Monday of that day's week; only the weeks that lie wholly inside
the day horizon ("complete weeks") are reconciled with their days and stored as weekly lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from forecast.hierarchy import FIELDS, Bands, Values, reconcile
from models.timeutil import week_start

QTY = Decimal("0.001")
ZERO = Decimal(0)
#: Day horizon bounds and default (a planner's four weeks).
DAY_HORIZON_DEFAULT = 28
DAY_HORIZON_MAX = 120


@dataclass(frozen=True)
class DayLayout:
    """The days of a day run and the complete weeks among them."""

    first_day: date
    days: tuple[date, ...]
    #: Monday of the week holding the first day: the weekly forecast's first week.
    week0: date
    #: Mondays of the weeks wholly inside the horizon.
    weeks: tuple[date, ...]

    @property
    def weekly_horizon(self) -> int:
        """Weeks the weekly forecast must cover (from ``week0`` to the last complete week)."""
        return (self.weeks[-1] - self.week0).days // 7 + 1 if self.weeks else 0

    def week_index(self, monday: date) -> int:
        """Position of a complete week in the weekly forecast."""
        return (monday - self.week0).days // 7

    def day_index(self, day: date) -> int:
        return (day - self.first_day).days

    @property
    def first_week(self) -> date:
        """Monday of the first complete week (the run's ``first_week``); the Monday after the horizon if none."""
        return self.weeks[0] if self.weeks else week_start(self.days[-1]) + timedelta(days=7)


def day_layout(first_day: date, horizon: int) -> DayLayout:
    days = tuple(first_day + timedelta(days=n) for n in range(horizon))
    monday = first_day if first_day.weekday() == 0 else week_start(first_day) + timedelta(days=7)
    weeks = []
    while monday + timedelta(days=6) <= days[-1]:
        weeks.append(monday)
        monday += timedelta(days=7)
    return DayLayout(first_day, days, week_start(first_day), tuple(weeks))


def qty(value: float | Decimal) -> Decimal:
    """Round a figure to a storable quantity (never negative; NaN → 0)."""
    return max(Decimal(str(value)).quantize(QTY, rounding=ROUND_HALF_UP), ZERO) if value == value else ZERO


def quantised(values: np.ndarray) -> list[Decimal]:
    """Round many figures at once to storable quantities (half up to 0.001, never negative; NaN → 0).

    What :func:`qty` does one at a time, without a str() per value (a day run stores 5 per day).
    """
    thousandths = np.floor(np.clip(np.nan_to_num(values, nan=0.0), 0.0, None) * 1000 + 0.5).astype(np.int64)
    return [Decimal(int(t)) / 1000 for t in thousandths]


Figures = dict[str, Decimal]


@dataclass(frozen=True)
class Reconciled:
    """One item × site of a day run: a figure set per horizon day, and per complete week (Σ of its days)."""

    days: list[Figures]
    weeks: list[Figures]


def _ordered(f: Figures) -> Figures:
    mean = f["mean"]
    lo80 = min(f["lo80"], mean)
    lo95 = min(f["lo95"], lo80)
    hi80 = max(f["hi80"], mean)
    return {"mean": mean, "lo80": lo80, "hi80": hi80, "lo95": lo95, "hi95": max(f["hi95"], hi80)}


def reconcile_figures(layout: DayLayout, days: Mapping[str, Values],
                      weeks: Mapping[str, Values] | None) -> Reconciled:
    """Reconcile a series' day figures with its week figures and quantise them.

    ``days[field]`` has one value per horizon day, ``weeks[field]`` one per week of the weekly
    forecast (None: no weekly forecast, days are stored as they are and no week is). A week's
    stored mean is exactly the sum of its stored day means; its bands keep the week model's width.
    """
    day_bands = Bands.of(*(days[f] for f in FIELDS))
    if weeks is None or not layout.weeks:
        out_days, out_weeks = reconcile(day_bands, Bands.of([], [], [], [], []), [])
    else:
        rows = [layout.week_index(w) for w in layout.weeks]
        week_bands = Bands.of(*([weeks[f][k] for k in rows] for f in FIELDS))
        out_days, out_weeks = reconcile(day_bands, week_bands, [layout.day_index(w) for w in layout.weeks])
    day_cols = {f: quantised(getattr(out_days, f)) for f in FIELDS}
    stored_days = [{f: day_cols[f][n] for f in FIELDS} for n in range(len(layout.days))]
    stored_weeks: list[Figures] = []
    if weeks is not None:
        week_cols = {f: quantised(getattr(out_weeks, f)) for f in FIELDS}
        for k, monday in enumerate(layout.weeks):
            start = layout.day_index(monday)
            total = sum(day_cols["mean"][start:start + 7], ZERO)
            stored_weeks.append(_ordered({**{f: week_cols[f][k] for f in FIELDS}, "mean": total}))
    return Reconciled(stored_days, stored_weeks)


def day_final(mean: Decimal, week_mean: Decimal | None, week_final: Decimal | None) -> Decimal:
    """A day's planned figure: its mean scaled by its week's planned ÷ model figure.

    A week the model put at zero but a planner did not: its planned figure is spread evenly.
    """
    if week_mean is None or week_final is None or week_final == week_mean:
        return mean
    if week_mean == ZERO:
        return qty(week_final / 7)
    return qty(mean * week_final / week_mean)


def promo_days(promos: Sequence[Any], item_id: int, site_id: int, days: Sequence[date]
               ) -> tuple[list[float], list[float]]:
    """Return (promotion on the day 0/1, expected uplift of the day) for each day."""
    own = [p for p in promos if p.active and p.item_id == item_id and p.site_id in (None, site_id)]
    on, uplift = [], []
    for day in days:
        running = [float(p.uplift) for p in own if p.starts_on <= day <= p.ends_on]
        on.append(1.0 if running else 0.0)
        uplift.append(max(running, default=0.0))
    return on, uplift
