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
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "SELF_APPROVAL"
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


def _big_purchase_order(session_factory, demo, actors):
    """A ¥20,000 order for 龙井 from the packaging supplier: over the threshold, so it opens a chain.

    A purchaser places it: nobody on the chain may decide an order of their own.
    """
    from models.actor import load_actor
    from models.documents import DocKind
    from models.operations import CreateMember, CreateOrder, OrderLineIn, create_member, create_order
    from models.org import Role
    from workflows.relay import relay_pending

    purchaser_id = run(session_factory, create_member, actors["钱总监"], CreateMember(
        "孙采购", roles=((Role.PURCHASER, None),)))
    with session_factory() as s:
        purchaser = load_actor(s, purchaser_id)
    order = run(session_factory, create_order, purchaser, CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["包装厂"],
        (OrderLineIn(demo.items["龙井"], Decimal(1000), None, Decimal(20)),)))
    while relay_pending(session_factory, limit=10_000):
        pass
    return order


def test_every_chain_reaches_its_approvers_level_by_level(client, demo, actors, session_factory, as_):
    order = _big_purchase_order(session_factory, demo, actors)
    [item] = client.get("/api/v1/approvals/requests", headers=as_("赵经理")).get_json()["items"]
    assert (item["doc_kind"], item["kind_label"], item["number"], item["amount"]) == (
        "purchase_order", "采购订单", order.number, "20000.00")
    assert (item["awaiting_role"], item["awaiting_label"], item["may_decide"]) == ("manager", "主管", True)
    for name in ("老孙", "小周", "王阿姨"):  # not on the chain: nothing listed, the detail refused
        assert client.get("/api/v1/approvals/requests", headers=as_(name)).get_json()["items"] == [], name
    assert client.get(f"/api/v1/approvals/requests/{item['request_id']}", headers=as_("老孙")).status_code == 403
    url = f"/api/v1/approvals/requests/{item['request_id']}"
    refused = client.post(url, headers=as_("老孙"), json={"decision": "approve"})
    assert refused.status_code == 403

    step = client.post(url, headers={**as_("赵经理"), "Idempotency-Key": "po-1"}, json={"decision": "approve"})
    assert step.status_code == 200
    body = step.get_json()
    assert (body["status"], body["step"], body["awaiting_role"], body["may_decide"]) == (
        "pending", 1, "director", False)
    assert [h["name"] for h in body["history"]] == ["赵经理"]
    assert client.get("/api/v1/approvals/requests", headers=as_("赵经理")).get_json()["items"] == []
    no_reason = client.post(url, headers=as_("钱总监"), json={"decision": "reject"})
    assert no_reason.status_code == 422 and no_reason.get_json()["error"]["code"] == "VALIDATION_ERROR"
    done = client.post(url, headers=as_("钱总监"), json={"decision": "reject", "reason": "价格偏高"})
    assert done.status_code == 200
    assert (done.get_json()["status"], done.get_json()["status_label"]) == ("rejected", "已驳回")
    late = client.post(url, headers=as_("赵经理"), json={"decision": "approve"})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "INVALID_STATE"
    detail = client.get(url, headers=as_("赵经理")).get_json()  # an earlier level still reads the outcome
    assert detail["status"] == "rejected" and [h["approve"] for h in detail["history"]] == [True, False]


def test_another_orgs_approval_is_not_found(client, demo, session_factory, as_):
    from models.actor import load_actor

    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        others = {name: load_actor(s, member_id) for name, member_id in other.members.items()}
    _big_purchase_order(session_factory, other, others)
    from sqlalchemy import select

    from models.approvals import ApprovalRequest

    with session_factory() as s:
        req_id = s.scalar(select(ApprovalRequest.id).where(ApprovalRequest.org_id == other.org_id))
    for method in (client.get, client.post):
        r = method(f"/api/v1/approvals/requests/{req_id}", headers=as_("钱总监"), json={"decision": "approve"})
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "NOT_FOUND"
    assert client.get("/api/v1/approvals/requests", headers=as_("钱总监")).get_json()["items"] == []
