"""Week features from the Chinese calendar: statutory holidays, solar terms, Spring Festival.

Weeks are business weeks in Asia/Shanghai: Monday to Sunday, given by the Monday's local date
(callers convert UTC timestamps before calling). ``chinese_calendar`` only knows the official
holiday schedule for the years the State Council has published; for other years the holiday
features are zero and :attr:`WeekFeatures.calendar_known` is False, so the engine can warn
(``HOLIDAY_CALENDAR_UNKNOWN``). Spring Festival dates come from a lunar-new-year table instead,
because they are astronomical facts known decades ahead, and the festival is the one holiday
that moves enough (21 Jan to 20 Feb) to confuse a 52-week season.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar

#: Lunar new year's day (正月初一) per Gregorian year.
LUNAR_NEW_YEAR: dict[int, date] = {
    y: date(y, m, d)
    for y, m, d in [
        (2000, 2, 5), (2001, 1, 24), (2002, 2, 12), (2003, 2, 1), (2004, 1, 22), (2005, 2, 9),
        (2006, 1, 29), (2007, 2, 18), (2008, 2, 7), (2009, 1, 26), (2010, 2, 14), (2011, 2, 3),
        (2012, 1, 23), (2013, 2, 10), (2014, 1, 31), (2015, 2, 19), (2016, 2, 8), (2017, 1, 28),
        (2018, 2, 16), (2019, 2, 5), (2020, 1, 25), (2021, 2, 12), (2022, 2, 1), (2023, 1, 22),
        (2024, 2, 10), (2025, 1, 29), (2026, 2, 17), (2027, 2, 6), (2028, 1, 26), (2029, 2, 13),
        (2030, 2, 3), (2031, 1, 23), (2032, 2, 11), (2033, 1, 31), (2034, 2, 19), (2035, 2, 8),
        (2036, 1, 28), (2037, 2, 15), (2038, 2, 4), (2039, 1, 24), (2040, 2, 12),
    ]
}  # fmt: skip

#: Days before 初一 that count as the pre-festival (gift-buying) run-up.
PRE_FESTIVAL_DAYS = 21
#: Days from 除夕 that count as the festival itself (the statutory break is about this long).
FESTIVAL_DAYS = 8

#: Numeric feature columns :func:`feature_matrix` returns, in order.
FEATURE_COLUMNS: tuple[str, ...] = ("holiday_days", "spring_festival", "pre_spring_festival")


@dataclass(frozen=True)
class WeekFeatures:
    """Calendar facts about one Monday-to-Sunday week."""

    monday: date
    holiday_days: int  #: statutory rest days (法定节假日, not ordinary weekends) in the week
    holiday_fraction: float  #: holiday_days / 7
    holidays: tuple[str, ...]  #: English holiday names from chinese_calendar, e.g. "Spring Festival"
    solar_terms: tuple[str, ...]  #: 节气 falling in the week, e.g. ("清明",)
    spring_festival: bool  #: the week overlaps 除夕 … 初七
    pre_spring_festival: bool  #: the week lies in the three weeks before 除夕 (gift season)
    calendar_known: bool  #: chinese_calendar has the holiday schedule for every day of the week


def spring_festival(year: int) -> date | None:
    """Return lunar new year's day of ``year``, or None outside the table."""
    return LUNAR_NEW_YEAR.get(year)


def _days(monday: date) -> list[date]:
    return [monday + timedelta(days=i) for i in range(7)]


def _festival_flags(monday: date) -> tuple[bool, bool]:
    sunday = monday + timedelta(days=6)
    during = before = False
    for year in {monday.year, sunday.year}:
        new_year = spring_festival(year)
        if new_year is None:
            continue
        eve = new_year - timedelta(days=1)
        start, end = eve, eve + timedelta(days=FESTIVAL_DAYS - 1)
        during |= monday <= end and sunday >= start
        pre_start = eve - timedelta(days=PRE_FESTIVAL_DAYS)
        # a week straddling the eve counts as festival, not run-up
        before |= monday >= pre_start and sunday < eve
    return during, before


@lru_cache(maxsize=8192)
def week_features(monday: date) -> WeekFeatures:
    """Return the calendar features of the week starting on ``monday`` (a local Monday)."""
    if monday.weekday() != 0:
        monday = monday - timedelta(days=monday.weekday())
    holiday_days = 0
    names: list[str] = []
    known = True
    for day in _days(monday):
        try:
            rest, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            known = False  # year not published yet (or too old): no holiday information
            continue
        # weekends count as holidays in chinese_calendar; only named statutory days count here
        if rest and name is not None:
            holiday_days += 1
            if name not in names:
                names.append(name)
    try:
        terms = tuple(name for _, name in chinese_calendar.get_solar_terms(monday, monday + timedelta(days=6)))
    except (NotImplementedError, IndexError, KeyError, ValueError):
        terms = ()
    during, before = _festival_flags(monday)
    return WeekFeatures(
        monday=monday,
        holiday_days=holiday_days,
        holiday_fraction=holiday_days / 7,
        holidays=tuple(names),
        solar_terms=terms,
        spring_festival=during,
        pre_spring_festival=before,
        calendar_known=known,
    )


def calendar_features(mondays: Sequence[date]) -> list[WeekFeatures]:
    """Return the features of each week in ``mondays``."""
    return [week_features(m) for m in mondays]


def feature_matrix(mondays: Sequence[date]) -> tuple[list[list[float]], bool]:
    """Return rows of FEATURE_COLUMNS per week, and whether the holiday calendar knew every week."""
    rows: list[list[float]] = []
    known = True
    for feat in calendar_features(mondays):
        known &= feat.calendar_known
        rows.append([float(feat.holiday_days), float(feat.spring_festival), float(feat.pre_spring_festival)])
    return rows, known
