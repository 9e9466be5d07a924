"""The daily replenishment simulation: bookkeeping, textbook min/max, forecast cover, matching."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecast.replenish import (
    Z80,
    TradeOff,
    at_stock,
    forecast_cover,
    forecast_levels,
    interpolate_at,
    minmax_levels,
    simulate_daily,
    trace_tradeoff,
)


def test_hand_computed_case_loses_sales_and_receives_after_the_lead_time() -> None:
    # s = 4, S = 10, lead 2: stock 10 lasts two days; day 2's order (10) is on the shelf on day 4
    sim = simulate_daily(np.array([[5.0, 5, 5, 5, 5]]), 4.0, 10.0, lead_time_days=2, review_days=1)
    assert sim.ordered.tolist() == [[0, 0, 10, 0, 0]]
    assert sim.arrived.tolist() == [[0, 0, 0, 0, 10]]
    assert sim.on_hand.tolist() == [[5, 0, 0, 0, 5]]
    assert sim.lost.tolist() == [[0, 0, 5, 5, 0]]
    assert sim.stockout_days.tolist() == [2]
    assert sim.fill_rate[0] == pytest.approx(15 / 25)
    assert sim.average_stock[0] == pytest.approx(2.0)


def test_on_order_counts_in_the_position_so_no_double_order() -> None:
    # day 3's position is 0 on hand + 10 on order > s: no second order while the first is on its way
    sim = simulate_daily(np.array([[5.0, 5, 5, 5, 5]]), 4.0, 10.0, lead_time_days=2)
    assert sim.ordered[0, 3] == 0


def test_review_period_orders_only_on_review_days() -> None:
    sim = simulate_daily(np.full((1, 6), 3.0), 100.0, 100.0, lead_time_days=1, review_days=3, initial_stock=0)
    assert np.nonzero(sim.ordered[0])[0].tolist() == [0, 3]
    assert sim.ordered[0, 0] == 100 and sim.ordered[0, 3] == pytest.approx(100 - (100 - 6))


def test_lead_zero_arrives_before_the_days_sales() -> None:
    sim = simulate_daily(np.array([[7.0, 7.0]]), 0.0, 7.0, lead_time_days=0, initial_stock=0)
    assert sim.lost.sum() == 0 and sim.stockout_days[0] == 0


def test_stock_balances_and_never_goes_negative() -> None:
    rng = np.random.default_rng(3)
    demand = rng.poisson(rng.uniform(1, 30, (20, 1)), (20, 60)).astype(float)
    start = rng.uniform(0, 50, 20)
    sim = simulate_daily(
        demand, rng.uniform(0, 40, (20, 1)), rng.uniform(40, 90, (20, 1)), lead_time_days=3, initial_stock=start
    )
    assert (sim.on_hand >= 0).all() and (sim.lost >= 0).all()
    np.testing.assert_allclose(start + sim.arrived.sum(1) - sim.sold.sum(1), sim.on_hand[:, -1], atol=1e-9)
    np.testing.assert_allclose(sim.sold + sim.lost, demand)
    assert ((sim.lost > 0) <= (sim.on_hand == 0)).all()  # a sale is lost only when the shelf is empty


def test_bad_demand_is_refused() -> None:
    with pytest.raises(ValueError):
        simulate_daily(np.array([[1.0, -1.0]]), 0.0, 1.0)
    with pytest.raises(ValueError):
        simulate_daily(np.array([[1.0, float("nan")]]), 0.0, 1.0)


def test_minmax_levels_are_the_textbook_formula() -> None:
    history = np.array([[2.0, 4, 6, 8]])
    sigma = float(np.std(history, ddof=1))
    low, high = minmax_levels(history, 1.5, lead_time_days=2, review_days=1, max_multiplier=2)
    assert low[0] == pytest.approx(5 * 3 + 1.5 * sigma * math.sqrt(3))
    assert high[0] == pytest.approx(low[0] + 2 * 5 * 1)
    low0, _ = minmax_levels(history, -100.0)
    assert low0[0] == 0  # never a negative reorder point


def test_minmax_orders_up_to_max_when_position_reaches_min() -> None:
    low, high = minmax_levels(np.full((1, 28), 10.0), 0.0, lead_time_days=2, review_days=1)
    assert (low[0], high[0]) == (30.0, 40.0)
    sim = simulate_daily(np.full((1, 5), 10.0), low[:, None], high[:, None], lead_time_days=2)
    # 40 on hand: 30 after day 0 (order happens next morning at position 30 ≤ 30), up to 40
    assert sim.ordered[0].tolist() == [0, 10, 10, 10, 10]
    assert sim.lost.sum() == 0


def test_forecast_cover_uses_the_latest_forecast_and_adds_sd_as_independent() -> None:
    first = np.array([[1.0, 2, 3, 4]])
    second = np.full((1, 4), 10.0)
    cover, sd = forecast_cover([0, 2], [first, second], [first + Z80, second + 2 * Z80], days=5, protection_days=2)
    assert cover[0].tolist() == [3, 5, 20, 20, 20]
    np.testing.assert_allclose(sd[0], [math.sqrt(2)] * 2 + [math.sqrt(8)] * 3)
    with pytest.raises(ValueError):
        forecast_cover([1], [first], [first], days=3, protection_days=2)


def test_forecast_that_knows_demand_never_runs_out() -> None:
    rng = np.random.default_rng(5)
    demand = rng.poisson(20, (3, 40)).astype(float)
    lead, review = 2, 1
    cover, _ = forecast_cover([0], [demand], [demand], days=40 - lead - review, protection_days=lead + review)
    sim = simulate_daily(demand[:, : 40 - lead - review], cover, cover, lead_time_days=lead, review_days=review)
    assert sim.stockout_days.sum() == 0


def test_tradeoff_more_safety_means_more_stock_and_fewer_stockouts() -> None:
    rng = np.random.default_rng(8)
    history = rng.poisson(15, (10, 56)).astype(float)
    demand = rng.poisson(15, (10, 84)).astype(float)
    ks = [-1.0, 0.0, 1.0, 2.0, 3.0]
    levels = [minmax_levels(history, k) for k in ks]
    curve = trace_tradeoff("minmax", demand, [(s[:, None], S[:, None]) for s, S in levels], ks)
    assert (np.diff(curve.stock_days) > 0).all()
    assert curve.stockout_days[0] > curve.stockout_days[-1]
    assert curve.fill_rate[-1] > curve.fill_rate[0]


def test_interpolation_at_matched_stock() -> None:
    assert interpolate_at(np.array([3.0, 1, 2]), np.array([2.0, 10, 6]), 2.5) == pytest.approx(4)
    assert math.isnan(interpolate_at(np.array([1.0, 2]), np.array([5.0, 3]), 2.5))
    assert interpolate_at(np.array([1.0, 1, 2]), np.array([4.0, 6, 0]), 1.0) == pytest.approx(5)
    curve = TradeOff(
        "minmax", np.array([0.0, 1, 2]), np.array([2.0, 3, 5]), np.array([9.0, 5, 1]), np.array([0.8, 0.9, 0.99])
    )
    row = at_stock(curve, 4.0)
    assert row["stockout_days"] == pytest.approx(3) and row["param"] == pytest.approx(1.5)
    assert row["fill_rate"] == pytest.approx(0.945)


def test_forecast_levels_add_safety_and_cycle_stock() -> None:
    low, high = forecast_levels(
        np.array([[30.0, 60]]), np.array([[5.0, 10]]), 2.0, protection_days=3, max_multiplier=1.0
    )
    assert low.tolist() == [[40, 80]] and high.tolist() == [[50, 100]]
    low, high = forecast_levels(np.array([[3.0]]), np.array([[5.0]]), -1.0, protection_days=3)
    assert low.tolist() == [[0]] and high.tolist() == [[0]]
