"""首页's kinds and actions in the HTTP API: /todos carries the new kinds with their action ids; lifting
a freeze and replaying a dead letter have endpoints (the same operations the console calls)."""

from __future__ import annotations

import uuid

from models.event_log import HandlerRun, RunStatus
from models.stock import Freeze
from tests.console import today_setup as ts
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401
from tests.security.conftest import assert_refused, rows


def test_todos_carry_the_new_kinds_and_their_ids(client, as_, session_factory, demo, actors):
    transfer = ts.requested_transfer(session_factory, demo, actors)
    _receipt, freeze = ts.frozen_lot(session_factory, demo, actors)
    sug = ts.planning(session_factory, demo)["suggestion_id"]
    dead = ts.dead_letter(session_factory, demo)
    device = ts.stale_sensor(session_factory, demo, actors)
    task = ts.escalated_task(session_factory, demo)
    items = client.get("/api/v1/todos", headers=as_("赵经理")).get_json()["items"]
    by_kind = {i["kind"]: i for i in items}
    assert by_kind["approval"]["request_id"] and by_kind["approval"]["document_id"] == transfer.document_id
    assert by_kind["frozen"]["freeze_id"] == freeze.freeze_id
    assert by_kind["suggestion"]["suggestion_id"] == sug
    assert by_kind["dead_letter"]["dead_letter_id"] == dead
    assert by_kind["stale_device"]["device_id"] == device
    assert by_kind["escalation"]["task_id"] == task and by_kind["escalation"]["overdue"] is True


def test_lift_a_freeze_through_the_api(client, as_, session_factory, engine, demo, actors):
    _receipt, freeze = ts.frozen_lot(session_factory, demo, actors)
    before = rows(engine)
    assert_refused(client.post(f"/api/v1/freezes/{freeze.freeze_id}/lift", json={"reason": "好了"},
                               headers=as_("小周")), 403, "PERMISSION_DENIED")
    assert client.post(f"/api/v1/freezes/{freeze.freeze_id}/lift", json={},
                       headers=as_("赵经理")).status_code == 422
    assert rows(engine) == before
    ok = client.post(f"/api/v1/freezes/{freeze.freeze_id}/lift", json={"reason": "复查温度正常"},
                     headers={**as_("赵经理"), "Idempotency-Key": uuid.uuid4().hex})
    assert ok.status_code == 200 and ok.get_json()["active"] is False
    with session_factory() as s:
        assert not s.get_one(Freeze, freeze.freeze_id).active


def test_replay_a_dead_letter_through_the_api(client, as_, session_factory, engine, demo):
    dead = ts.dead_letter(session_factory, demo)
    before = rows(engine)
    for name in ("老孙", "赵经理"):
        assert_refused(client.post("/api/v1/workflows/dead-letters/replay", json={"ids": [dead]}, headers=as_(name)),
                       403, "PERMISSION_DENIED")
    assert rows(engine) == before
    ok = client.post("/api/v1/workflows/dead-letters/replay", json={"ids": [dead]}, headers=as_("钱总监"))
    assert ok.status_code == 200 and ok.get_json() == {"replayed": 1}
    with session_factory() as s:
        assert s.get_one(HandlerRun, dead).status == RunStatus.RETRY
    assert_refused(client.post("/api/v1/workflows/dead-letters/replay", json={"ids": [dead]},
                               headers=as_("钱总监")), 409, "INVALID_STATE")
