"""Safety stock, reorder point, order rounding, and the policy simulation."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from forecast import demo_data
from forecast.replenish import plan_replenishment, protection_sd, round_order, simulate_policy
from forecast.types import Explanation, Forecast


def _forecast(mean: float = 10.0, sd: float = 3.0, weeks: int = 8) -> Forecast:
    zeros = (0.0,) * weeks
    return Forecast(
        key="LJ1:HZ", method="auto_ets", weeks=tuple(date(2026, 1, 5) for _ in range(weeks)),
        mean=(mean,) * weeks, lo80=(mean,) * weeks, hi80=(mean,) * weeks, lo95=(mean,) * weeks,
        hi95=(mean,) * weeks, accuracy={}, baseline="seasonal_naive",
        explanation=Explanation(mean, 0.0, zeros, zeros, zeros, (), False, ""), error_sd=sd,
    )


def test_safety_stock_grows_with_service_level_and_lead_time() -> None:
    fc = _forecast()
    kw = {"on_hand": 0.0, "on_order": 0.0}
    s90 = plan_replenishment(fc, lead_time_weeks=2, service_level=0.90, **kw).safety_stock
    s99 = plan_replenishment(fc, lead_time_weeks=2, service_level=0.99, **kw).safety_stock
    long = plan_replenishment(fc, lead_time_weeks=6, service_level=0.90, **kw).safety_stock
    assert 0 < s90 < s99
    assert s90 < long


def test_reorder_point_is_cover_plus_safety_stock() -> None:
    plan = plan_replenishment(_forecast(10, 0), on_hand=5, on_order=0, lead_time_weeks=2, review_weeks=1)
    assert plan.safety_stock == 0
    assert plan.reorder_point == pytest.approx(30)
    assert plan.expected_demand_lead_time == pytest.approx(20)
    assert plan.order_quantity == pytest.approx(25)


def test_order_quantity_respects_pack_size_and_min_order() -> None:
    plan = plan_replenishment(_forecast(), on_hand=3, on_order=2, lead_time_weeks=2, pack_size=12, min_order=0)
    assert plan.order_quantity > 0 and plan.order_quantity % 12 == 0
    assert "订货" in plan.reason
    assert round_order(1, 12, 30) == 36
    assert round_order(0, 12, 30) == 0


def test_no_order_when_position_covers_reorder_point() -> None:
    plan = plan_replenishment(_forecast(), on_hand=500, on_order=0, lead_time_weeks=2)
    assert plan.order_quantity == 0
    assert "暂不订货" in plan.reason


def test_protection_sd_allows_for_shared_level_error() -> None:
    fc = _forecast(10, 2)
    assert protection_sd(fc, 4) == pytest.approx(2 * 2)  # flat bands: independent errors, √4
    widening = replace(fc, hi80=(12.0, 12.5, 13.0, 13.4, 13.8, 14.1, 14.4, 14.7))
    assert protection_sd(widening, 4) > protection_sd(fc, 4)


def test_forecast_policy_beats_minmax_stockout_rate_on_demo_set() -> None:
    demo = [d for d in demo_data.generate(130) if d.item in ("LJ1", "GIFT", "HC", "BC")][:6]
    # fewer weeks and refits than the benchmark, to keep the test quick
    series = [replace(d.series) for d in demo]
    sim = simulate_policy(
        series, demand=[d.demand for d in demo], warmup_weeks=104, lead_time_weeks=2, refit_every=13,
        method="auto_ets",
    )
    assert sim.weeks == 26
    # on the same average stock, the forecast-driven policy runs out less often
    assert sim.minmax_same_stock.average_stock == pytest.approx(sim.forecast.average_stock, rel=0.02)
    assert sim.forecast.stockout_rate < sim.minmax_same_stock.stockout_rate
    assert sim.forecast.average_stock > 0


def test_project_stock_counts_stockouts_and_brings_the_order_after_the_lead_time():
    from forecast.replenish import project_stock

    # 10 on hand, 4 on order (this week), 30 ordered now arriving after 2 weeks, demand 6 a week
    p = project_stock([6, 6, 6, 6, 6], on_hand=10, on_order=4, order_quantity=30, lead_time_weeks=2)
    assert p.arrival_week == 2
    assert p.stock == (8.0, 2.0, 26.0, 20.0, 14.0) and p.stockout_weeks == 0
    assert p.average_stock == sum(p.stock) / 5
    # a longer lead time: week 3 (index 2) runs dry before the order arrives in week 4 (index 3)
    late = project_stock([6, 6, 6, 6, 6], on_hand=10, on_order=4, order_quantity=30, lead_time_weeks=2.5)
    assert late.arrival_week == 3 and late.stock[:3] == (8.0, 2.0, 0.0) and late.stockout_weeks == 1
    assert project_stock([], on_hand=1, on_order=0, order_quantity=0, lead_time_weeks=1).average_stock == 0.0
