"""Calendar features per day or per week for the global model (forecast/global_model.py).

Daily rows carry the weekday, month, day of year, the current 节气 (solar term index), Chinese
statutory holidays and adjusted workdays (调休) from ``chinese_calendar``, the distance in days to
the next and from the last statutory holiday (demand moves on the days around a holiday, not only
on it), and the signed distance to Spring Festival (初一) from the lunar-new-year table in
forecast/calendar.py. Weekly rows are the same facts summed or sampled per Monday-to-Sunday week.

Where ``chinese_calendar`` has no schedule for a year the holiday columns are NaN (LightGBM treats
them as missing) rather than zero, so an unpublished year is not read as "no holidays".

Each column belongs to one human factor (:data:`FACTOR_OF`), which is how SHAP contributions
are grouped in explanations.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
import numpy as np
import pandas as pd

from forecast.calendar import LUNAR_NEW_YEAR

#: Days around a holiday that the distance features resolve; further away reads as this cap.
AROUND_CAP = 8
#: Spring Festival distance beyond this many days reads as the cap (sign kept).
FESTIVAL_CAP = 45

SEASON = "季节"
HOLIDAY = "节假日"
PROMO = "促销"
TREND = "趋势"
WEATHER = "天气"

DAILY_SEASON_COLUMNS = ("dow", "month", "dom", "doy", "solar_term")
DAILY_HOLIDAY_COLUMNS = ("cn_holiday", "cn_workday", "cn_days_to_holiday", "cn_days_after_holiday", "sf_distance")
WEEKLY_SEASON_COLUMNS = ("week", "month")
WEEKLY_HOLIDAY_COLUMNS = ("cn_holiday_days", "cn_workdays", "sf_distance_weeks")

#: Column name → human factor, for grouping SHAP contributions.
FACTOR_OF: dict[str, str] = {
    **{c: SEASON for c in DAILY_SEASON_COLUMNS + WEEKLY_SEASON_COLUMNS},
    **{c: HOLIDAY for c in DAILY_HOLIDAY_COLUMNS + WEEKLY_HOLIDAY_COLUMNS},
    "promo": PROMO,
    "price": PROMO,  # a price cut is the other promotion lever
}


def factor_of(column: str, covariate_factor: dict[str, str] | None = None) -> str:
    """Return the human factor a feature column belongs to (lags and rolling means are 趋势)."""
    if column in FACTOR_OF:
        return FACTOR_OF[column]
    if column.startswith("cov_"):
        return (covariate_factor or {}).get(column[4:], WEATHER)
    return TREND


@lru_cache(maxsize=64)
def _solar_term_starts(year: int) -> tuple[tuple[date, int], ...]:
    try:
        terms = chinese_calendar.get_solar_terms(date(year - 1, 12, 1), date(year, 12, 31))
    except (NotImplementedError, IndexError, KeyError, ValueError):
        return ()
    return tuple((d, i) for i, (d, _) in enumerate(terms))


def _solar_term(day: date) -> float:
    """Index 0..23 of the solar term in force on ``day`` (小寒 = 0), NaN if unknown."""
    starts = _solar_term_starts(day.year)
    current = float("nan")
    for start, i in starts:
        if start <= day:
            current = float(i % 24)  # the December term of last year wraps to its own index
    return current


def _statutory(day: date) -> tuple[float, float]:
    """(statutory holiday 0/1, working day 0/1) or NaNs where the year is not published."""
    try:
        rest, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return float("nan"), float("nan")
    holiday = 1.0 if rest and name is not None else 0.0  # weekends are "rest" too; only named days count
    return holiday, 0.0 if rest else 1.0


def _festival_distance(day: date) -> float:
    best: int | None = None
    for year in (day.year - 1, day.year, day.year + 1):
        new_year = LUNAR_NEW_YEAR.get(year)
        if new_year is None:
            continue
        delta = (day - new_year).days
        if best is None or abs(delta) < abs(best):
            best = delta
    if best is None:
        return float("nan")
    return float(max(-FESTIVAL_CAP, min(FESTIVAL_CAP, best)))


def daily_calendar(days: pd.DatetimeIndex, *, chinese_holidays: bool = True) -> pd.DataFrame:
    """Return one row of calendar features per day in ``days`` (index = the days, sorted)."""
    days = pd.DatetimeIndex(sorted(set(days)))
    out = pd.DataFrame(index=days)
    out["dow"] = days.dayofweek.astype("float32")
    out["month"] = days.month.astype("float32")
    out["dom"] = days.day.astype("float32")
    out["doy"] = days.dayofyear.astype("float32")
    pydays = [d.date() for d in days]
    out["solar_term"] = np.array([_solar_term(d) for d in pydays], dtype="float32")
    if not chinese_holidays:
        return out
    # distances need the holidays a little outside the requested span
    first, last = pydays[0] - timedelta(days=AROUND_CAP), pydays[-1] + timedelta(days=AROUND_CAP)
    span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    flags = np.array([_statutory(d) for d in span], dtype="float64")
    hol = flags[:, 0]
    to_next = np.full(len(span), float(AROUND_CAP))
    since = np.full(len(span), float(AROUND_CAP))
    run = float(AROUND_CAP)
    for i in range(len(span) - 1, -1, -1):
        run = 0.0 if hol[i] == 1 else min(run + 1, AROUND_CAP)
        to_next[i] = run if not np.isnan(hol[i]) else np.nan
    run = float(AROUND_CAP)
    for i in range(len(span)):
        run = 0.0 if hol[i] == 1 else min(run + 1, AROUND_CAP)
        since[i] = run if not np.isnan(hol[i]) else np.nan
    pos = {d: i for i, d in enumerate(span)}
    idx = np.array([pos[d] for d in pydays])
    out["cn_holiday"] = hol[idx].astype("float32")
    out["cn_workday"] = flags[idx, 1].astype("float32")
    out["cn_days_to_holiday"] = to_next[idx].astype("float32")
    out["cn_days_after_holiday"] = since[idx].astype("float32")
    out["sf_distance"] = np.array([_festival_distance(d) for d in pydays], dtype="float32")
    return out


def weekly_calendar(mondays: pd.DatetimeIndex, *, chinese_holidays: bool = True) -> pd.DataFrame:
    """Return one row per Monday-to-Sunday week: week of year, month, holiday/workday counts, festival."""
    mondays = pd.DatetimeIndex(sorted(set(mondays)))
    out = pd.DataFrame(index=mondays)
    out["week"] = mondays.isocalendar().week.to_numpy().astype("float32")
    out["month"] = (mondays + pd.Timedelta(days=3)).month.astype("float32")  # the Thursday's month
    if not chinese_holidays:
        return out
    rows = []
    for m in mondays:
        days = [m.date() + timedelta(days=i) for i in range(7)]
        flags = np.array([_statutory(d) for d in days])
        # NaN propagates through the sum, which is what an unpublished year should read as
        rows.append((flags[:, 0].sum(), flags[:, 1].sum(), _festival_distance(days[3]) / 7))
    arr = np.array(rows, dtype="float32").reshape(-1, 3)
    out["cn_holiday_days"] = arr[:, 0]
    out["cn_workdays"] = arr[:, 1]
    out["sf_distance_weeks"] = np.round(arr[:, 2])
    return out
