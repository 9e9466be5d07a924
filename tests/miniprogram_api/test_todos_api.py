"""To-dos and alerts: approvals, QC failures and freezes at my sites, my open tasks."""

from __future__ import annotations

from datetime import timedelta

from models.base import utcnow
from models.operations import FreezeStock, RecordQc, freeze_stock, record_qc
from models.stock import FreezeDirection
from models.tasks import TaskStatus, Todo
from models.uow import run
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client, receive  # noqa: F401


def test_qc_failures_and_freezes_show_at_my_sites_only(client, demo, actors, session_factory, as_):
    bad = receive(session_factory, demo, actors, "5", site="SX")
    held = receive(session_factory, demo, actors, "6", site="ZC")
    run(session_factory, record_qc, actors["赵经理"], RecordQc(lot_id=bad.lot_id, passed=False, note="农残超标"))
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        item_id=demo.items["茶青"], direction=FreezeDirection.OUTBOUND, reason="盘点中",
        site_id=demo.sites["ZC"], lot_id=held.lot_id))
    clerk = client.get("/api/v1/todos", headers=as_("小周")).get_json()["items"]
    assert [(t["kind"], t["lot_id"]) for t in clerk] == [("qc_failed", bad.lot_id)]
    keeper = client.get("/api/v1/todos", headers=as_("老孙")).get_json()["items"]
    assert [(t["kind"], t["lot_id"]) for t in keeper] == [("frozen", held.lot_id)] and "盘点中" in keeper[0]["detail"]
    assert client.get("/api/v1/todos", headers=as_("王阿姨")).get_json()["items"] == []


def test_open_tasks_for_me_or_my_role(client, demo, session_factory, as_):
    with session_factory() as s:
        now = utcnow()
        s.add_all([
            Todo(org_id=demo.org_id, title="复核质检", assignee_role="manager", due_at=now + timedelta(hours=4),
                 status=TaskStatus.OPEN),
            Todo(org_id=demo.org_id, title="给小周", assignee_member_id=demo.members["小周"], due_at=now,
                 status=TaskStatus.OPEN),
            Todo(org_id=demo.org_id, title="已完成", assignee_role="manager", due_at=now, status=TaskStatus.DONE),
        ])
        s.commit()
    titles = [t["title"] for t in client.get("/api/v1/todos", headers=as_("赵经理")).get_json()["items"]]
    assert titles == ["复核质检"]
    titles = [t["title"] for t in client.get("/api/v1/todos", headers=as_("小周")).get_json()["items"]]
    assert titles == ["给小周"]
