"""Week features from the Chinese calendar."""

from __future__ import annotations

from datetime import date

import chinese_calendar

from forecast.calendar import LUNAR_NEW_YEAR, calendar_features, feature_matrix, week_features


def test_spring_festival_2026_week_has_holiday_days() -> None:
    # 初一 is Tuesday 17 Feb 2026; the statutory break runs 15–23 Feb
    feat = week_features(date(2026, 2, 16))
    assert feat.spring_festival
    assert feat.holiday_days >= 5
    assert "Spring Festival" in feat.holidays
    assert 0 < feat.holiday_fraction <= 1


def test_ordinary_weekends_are_not_holidays() -> None:
    feat = week_features(date(2026, 3, 9))
    assert feat.holiday_days == 0
    assert not feat.spring_festival and not feat.pre_spring_festival


def test_pre_festival_weeks_precede_the_eve() -> None:
    assert week_features(date(2026, 2, 2)).pre_spring_festival
    assert not week_features(date(2026, 2, 16)).pre_spring_festival


def test_solar_terms_are_named() -> None:
    assert "清明" in week_features(date(2026, 3, 30)).solar_terms + week_features(date(2026, 4, 6)).solar_terms


def test_unknown_year_gives_zero_holidays_but_keeps_spring_festival() -> None:
    feat = week_features(date(2027, 2, 1))  # chinese_calendar 1.11 has no 2027 schedule
    assert not feat.calendar_known
    assert feat.holiday_days == 0
    assert feat.spring_festival  # 除夕 2027 is 5 Feb, from the lunar table
    rows, known = feature_matrix([date(2026, 12, 28), date(2027, 1, 4)])
    assert not known and len(rows) == 2


def test_lunar_table_matches_chinese_calendar() -> None:
    for year, day in LUNAR_NEW_YEAR.items():
        if 2004 <= year <= 2026:
            assert chinese_calendar.get_holiday_detail(day) == (True, "Spring Festival"), year


def test_non_monday_is_moved_to_its_monday() -> None:
    assert calendar_features([date(2026, 2, 18)])[0].monday == date(2026, 2, 16)
