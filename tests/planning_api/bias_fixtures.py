"""A closed week that missed: 龙井 at 门店 was forecast with a promotion that was cancelled before it ran,
sold out on Tuesday (stock-out for the rest of the week) and was overridden upwards by a planner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from models.operations.forecast_overrides import OverrideForecast, override_forecast
from models.operations.planning import (
    CancelPromotion,
    RunForecast,
    SetPromotion,
    cancel_promotion,
    run_forecast,
    set_promotion,
)
from models.planning import ForecastRun, Promotion
from models.uow import run
from tests.models.planning_fakes import at, fake_engine, monday, weekly_history  # noqa: F401


@dataclass(frozen=True)
class BiasWeek:
    week: object  #: the closed week's Monday
    run_id: int
    item_id: int
    site_id: int
    other_site_id: int
    promotion_id: int
    override_id: int


def bias_week(session_factory, demo, actors) -> BiasWeek:
    """Sales 8, 9, 8 then 2 (the stock ran out on Tuesday); the fake engine forecasts the mean of the last
    four weeks (0, 8, 9, 8) × 1.5 for the promotion = 9.375,
    the planner set 15; 总仓 sold 3 a week and was forecast right."""
    week = monday(1)
    weekly_history(session_factory, demo, actors, "MD", [8, 9, 8, 2], stock_first=27)
    weekly_history(session_factory, demo, actors, "ZC", [3, 3, 3, 3], stock_first=20)
    planner = actors["赵经理"]
    promo = run(session_factory, set_promotion, planner, SetPromotion(
        item_id=demo.items["龙井"], site_id=demo.sites["MD"], starts_on=week, ends_on=week + timedelta(days=6),
        uplift=Decimal("0.3"), note="周末买二送一"))
    result = run(session_factory, run_forecast, planner, RunForecast(horizon=2, as_of=week))
    ov = run(session_factory, override_forecast, planner, OverrideForecast(
        item_id=demo.items["龙井"], site_id=demo.sites["MD"], from_week=week, weeks=1, reason="节前备货",
        set_value=Decimal(15)))
    run(session_factory, cancel_promotion, planner, CancelPromotion(promo.promotion_id, "厂家未供赠品"))
    # The story happened over days, the set-up in a second: date it as it would have been recorded.
    with session_factory() as session:
        p = session.get_one(Promotion, promo.promotion_id)
        p.created_at, p.cancelled_at = at(week - timedelta(days=10)), at(week, hour=9)
        session.get_one(ForecastRun, result.run_id).created_at = at(week - timedelta(days=1))
        session.commit()
        assert session.scalar(select(ForecastRun.first_week).where(ForecastRun.id == result.run_id)) == week
    return BiasWeek(week, result.run_id, demo.items["龙井"], demo.sites["MD"], demo.sites["ZC"],
                    promo.promotion_id, ov.override_id)


@pytest.fixture(name="missed")
def missed_fixture(fake_engine, session_factory, demo, actors) -> BiasWeek:  # noqa: F811
    return bias_week(session_factory, demo, actors)
