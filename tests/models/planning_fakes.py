"""A small, fast stand-in for the forecast engine (forecast/ is written in parallel) and demo history helpers."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from forecast.types import Explanation, Forecast, Series
from models import forecasting
from models.operations import ReceiveGoods, ShipGoods, receive_goods, ship_goods
from models.planning import ReplenishmentSuggestion, SuggestionKind, SuggestionStatus
from models.timeutil import SHANGHAI
from models.uow import run


def fake_forecast_series(series, horizon, *, method="auto", future_promo=None, freq="W", covariates=None, **_kw):
    """Mean of the last four periods (weeks, or days with freq="D"), ±1.28/1.96 sd bands; promotions
    lift by half their intensity; each covariate's last known value is "used" for every period."""
    out = []
    step = 1 if freq == "D" else 7
    used = {name: (float(values[max(values)]),) * horizon for name, values in (covariates or {}).items() if values}
    for s in series:
        tail = list(s.values[-4:])
        mean = sum(tail) / len(tail)
        sd = statistics.pstdev(s.values) if len(s.values) > 1 else max(mean * 0.3, 1.0)
        start = s.start + timedelta(days=step * len(s.values))
        promo = (future_promo or {}).get(s.key, [0.0] * horizon)
        means = [mean * (1 + 0.5 * promo[n]) for n in range(horizon)]
        effect = tuple(m - mean for m in means)
        out.append(Forecast(
            key=s.key, method="seasonal_naive" if method == "auto" else method,
            weeks=tuple(start + timedelta(days=step * n) for n in range(horizon)), mean=tuple(means),
            lo80=tuple(max(m - 1.28 * sd, 0) for m in means), hi80=tuple(m + 1.28 * sd for m in means),
            lo95=tuple(max(m - 1.96 * sd, 0) for m in means), hi95=tuple(m + 1.96 * sd for m in means),
            accuracy={"seasonal_naive": {"mase": 1.0, "wape": 0.3, "coverage80": 0.8, "coverage95": 0.95}},
            baseline="seasonal_naive",
            explanation=Explanation(level=mean, trend=0.0, seasonality=(0.0,) * horizon,
                                    holiday_effect=(0.0,) * horizon, promo_effect=effect,
                                    factors=(("水平", mean),), short_history=len(s.values) < 8,
                                    summary=f"近四周平均 {mean:.1f}"),
            warnings=("SHORT_HISTORY",) if len(s.values) < 8 else (), error_sd=sd, freq=freq,
            covariates_used=dict(used)))
    return out


@pytest.fixture
def fake_engine(monkeypatch):
    """Replace the forecast model with a stand-in whose figures a test can compute by hand.

    Only the statistical forecast is replaced; the replenishment maths (forecast.replenish) is the real
    one. tests/models/test_planning_engine.py runs the real forecast end to end.
    """
    monkeypatch.setattr(forecasting, "forecast_series", fake_forecast_series)


def monday(weeks_ago: int, today: date | None = None) -> date:
    today = today or datetime.now(SHANGHAI).date()
    return today - timedelta(days=today.weekday() + 7 * weeks_ago)


def at(day: date, hour: int = 10) -> datetime:
    """Return an aware UTC datetime at ``hour`` o'clock Shanghai time on ``day``."""
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


def receive(session_factory, demo, actors, site, qty, when, item="龙井", price="60"):
    # History weeks back: entered by the director, who may backdate and set a supplier's price.
    return run(session_factory, receive_goods, actors["钱总监"], ReceiveGoods(
        site_id=demo.sites[site], item_id=demo.items[item], quantity=Decimal(qty), party_id=demo.parties["包装厂"],
        unit_price=Decimal(price), business_time=when, price_reason="历史数据"))


def ship(session_factory, demo, actors, site, qty, when, item="龙井"):
    return run(session_factory, ship_goods, actors["钱总监"], ShipGoods(
        site_id=demo.sites[site], item_id=demo.items[item], quantity=Decimal(qty), party_id=demo.parties["杭州茶城"],
        business_time=when))


def weekly_history(session_factory, demo, actors, site, sales, *, stock_first=None, item="龙井"):
    """Receive ``stock_first`` (default Σ sales) 1 day before the first week, then ship ``sales[i]`` on
    the Tuesday of week i (oldest first, the last one being last week)."""
    n = len(sales)
    first = monday(n)
    receive(session_factory, demo, actors, site, stock_first if stock_first is not None else sum(sales),
            at(first - timedelta(days=1)), item=item)
    for i, q in enumerate(sales):
        if q:
            ship(session_factory, demo, actors, site, q, at(first + timedelta(days=7 * i + 1)), item=item)


def supplierless_purchase(session_factory, demo) -> int:
    """A purchase suggestion for an item nobody has supplied yet (recompute leaves party_id empty then)."""
    with session_factory() as session:
        row = ReplenishmentSuggestion(
            org_id=demo.org_id, kind=SuggestionKind.PURCHASE, item_id=demo.items["龙井"],
            site_id=demo.sites["MD"], party_id=None, quantity=Decimal(20), unit_price=Decimal(55),
            reason="低于再订货点", status=SuggestionStatus.PROPOSED)
        session.add(row)
        session.commit()
        return row.id


__all__ = ["Series", "at", "fake_engine", "monday", "receive", "ship", "supplierless_purchase", "weekly_history"]
