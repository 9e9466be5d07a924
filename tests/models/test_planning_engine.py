"""Planning against the real forecast engine (forecast/engine.py, forecast/replenish.py).

Most planning tests use a small stand-in engine (tests/models/planning_fakes.py) for speed and
exact figures; these run the real one end to end.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from models.operations.forecast_overrides import OverrideForecast, override_forecast
from models.operations.planning import RunForecast, SetPromotion, run_forecast, set_promotion
from models.operations.planning_sandbox import PlanningSandbox, run_planning_sandbox
from models.operations.replenishment import RecomputeReplenishment, recompute_replenishment
from models.planning import ForecastLine
from models.uow import run
from tests.models.planning_fakes import monday, weekly_history


def test_real_engine_end_to_end(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [4, 6, 5, 7, 5, 6, 4, 6, 5, 7], stock_first=58)
    nxt = monday(0) + timedelta(days=7)
    run(session_factory, set_promotion, actors["赵经理"], SetPromotion(
        item_id=demo.items["龙井"], starts_on=nxt, ends_on=nxt + timedelta(days=6), uplift=Decimal("0.3")))
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(
        horizon=3, method="seasonal_naive", parameters={"backtest_folds": 1, "season_length": 4}))
    assert result.status == "completed" and result.lines == 3
    with session_factory() as session:
        lines = list(session.scalars(select(ForecastLine).where(ForecastLine.run_id == result.run_id)))
    assert all(ln.lo95 <= ln.mean <= ln.hi95 for ln in lines) and lines[0].explanation["summary"]
    plan = run(session_factory, recompute_replenishment, actors["赵经理"], RecomputeReplenishment())
    assert plan.safety_stocks == 1 and any(s.kind == "purchase" for s in plan.suggestions)


def test_real_engine_auto_with_an_override_and_the_sandbox(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [4, 6, 5, 7, 5, 6, 4, 6, 5, 7, 6, 5], stock_first=90)
    weekly_history(session_factory, demo, actors, "ZC", [0, 2, 0, 0, 3, 0, 1, 0, 0, 2, 0, 1], stock_first=9)
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=4))
    assert result.status == "completed" and result.series == 2 and result.lines == 8
    run(session_factory, override_forecast, actors["赵经理"], OverrideForecast(
        item_id=demo.items["龙井"], site_id=demo.sites["MD"], from_week=monday(0), weeks=2, reason="促销备货",
        scale=Decimal("0.2")))
    plan = run(session_factory, recompute_replenishment, actors["赵经理"], RecomputeReplenishment())
    assert plan.safety_stocks == 2
    with session_factory() as session:
        methods = set(session.scalars(select(ForecastLine.method).where(ForecastLine.run_id == result.run_id)))
        sandbox = run_planning_sandbox(session, actors["赵经理"], PlanningSandbox(service_level=0.99))
        session.rollback()
    assert methods and len(sandbox.rows) == 2


def test_only_lines_past_the_published_holiday_calendar_warn() -> None:
    # The engine warns per series; each stored line carries HOLIDAY_CALENDAR_UNKNOWN only for its own
    # week past the official schedule (chinese_calendar knows 2026 here, not 2027).
    from datetime import date

    import numpy as np

    from forecast.calendar import week_features
    from forecast.engine import forecast_series
    from forecast.types import Series
    from models.operations.planning import line_values

    start = date(2026, 1, 5)
    assert week_features(date(2026, 11, 30)).calendar_known and not week_features(date(2027, 1, 4)).calendar_known
    values = tuple(float(v) for v in 50 + 10 * np.sin(np.arange(47) / 4))
    (fc,) = forecast_series([Series("u", start, values)], 8)
    assert "HOLIDAY_CALENDAR_UNKNOWN" in fc.warnings
    flagged = [fc.weeks[n] for n in range(8) if "HOLIDAY_CALENDAR_UNKNOWN" in line_values(fc, n, None)[1]]
    assert flagged and all(not week_features(w).calendar_known for w in flagged)
    assert [w for w in fc.weeks[:8] if w not in flagged] == [w for w in fc.weeks[:8] if week_features(w).calendar_known]
    assert any(week_features(w).calendar_known for w in fc.weeks[:8])  # the test covers both kinds


def test_real_engine_day_run_with_a_covariate(session_factory, demo, actors):
    """A day run on the real engine: days and weeks reconciled, weeks the sums of their days, the
    covariate the engine used stored in each explanation, then replenishment from the weekly lines."""
    from models.operations.planning import UploadCovariate, upload_covariate
    from models.planning import ForecastDayLine
    from tests.models.planning_fakes import at, receive, ship

    as_of = monday(1) + timedelta(days=2)
    first = as_of - timedelta(days=70)
    receive(session_factory, demo, actors, "MD", 600, at(first - timedelta(days=1)))
    for n in range(70):
        day = first + timedelta(days=n)
        ship(session_factory, demo, actors, "MD", 4 + 3 * (day.weekday() >= 5) + n % 3, at(day))
    temps = tuple((first + timedelta(days=n), Decimal(10 + n % 7)) for n in range(70 + 28))
    run(session_factory, upload_covariate, actors["赵经理"], UploadCovariate("气温", temps))
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(
        frequency="day", horizon=28, as_of=as_of, parameters={"backtest_folds": 1}))
    assert result.status == "completed" and result.day_lines == 28 and result.lines == 3, result
    with session_factory() as session:
        days = list(session.scalars(select(ForecastDayLine).where(ForecastDayLine.run_id == result.run_id)))
        weeks = list(session.scalars(select(ForecastLine).where(ForecastLine.run_id == result.run_id)))
    by_day = {d.day: d for d in days}
    for week in weeks:
        assert week.mean == sum(by_day[week.week + timedelta(days=n)].mean for n in range(7))
        assert week.lo95 <= week.lo80 <= week.mean <= week.hi80 <= week.hi95
        assert week.explanation["summary"]
    assert all(d.lo95 <= d.lo80 <= d.mean <= d.hi80 <= d.hi95 for d in days)
    assert any("气温" in d.explanation["covariates"] for d in days)
    plan = run(session_factory, recompute_replenishment, actors["赵经理"], RecomputeReplenishment())
    assert plan.safety_stocks == 1
