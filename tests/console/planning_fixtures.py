"""A demo org with demand history, a forecast run and replenishment suggestions.

The run uses the real forecast engine (forecast/): on this four-week history it costs about 3 s once per
process (the engine's first call) and milliseconds after, so tests check real forecasts — bands around the
mean, the stored figures on every page — rather than a stand-in's. ``fake_engine`` is still exported for
tests that need figures computed by hand (tests/models/planning_fakes.py)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest

from models.demo import seed_demo
from models.operations.planning import RunForecast, run_forecast
from models.operations.replenishment import RecomputeReplenishment, recompute_replenishment
from models.uow import run
from tests.models.planning_fakes import at, fake_engine, monday, receive, weekly_history  # noqa: F401

_REQUEST_ID = re.compile(r'name="request_id" value="([0-9a-f]{32})"')


@dataclass(frozen=True)
class Planned:
    run_id: int
    item_id: int
    site_id: int
    other_site_id: int


def plan_demo(session_factory, demo, actors) -> Planned:
    """龙井 at 门店 sold 5, 6, 5, 7 a week (stock 25 first: 2 left), 50 more at 总仓: a 4-week forecast
    (the real engine's) and suggestions (a transfer from 总仓)."""
    weekly_history(session_factory, demo, actors, "MD", [5, 6, 5, 7], stock_first=25)
    receive(session_factory, demo, actors, "ZC", 50, at(monday(5)))
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=4))
    run(session_factory, recompute_replenishment, actors["赵经理"], RecomputeReplenishment())
    return Planned(result.run_id, demo.items["龙井"], demo.sites["MD"], demo.sites["ZC"])


@pytest.fixture(name="planned")
def planned_fixture(session_factory, demo, actors) -> Planned:
    return plan_demo(session_factory, demo, actors)


@pytest.fixture(name="other_org")
def other_org_fixture(session_factory):
    """A second co-operative with its own forecast (its ids must never show or work in ours)."""
    from models.actor import load_actor

    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    with session_factory() as session:
        people = {name: load_actor(session, member_id) for name, member_id in other.members.items()}
    return other, plan_demo(session_factory, other, people)


def request_id_of(html: str) -> str:
    found = _REQUEST_ID.search(html)
    assert found, "no request_id on the page"
    return found.group(1)
