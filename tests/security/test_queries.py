"""The stock, to-do and changes queries answer only inside the member's organisation and sites, and their
routes declare their permission on the skeleton (checked before the query string is parsed)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest

from bot import handlers
from models.base import utcnow
from models.demo import seed_demo
from models.errors import PermissionDenied
from models.operations import FreezeStock, RecordQc, freeze_stock, record_qc
from models.stock import FreezeDirection
from models.tasks import TaskStatus, Todo
from models.uow import run
from tests.miniprogram_api.fixtures_3b import receive
from tests.security.conftest import assert_refused, rows


def test_query_routes_declare_their_permission(app):
    from miniprogram_api.skeleton import ROUTES, Anyone
    from models.actor import Permission

    assert ROUTES["GET /api/v1/stock"] == Permission.VIEW_STOCK
    assert ROUTES["GET /api/v1/stock/<int:item_id>/lots"] == Permission.VIEW_STOCK
    assert isinstance(ROUTES["GET /api/v1/todos"], Anyone) and isinstance(ROUTES["GET /api/v1/changes"], Anyone)


def test_a_clerk_cannot_read_another_sites_stock(client, as_, engine, session_factory, demo, actors):
    receive(session_factory, demo, actors, "9", site="ZC")
    before = rows(engine)
    zc, tea = demo.sites["ZC"], demo.items["茶青"]
    assert_refused(client.get(f"/api/v1/stock?site_id={zc}", headers=as_("小周")), 403, "PERMISSION_DENIED",
                   "查看该地点库存")
    error = assert_refused(client.get(f"/api/v1/stock/{tea}/lots?site_id={zc}", headers=as_("小周")), 403,
                           "PERMISSION_DENIED", "查看该地点库存")
    assert "9" not in error["message"]
    # Without a site, only his own: 总仓's 9 kg is neither a row nor a lot.
    assert client.get("/api/v1/stock", headers=as_("小周")).get_json()["items"] == []
    assert client.get(f"/api/v1/stock/{tea}/lots", headers=as_("小周")).get_json()["lots"] == []
    with session_factory() as s, pytest.raises(PermissionDenied) as err:  # nor through the bot
        handlers.stock(SimpleNamespace(session=s, actor=actors["小周"], org_id=demo.org_id), "茶青 总仓")
    assert err.value.code == "PERMISSION_DENIED" and "查看该地点库存" in err.value.message
    assert rows(engine) == before


def test_a_farmer_is_refused_before_the_query_is_parsed(client, as_, engine, demo):
    before = rows(engine)
    # A malformed query string would be a 422: the 403 shows authorization ran first.
    assert_refused(client.get("/api/v1/stock?site_id=abc", headers=as_("王阿姨")), 403, "PERMISSION_DENIED",
                   "查看库存")
    assert_refused(client.get(f"/api/v1/stock/{demo.items['茶青']}/lots?site_id=-1", headers=as_("王阿姨")), 403,
                   "PERMISSION_DENIED", "查看库存")
    assert_refused(client.get("/api/v1/stock", headers={"Authorization": "Bearer nope"}), 401, "UNAUTHENTICATED")
    assert rows(engine) == before


def test_another_organisations_ids_are_not_found(client, as_, engine, session_factory, demo):
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    before = rows(engine)
    assert_refused(client.get(f"/api/v1/stock?item_id={other.items['茶青']}", headers=as_("赵经理")), 404,
                   "NOT_FOUND")
    assert_refused(client.get(f"/api/v1/stock?site_id={other.sites['SX']}", headers=as_("赵经理")), 404, "NOT_FOUND")
    assert_refused(client.get(f"/api/v1/stock/{other.items['茶青']}/lots", headers=as_("赵经理")), 404, "NOT_FOUND")
    assert rows(engine) == before


def test_todos_show_nothing_of_other_sites_people_or_organisations(client, as_, engine, session_factory, demo,
                                                                   actors):
    """A QC failure and a freeze at 总仓, a task for another member and one in another organisation:
    none is 小周's (绍兴) to-do; the storekeeper of 总仓 sees the two held lots only."""
    bad = receive(session_factory, demo, actors, "5", site="ZC")
    frozen = receive(session_factory, demo, actors, "3", site="ZC", grade="二级")
    run(session_factory, record_qc, actors["赵经理"], RecordQc(lot_id=bad.lot_id, passed=False, note="发霉"))
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        item_id=demo.items["茶青"], direction=FreezeDirection.OUTBOUND, reason="复检", lot_id=frozen.lot_id))
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        due = utcnow() + timedelta(hours=1)
        s.add_all([
            Todo(org_id=demo.org_id, title="给老孙", assignee_member_id=demo.members["老孙"], due_at=due,
                 status=TaskStatus.OPEN),
            Todo(org_id=other.org_id, title="别的合作社", assignee_role="clerk", due_at=due, status=TaskStatus.OPEN),
        ])
        s.commit()
    before = rows(engine)
    assert client.get("/api/v1/todos", headers=as_("小周")).get_json()["items"] == []
    keeper = client.get("/api/v1/todos", headers=as_("老孙")).get_json()["items"]
    assert [(t["kind"], t["lot_id"] or t["title"]) for t in keeper] == [
        ("qc_failed", bad.lot_id), ("frozen", frozen.lot_id), ("task", "给老孙")]
    assert client.get("/api/v1/todos", headers=as_("王阿姨")).get_json()["items"] == []
    assert rows(engine) == before
