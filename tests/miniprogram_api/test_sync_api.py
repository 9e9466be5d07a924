"""Offline sync: a queue applied in order, replays reported as already applied, conflicts per entry;
and master-data changes since a cursor."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from models.base import utcnow
from models.documents import Document
from models.operations import (
    AssignRole,
    CreateSite,
    FreezeStock,
    SetGradePrice,
    assign_role,
    create_site,
    freeze_stock,
    set_grade_price,
)
from models.org import Role, SiteKind
from models.stock import FreezeDirection, StockMove
from models.uow import run
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


def _op(kind, body, business_time=None, client_id=None):
    op = {"client_id": str(client_id or uuid.uuid4()), "kind": kind, "body": body}
    if business_time is not None:
        op["business_time"] = business_time.isoformat()
    return op


def _receive(demo, qty="10", grade="一级"):
    return {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": qty, "unit": "斤",
            "party_id": demo.parties["王阿姨"], "grade_id": demo.grades[grade]}


def test_a_queue_applies_in_order_and_replays_as_already_applied(client, demo, session_factory, as_):
    yesterday = utcnow() - timedelta(days=1)
    ops = [
        _op("receive", _receive(demo, "40"), yesterday),
        _op("ship", {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "5",
                     "party_id": demo.parties["杭州茶城"], "unit_price": "150"}),
        _op("count", {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "counted": "14"}),
        _op("transfer_request", {"from_site_id": demo.sites["SX"], "to_site_id": demo.sites["ZC"],
                                 "lines": [{"item_id": demo.items["茶青"], "quantity": "4"}]}),
    ]
    r = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": ops})
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert [x["status"] for x in out["results"]] == ["applied"] * 4, out
    assert out["applied"] == 4 and out["conflicts"] == 0
    receipt = out["results"][0]["result"]
    assert receipt["number"].startswith("RK-SX-") and Decimal(receipt["quantity"]) == 20
    assert Decimal(out["results"][2]["result"]["difference"]) == -1
    with session_factory() as s:
        move = s.get(StockMove, uuid.UUID(ops[0]["client_id"]))
        assert move is not None and move.origin_node == "offline-phone"
        doc = s.scalars(select(Document).where(Document.id == receipt["document_id"])).one()
        assert abs(doc.business_time - yesterday) < timedelta(seconds=1)

    again = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": ops}).get_json()
    assert [x["status"] for x in again["results"]] == ["already_applied"] * 4
    assert again["results"][0]["result"] == receipt


def test_conflicts_are_reported_per_entry_and_do_not_stop_the_rest(client, demo, actors, session_factory, as_):
    taken = uuid.uuid4()
    first = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": [
        _op("receive", _receive(demo, "10"), client_id=taken)]}).get_json()
    assert first["applied"] == 1
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        item_id=demo.items["茶青"], direction=FreezeDirection.INBOUND, reason="农残抽检", site_id=demo.sites["SX"]))
    ops = [
        _op("receive", _receive(demo, "8")),                                   # frozen meanwhile
        _op("ship", {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "500"}),  # oversell
        _op("receive", _receive(demo, "11"), client_id=taken),                 # same id, other body
        _op("teleport", {}),                                                   # unknown kind
        _op("ship", {"site_id": "SX"}),                                        # malformed body
        _op("ship", {"site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "quantity": "1"}),  # not her site
        _op("ship", {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "2"}),   # fine
    ]
    out = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": ops}).get_json()
    codes = [(x["status"], x["error"]["code"] if x["error"] else None) for x in out["results"]]
    assert codes == [
        ("conflict", "STOCK_FROZEN"), ("conflict", "INSUFFICIENT_STOCK"), ("conflict", "IDEMPOTENCY_CONFLICT"),
        ("conflict", "UNKNOWN_KIND"), ("conflict", "VALIDATION_ERROR"), ("conflict", "PERMISSION_DENIED"),
        ("applied", None),
    ]
    assert "冻结" in out["results"][0]["error"]["message"]
    assert out["applied"] == 1 and out["conflicts"] == 6


def test_sync_needs_a_token_and_a_bounded_batch(client, demo, as_):
    assert client.post("/api/v1/sync", json={"operations": []}).status_code == 401
    too_many = [_op("count", {}) for _ in range(501)]
    r = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": too_many})
    assert r.status_code == 422


def test_changes_full_then_only_what_changed(client, demo, actors, session_factory, as_, monkeypatch):
    import models.queries.changes

    monkeypatch.setattr(models.queries.changes, "SLACK", timedelta(0))  # the demo was seeded a moment ago
    full = client.get("/api/v1/changes", headers=as_("小周")).get_json()
    assert full["full"] is True
    assert {s["name"] for s in full["sites"]} == {"绍兴收购点", "总仓", "门店"}
    leaf = next(i for i in full["items"] if i["name"] == "茶青")
    grades = [(g["name"], g["purchase_price"]) for g in leaf["grades"]]
    assert grades == [("特级", "120"), ("一级", "80"), ("二级", "50")]
    jar = next(i for i in full["items"] if i["code"] == "LJ250")
    assert jar["packs"] == [{"name": "箱", "factor": "20"}]
    assert {"斤", "公斤"} <= {u["name"] for u in full["units"]}
    assert {"王阿姨", "小周"} <= {m["name"] for m in full["members"]}

    run(session_factory, set_grade_price, actors["赵经理"], SetGradePrice(demo.grades["一级"], Decimal("85"), "涨价"))
    run(session_factory, create_site, actors["钱总监"], CreateSite("HZ", "杭州门店", SiteKind.STORE))
    run(session_factory, assign_role, actors["钱总监"], AssignRole(demo.members["小周"], Role.CLERK, demo.sites["ZC"]))
    delta = client.get(f"/api/v1/changes?cursor={full['cursor']}", headers=as_("小周")).get_json()
    assert delta["full"] is False
    assert [i["name"] for i in delta["items"]] == ["茶青"]
    assert ("一级", "85") in [(g["name"], g["purchase_price"]) for g in delta["items"][0]["grades"]]
    assert [s["name"] for s in delta["sites"]] == ["杭州门店"]
    assert [m["name"] for m in delta["members"]] == ["小周"]
    assert delta["parties"] == [] and delta["cursor"] >= full["cursor"]


def test_farmer_changes_show_no_other_people_and_bad_cursor_is_422(client, demo, as_):
    mine = client.get("/api/v1/changes", headers=as_("王阿姨")).get_json()
    assert [p["name"] for p in mine["parties"]] == ["王阿姨"] and [m["name"] for m in mine["members"]] == ["王阿姨"]
    r = client.get("/api/v1/changes?cursor=garbage", headers=as_("王阿姨"))
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_transfer_steps_queue_offline(client, demo, actors, session_factory, as_):
    from models.operations import (
        DecideTransfer,
        ReceiveGoods,
        RequestTransfer,
        TransferLineIn,
        decide_transfer,
        receive_goods,
        request_transfer,
    )

    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(10),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
    doc = run(session_factory, request_transfer, actors["小周"], RequestTransfer(
        demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(demo.items["茶青"], Decimal(4)),)))
    run(session_factory, decide_transfer, actors["赵经理"], DecideTransfer(doc.document_id, True))
    sent = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": [
        _op("transfer_dispatch", {"document_id": doc.document_id})]}).get_json()
    assert sent["results"][0]["result"]["status"] == "in_transit"
    got = client.post("/api/v1/sync", headers=as_("老孙"), json={"operations": [
        _op("transfer_receive", {"document_id": doc.document_id}),
        _op("transfer_cancel", {"document_id": doc.document_id}),
    ]}).get_json()
    assert [r["status"] for r in got["results"]] == ["applied", "conflict"]
    assert got["results"][1]["error"]["code"] == "PERMISSION_DENIED"  # neither requester nor approver
