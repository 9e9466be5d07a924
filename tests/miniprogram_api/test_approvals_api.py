"""Approvals: only approvers, only within the org, never one's own request, the first decision wins."""

from __future__ import annotations

import uuid
from decimal import Decimal

from models.demo import seed_demo
from models.operations import RequestTransfer, TransferLineIn, request_transfer
from models.uow import run
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client, receive  # noqa: F401


def _request(session_factory, demo, actor):
    return run(session_factory, request_transfer, actor, RequestTransfer(
        demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(demo.items["茶青"], Decimal(2)),), urgent=False))


def test_only_approvers_see_and_decide(client, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "10")
    doc = _request(session_factory, demo, actors["小周"])
    for name in ("小周", "老孙", "王阿姨", "吴会计"):
        assert client.get("/api/v1/approvals", headers=as_(name)).get_json()["items"] == [], name
    r = client.post(f"/api/v1/approvals/{doc.document_id}", headers=as_("老孙"), json={"decision": "approve"})
    assert r.status_code == 403 and "审批调拨" in r.get_json()["error"]["message"]
    headers = {**as_("钱总监"), "Idempotency-Key": f"d-{doc.document_id}"}
    first = client.post(f"/api/v1/approvals/{doc.document_id}", headers=headers, json={"decision": "approve"})
    assert first.status_code == 200 and first.get_json()["decided_by"] == demo.members["钱总监"]
    replay = client.post(f"/api/v1/approvals/{doc.document_id}", headers=headers, json={"decision": "approve"})
    assert replay.get_json() == first.get_json()
    changed = client.post(f"/api/v1/approvals/{doc.document_id}", headers=headers,
                          json={"decision": "reject", "reason": "改主意"})
    assert changed.status_code == 409 and changed.get_json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    late = client.post(f"/api/v1/approvals/{doc.document_id}", headers=as_("赵经理"),
                       json={"decision": "reject", "reason": "晚了"})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "INVALID_STATE"


def test_a_manager_does_not_approve_her_own_request(client, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "10")
    doc = _request(session_factory, demo, actors["赵经理"])
    assert client.get("/api/v1/approvals", headers=as_("赵经理")).get_json()["items"] == []
    r = client.post(f"/api/v1/approvals/{doc.document_id}", headers=as_("赵经理"), json={"decision": "approve"})
    assert r.status_code == 422
    assert [a["document_id"] for a in client.get("/api/v1/approvals", headers=as_("钱总监")).get_json()["items"]] \
        == [doc.document_id]


def test_another_orgs_transfer_is_not_found(client, demo, session_factory, as_):
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    from models.actor import load_actor

    with session_factory() as s:
        manager = load_actor(s, other.members["赵经理"])
    doc = _request(session_factory, other, manager)
    r = client.post(f"/api/v1/approvals/{doc.document_id}", headers=as_("钱总监"), json={"decision": "approve"})
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "NOT_FOUND"
    assert client.get(f"/api/v1/transfers/{doc.document_id}", headers=as_("钱总监")).status_code == 404
    assert client.get("/api/v1/approvals", headers=as_("钱总监")).get_json()["items"] == []
