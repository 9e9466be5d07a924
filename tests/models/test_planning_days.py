"""Day runs: day lines reconciled with their weeks (each weekly line the sum of its days), overrides
carried to the days, covariates used in the explanation, frequency validation, idempotent replay."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import forecasting
from models.errors import IdempotencyConflict, ValidationError
from models.operations.forecast_overrides import CancelOverride, OverrideForecast, cancel_override, override_forecast
from models.operations.planning import (
    RunForecast,
    SetPlanningSettings,
    UploadCovariate,
    prior_methods,
    run_forecast,
    set_planning_settings,
    upload_covariate,
)
from models.operations.planning_days import QTY, day_layout
from models.planning import ForecastDayLine, ForecastLine, ForecastRun, RunFrequency
from models.uow import run
from tests.models.planning_fakes import at, fake_engine, fake_forecast_series, monday, receive, ship  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_engine")

#: A Wednesday in the past: 2 days before its first complete week.
AS_OF = monday(1) + timedelta(days=2)


def _daily_history(session_factory, demo, actors, per_day=2, days=28):
    """Receive stock the day before, then ship ``per_day`` on each of the ``days`` days before AS_OF."""
    first = AS_OF - timedelta(days=days)
    receive(session_factory, demo, actors, "MD", per_day * days + 50, at(first - timedelta(days=1)))
    for n in range(days):
        ship(session_factory, demo, actors, "MD", per_day, at(first + timedelta(days=n)))


def _day_run(session_factory, actors, **kw):
    return run(session_factory, run_forecast, actors["赵经理"], RunForecast(frequency="day", as_of=AS_OF, **kw))


def _stored(session_factory, run_id):
    with session_factory() as session:
        days = list(session.scalars(select(ForecastDayLine).where(ForecastDayLine.run_id == run_id)
                                    .order_by(ForecastDayLine.day)))
        weeks = list(session.scalars(select(ForecastLine).where(ForecastLine.run_id == run_id)
                                     .order_by(ForecastLine.week)))
        return session.get(ForecastRun, run_id), days, weeks


def _ordered(line):
    return Decimal(0) <= line.lo95 <= line.lo80 <= line.mean <= line.hi80 <= line.hi95


def test_a_day_run_stores_days_and_complete_weeks_that_sum_their_days(session_factory, demo, actors):
    _daily_history(session_factory, demo, actors)
    result = _day_run(session_factory, actors)
    layout = day_layout(AS_OF, 28)
    assert (result.frequency, result.first_day, result.day_lines, result.lines) == ("day", AS_OF, 28, 3)
    assert result.first_week == AS_OF + timedelta(days=5) == layout.weeks[0]
    found, days, weeks = _stored(session_factory, result.run_id)
    assert found.frequency == RunFrequency.DAY and found.horizon == 28
    assert [d.day for d in days] == list(layout.days) and [w.week for w in weeks] == list(layout.weeks)
    by_day = {d.day: d for d in days}
    for week in weeks:
        members = [by_day[week.week + timedelta(days=n)] for n in range(7)]
        assert week.mean == sum(d.mean for d in members)  # exactly, to the stored quantisation
        assert week.final == week.mean and "RECONCILED" in week.warnings and _ordered(week)
    assert all(_ordered(d) and d.final == d.mean for d in days)
    # the stand-in forecasts 2 a day and (10+14+14+14)/4 = 13 a week (history starts on a Wednesday):
    # OLS moves each day by (13 − 14)/8
    assert by_day[layout.weeks[0]].mean == Decimal("1.875") and weeks[0].mean == Decimal("13.125")
    # the two days before the first Monday belong to no complete week: left as the day model said
    assert [d.mean for d in days[:2]] == [Decimal(2), Decimal(2)]


def test_overrides_set_on_weeks_carry_to_their_days(session_factory, demo, actors):
    _daily_history(session_factory, demo, actors)
    result = _day_run(session_factory, actors)
    week = day_layout(AS_OF, 28).weeks[1]
    view = run(session_factory, override_forecast, actors["赵经理"], OverrideForecast(
        item_id=demo.items["龙井"], site_id=demo.sites["MD"], from_week=week, weeks=1, reason="团购",
        set_value=Decimal(20)))
    _run, days, weeks = _stored(session_factory, result.run_id)
    (line,) = [w for w in weeks if w.week == week]
    assert (line.final, line.override_id) == (Decimal(20), view.override_id)
    members = [d for d in days if week <= d.day < week + timedelta(days=7)]
    assert all(d.final == (d.mean * 20 / line.mean).quantize(QTY) for d in members)
    assert abs(sum(d.final for d in members) - 20) <= Decimal("0.004")
    assert all(d.final == d.mean for d in days if not week <= d.day < week + timedelta(days=7))
    again = _day_run(session_factory, actors)  # a later day run re-applies the active override
    _run, days2, _weeks2 = _stored(session_factory, again.run_id)
    assert [d.final for d in days2] == [d.final for d in days]
    run(session_factory, cancel_override, actors["赵经理"], CancelOverride(view.override_id, "团购取消"))
    _run, days3, _weeks3 = _stored(session_factory, again.run_id)
    assert all(d.final == d.mean for d in days3)


def test_a_week_run_is_unchanged_and_stores_no_days(session_factory, demo, actors):
    _daily_history(session_factory, demo, actors)
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=3, as_of=AS_OF))
    assert (result.frequency, result.day_lines, result.first_day, result.lines) == ("week", 0, None, 3)
    found, days, weeks = _stored(session_factory, result.run_id)
    assert found.frequency == RunFrequency.WEEK and days == [] and weeks[0].week == monday(1)
    assert "RECONCILED" not in weeks[0].warnings


def test_explanations_carry_the_covariates_used(session_factory, demo, actors):
    _daily_history(session_factory, demo, actors)
    run(session_factory, upload_covariate, actors["赵经理"], UploadCovariate(
        "气温", ((AS_OF - timedelta(days=2), Decimal("11.5")), (AS_OF - timedelta(days=1), Decimal(9)))))
    result = _day_run(session_factory, actors)
    _run, days, weeks = _stored(session_factory, result.run_id)
    assert weeks[0].explanation["covariates"] == {"气温": 9.0} == days[0].explanation["covariates"]
    assert weeks[0].explanation["summary"] and isinstance(weeks[0].explanation["factors"], list)
    weekly = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=2, as_of=AS_OF))
    assert _stored(session_factory, weekly.run_id)[2][0].explanation["covariates"] == {"气温": 9.0}


def test_the_weekly_covariate_is_the_mean_of_its_days(monkeypatch, session_factory, demo, actors):
    def rising(series, horizon, **kw):
        out = fake_forecast_series(series, horizon, **kw)
        if kw.get("freq") == "D":
            out = [fc.__class__(**{**fc.__dict__, "covariates_used": {"气温": tuple(float(n) for n in range(horizon))}})
                   for fc in out]
        return out

    monkeypatch.setattr(forecasting, "forecast_series", rising)
    _daily_history(session_factory, demo, actors)
    result = _day_run(session_factory, actors)
    _run, days, weeks = _stored(session_factory, result.run_id)
    assert weeks[0].explanation["covariates"] == {"气温": 8.0}  # days 5…11 of the horizon
    assert [d.explanation["covariates"]["气温"] for d in days[:3]] == [0.0, 1.0, 2.0]


def test_the_previous_runs_methods_reach_the_engine(monkeypatch, session_factory, demo, actors):
    calls = []

    def spy(series, horizon, **kw):
        calls.append((kw.get("freq"), kw.get("prior_methods"), kw.get("season_length")))
        return fake_forecast_series(series, horizon, **kw)

    _daily_history(session_factory, demo, actors)
    _day_run(session_factory, actors)
    monkeypatch.setattr(forecasting, "forecast_series", spy)
    _day_run(session_factory, actors)
    key = f"{demo.items['龙井']}:{demo.sites['MD']}"
    assert ("W", {key: "seasonal_naive"}, 52) in calls and ("D", {key: "seasonal_naive"}, None) in calls
    with session_factory() as session:
        assert prior_methods(session, demo.org_id, days=True) == {key: "seasonal_naive"}


@pytest.mark.parametrize("cmd, message", [
    (RunForecast(frequency="month"), "预测频率"),
    (RunForecast(frequency="day", horizon=121), "预测天数"),
    (RunForecast(frequency="day", horizon=0), "预测天数"),
    (RunForecast(frequency="week", horizon=105), "预测周数"),
])
def test_frequency_and_horizon_are_validated_and_write_nothing(session_factory, demo, actors, cmd, message):
    with session_factory() as session:
        before = session.scalar(select(func.count()).select_from(ForecastRun))
    with pytest.raises(ValidationError, match=message) as err:
        run(session_factory, run_forecast, actors["赵经理"], cmd)
    assert err.value.code == "VALIDATION_ERROR"
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == before


def test_the_org_setting_chooses_day_runs_and_is_validated(session_factory, demo, actors):
    with pytest.raises(ValidationError, match="预测频率"):
        run(session_factory, set_planning_settings, actors["赵经理"], SetPlanningSettings({"frequency": "hour"}))
    with pytest.raises(ValidationError, match="day_horizon"):
        run(session_factory, set_planning_settings, actors["赵经理"], SetPlanningSettings({"day_horizon": 365}))
    run(session_factory, set_planning_settings, actors["赵经理"],
        SetPlanningSettings({"frequency": "day", "day_horizon": 14}))
    _daily_history(session_factory, demo, actors, days=14)
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(as_of=AS_OF))
    assert (result.frequency, result.horizon, result.day_lines) == ("day", 14, 14)


def test_a_replayed_day_run_returns_the_first_answer(session_factory, demo, actors):
    _daily_history(session_factory, demo, actors)
    cmd = RunForecast(frequency="day", as_of=AS_OF, horizon=10)
    first = run(session_factory, run_forecast, actors["赵经理"], cmd, idempotency_key="day-1")
    assert run(session_factory, run_forecast, actors["赵经理"], cmd, idempotency_key="day-1") == first
    with pytest.raises(IdempotencyConflict):
        run(session_factory, run_forecast, actors["赵经理"], RunForecast(frequency="week", as_of=AS_OF, horizon=10),
            idempotency_key="day-1")
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun).where(
            ForecastRun.org_id == demo.org_id)) == 1
        assert session.scalar(select(func.count()).select_from(ForecastDayLine).where(
            ForecastDayLine.run_id == first.run_id)) == 10 == first.day_lines


def test_the_bias_board_compares_a_day_runs_covariate_with_what_happened(session_factory, demo, actors):
    from models.queries.forecast_bias import forecast_bias

    as_of = monday(2) + timedelta(days=2)  # its first complete week is last week, closed now
    first = as_of - timedelta(days=21)
    receive(session_factory, demo, actors, "MD", 200, at(first - timedelta(days=1)))
    for n in range(21):
        ship(session_factory, demo, actors, "MD", 2, at(first + timedelta(days=n)))
    run(session_factory, upload_covariate, actors["赵经理"], UploadCovariate(
        "气温", tuple((first + timedelta(days=n), Decimal(10)) for n in range(21))))
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(frequency="day", horizon=14,
                                                                            as_of=as_of))
    assert result.first_week == monday(1)
    for n in range(7):  # last week: a heat wave, and three times the usual sales
        ship(session_factory, demo, actors, "MD", 6, at(monday(1) + timedelta(days=n)))
    run(session_factory, upload_covariate, actors["赵经理"], UploadCovariate(
        "气温", tuple((monday(1) + timedelta(days=n), Decimal(30)) for n in range(7))))
    with session_factory() as session:
        board = forecast_bias(session, actors["赵经理"], week=monday(1))
    (miss,) = board.misses
    assert miss.run_id == result.run_id and miss.actual == Decimal(42)
    weather = next(c for c in miss.causes if c.code == "weather")
    assert "预测时使用 10.0" in weather.evidence and weather.refs["forecast"] == 10.0


def test_quantised_figures_match_one_at_a_time_rounding():
    import numpy as np

    from models.operations.planning_days import qty, quantised

    values = np.array([1.23449, 1.2346, 0.0004, -3.0, float("nan"), 12.6875, 7.0])
    assert quantised(values) == [qty(float(v)) for v in values]
