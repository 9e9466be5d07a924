"""Planning tasks: declared in the one schedule, thin, and safe to run twice (keyed by org and period)."""

from __future__ import annotations

import pytest
from celery.schedules import crontab
from sqlalchemy import func, select

import workflows.planning as tasks
from models.planning import ForecastRun, SafetyStock
from tests.models.planning_fakes import fake_engine, weekly_history  # noqa: F401
from workflows.schedule import beat_schedule

pytestmark = pytest.mark.usefixtures("fake_engine")


def test_the_schedule_declares_weekly_forecasts_and_the_four_hourly_recompute():
    schedule = beat_schedule()
    weekly = schedule["forecast-weekly"]
    assert weekly["task"] == "workflows.planning.forecast_all_orgs" and isinstance(weekly["schedule"], crontab)
    assert weekly["schedule"].hour == {2} and weekly["schedule"].day_of_week == {1}
    assert schedule["replenishment-recompute"] == {"task": "workflows.planning.recompute_all_orgs",
                                                   "schedule": 4 * 3600.0}


def test_forecast_task_runs_once_per_week_and_queues_the_recompute(monkeypatch, session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [3, 4, 5])
    monkeypatch.setattr(tasks, "session_factory", lambda: session_factory)
    queued: list[tuple[str, int]] = []
    monkeypatch.setattr(tasks.recompute_org, "delay", lambda org_id: queued.append(("recompute", org_id)))
    monkeypatch.setattr(tasks.forecast_org, "delay", lambda org_id: queued.append(("forecast", org_id)))
    assert demo.org_id in tasks.planning_org_ids()
    first = tasks.forecast_org.run(demo.org_id)
    assert tasks.forecast_org.run(demo.org_id) == first  # redelivered: the first answer, no second run
    with session_factory() as session:
        runs = session.scalar(select(func.count()).select_from(ForecastRun).where(ForecastRun.org_id == demo.org_id))
    assert runs == 1 and queued == [("recompute", demo.org_id)] * 2
    tasks.recompute_org.run(demo.org_id)
    with session_factory() as session:
        computed = session.scalars(select(SafetyStock.computed_at).where(SafetyStock.org_id == demo.org_id)).all()
    tasks.recompute_org.run(demo.org_id)  # redelivered in the same 4-hour slot: replayed, not recomputed
    with session_factory() as session:
        again = session.scalars(select(SafetyStock.computed_at).where(SafetyStock.org_id == demo.org_id)).all()
    assert computed and again == computed
    assert tasks.forecast_all_orgs.run() == len(tasks.planning_org_ids()) and ("forecast", demo.org_id) in queued
