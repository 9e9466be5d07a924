"""The hourly beat records every organisation's consistency checks, each in its own task."""

from __future__ import annotations

from sqlalchemy import select

from models.event_log import ConsistencyCheckRun
from workflows import tasks
from workflows.schedule import beat_schedule


def test_the_beat_records_each_orgs_checks(monkeypatch, session_factory, demo):
    assert beat_schedule()["consistency-checks"] == {"task": "workflows.tasks.scan_consistency_checks",
                                                     "schedule": 3600.0}
    monkeypatch.setattr(tasks, "session_factory", lambda: session_factory)
    queued: list[int] = []
    monkeypatch.setattr(tasks.check_org_consistency, "delay", queued.append)
    assert tasks.scan_consistency_checks() == len(queued) and demo.org_id in queued
    passed = tasks.check_org_consistency(demo.org_id)
    with session_factory() as s:
        (recorded,) = s.scalars(select(ConsistencyCheckRun).where(ConsistencyCheckRun.org_id == demo.org_id))
    assert passed == recorded.checks_passed == recorded.checks_total > 0 and recorded.problems == {}
