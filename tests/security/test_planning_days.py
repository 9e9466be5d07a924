"""Attacks on day runs over HTTP: another organisation's run id, a clerk without the planning
permission, absurd horizons and frequencies. Each refusal is the shared error shape and writes
nothing (``rows(engine)`` before == after)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from models.actor import load_actor
from models.demo import seed_demo
from models.operations.planning import RunForecast, run_forecast
from models.uow import run
from tests.models.planning_fakes import at, fake_engine, monday, receive, ship  # noqa: F401
from tests.security.conftest import assert_refused, rows

pytestmark = pytest.mark.usefixtures("fake_engine")
PLAN = "/api/v1/planning"
AS_OF = monday(1) + timedelta(days=2)


def _their_day_run(session_factory) -> int:
    other = run(session_factory, seed_demo, f"d-{uuid.uuid4().hex[:10]}")
    with session_factory() as session:
        people = {name: load_actor(session, member_id) for name, member_id in other.members.items()}
    receive(session_factory, other, people, "MD", 40, at(AS_OF - timedelta(days=9)))
    for n in range(8):
        ship(session_factory, other, people, "MD", 2, at(AS_OF - timedelta(days=8 - n)))
    result = run(session_factory, run_forecast, people["赵经理"], RunForecast(frequency="day", horizon=14,
                                                                            as_of=AS_OF))
    assert result.day_lines == 14
    return result.run_id


def test_another_orgs_day_run_is_not_found(client, as_, engine, session_factory):
    theirs = _their_day_run(session_factory)
    before = rows(engine)
    for path in (f"{PLAN}/forecasts/{theirs}/days", f"{PLAN}/forecasts/{theirs}/lines", f"{PLAN}/forecasts/{theirs}"):
        resp = client.get(path, headers=as_("赵经理"))
        assert_refused(resp, 404, "NOT_FOUND")
        assert "找不到" in resp.get_json()["error"]["message"]
    assert rows(engine) == before


def test_a_clerk_without_planning_permission_is_refused(client, as_, engine, session_factory):
    theirs = _their_day_run(session_factory)
    before = rows(engine)
    assert_refused(client.post(f"{PLAN}/forecasts", headers=as_("小周"), json={"frequency": "day"}),
                   403, "PERMISSION_DENIED")
    assert_refused(client.get(f"{PLAN}/forecasts/{theirs}/days", headers=as_("小周")), 403, "PERMISSION_DENIED")
    assert rows(engine) == before


@pytest.mark.parametrize("body, field", [
    ({"frequency": "day", "horizon": 121}, "horizon"),
    ({"frequency": "day", "horizon": 10 ** 12}, "horizon"),
    ({"frequency": "day", "horizon": 0}, "horizon"),
    ({"frequency": "day", "horizon": 1.5}, "horizon"),
    ({"frequency": "week", "horizon": 105}, "horizon"),
    ({"frequency": "month"}, "frequency"),
    ({"frequency": None, "horizon": "28"}, "horizon"),
])
def test_absurd_horizons_and_frequencies_are_a_422_and_write_nothing(client, as_, engine, body, field):
    before = rows(engine)
    resp = client.post(f"{PLAN}/forecasts", headers=as_("赵经理"), json=body)
    error = assert_refused(resp, 422, "VALIDATION_ERROR")
    assert field in str(error["details"]), error
    assert rows(engine) == before
