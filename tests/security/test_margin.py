"""Attacks on the margin routes: another org's order, shipment or charge; a role without the
permission; absurd amounts; a replayed key with another body — each refused, nothing written."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models.approvals import ApprovalRequest
from models.charges import OrderCharge
from models.demo import seed_demo
from models.documents import DocKind
from models.errors import SalesOrderNotApproved
from models.operations import CreateOrder, OrderLineIn, ReverseDocument, create_order, reverse_document
from models.operations.approvals import DecideApproval, decide_approval
from models.operations.charges import AddCharge, add_charge
from models.uow import run
from tests.factories import receive, ship
from tests.miniprogram_api.fixtures_3b import bearer, fx_app, fx_as, fx_client  # noqa: F401
from tests.security.conftest import assert_refused, rows


def _charges(session_factory, org_id: int) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(OrderCharge).where(OrderCharge.org_id == org_id))


def _other_org(session_factory):
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")
    receive(session_factory, other, 10)
    from models.actor import load_actor

    with session_factory() as s:
        boss = load_actor(s, other.members["钱总监"])
    order = run(session_factory, create_order, boss, CreateOrder(
        DocKind.SALES_ORDER, other.sites["ZC"], other.parties["杭州茶城"],
        (OrderLineIn(other.items["茶青"], Decimal(2), unit_price=Decimal(100)),)))
    shipped = ship(session_factory, other, 1, sales_order_id=order.document_id)
    charge = run(session_factory, add_charge, boss, AddCharge(shipped.document_id, "freight", Decimal(5)))
    return other, order.document_id, shipped.document_id, charge.charge_id


def test_another_orgs_order_shipment_and_charge_are_not_found(client, demo, session_factory, as_):
    other, order_id, shipment_id, charge_id = _other_org(session_factory)
    before = _charges(session_factory, demo.org_id), _charges(session_factory, other.org_id)
    for document_id in (order_id, shipment_id):
        assert client.get(f"/api/v1/margin/documents/{document_id}", headers=as_("吴会计")).status_code == 404
        r = client.post("/api/v1/margin/charges", headers=as_("吴会计"),
                        json={"document_id": document_id, "kind": "freight", "amount": "1"})
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "NOT_FOUND"
    assert client.delete(f"/api/v1/margin/charges/{charge_id}", headers=as_("吴会计")).status_code == 404
    # Their customer, site and item in a preview of ours: not found.
    r = client.post("/api/v1/margin/preview", headers=as_("吴会计"), json={
        "party_id": other.parties["杭州茶城"], "site_id": demo.sites["ZC"],
        "lines": [{"item_id": demo.items["茶青"], "quantity": "1", "unit_price": "1"}]})
    assert r.status_code == 404
    r = client.post("/api/v1/margin/preview", headers=as_("吴会计"), json={
        "party_id": demo.parties["杭州茶城"], "site_id": demo.sites["ZC"],
        "lines": [{"item_id": other.items["茶青"], "quantity": "1", "unit_price": "1"}]})
    assert r.status_code == 404
    # Their shipments are not in our rollup.
    rollup = client.get("/api/v1/margin/rollup", headers=as_("吴会计")).get_json()
    assert rollup["shipments"] == 0 and rollup["rows"] == []
    assert (_charges(session_factory, demo.org_id), _charges(session_factory, other.org_id)) == before


def test_roles_without_the_permission_are_refused(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    shipped = ship(session_factory, demo, 1)
    for name in ("小周", "王阿姨", "老孙"):
        assert client.get(f"/api/v1/margin/documents/{shipped.document_id}", headers=as_(name)).status_code == 403
        assert client.get("/api/v1/margin/rollup", headers=as_(name)).status_code == 403
        assert client.post("/api/v1/margin/preview", headers=as_(name), json={
            "party_id": demo.parties["杭州茶城"], "site_id": demo.sites["ZC"],
            "lines": [{"item_id": demo.items["茶青"], "quantity": "1", "unit_price": "1"}]}).status_code == 403
    for name in ("小周", "赵经理"):  # a manager sees stock, not money: no charges either
        r = client.post("/api/v1/margin/charges", headers=as_(name),
                        json={"document_id": shipped.document_id, "kind": "freight", "amount": "1"})
        assert r.status_code == 403, name
    assert _charges(session_factory, demo.org_id) == 0


def test_absurd_amounts_write_nothing(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    shipped = ship(session_factory, demo, 1)
    for amount in ("-5", "0", "100000000.01", "1e30", "NaN", "Infinity", "0.001", True):
        r = client.post("/api/v1/margin/charges", headers=as_("吴会计"),
                        json={"document_id": shipped.document_id, "kind": "freight", "amount": amount})
        assert r.status_code == 422, amount
    for quantity in ("1e30", "-1", "NaN"):
        r = client.post("/api/v1/margin/preview", headers=as_("吴会计"), json={
            "party_id": demo.parties["杭州茶城"], "site_id": demo.sites["ZC"],
            "lines": [{"item_id": demo.items["茶青"], "quantity": quantity, "unit_price": "1"}]})
        assert r.status_code == 422, quantity
    assert _charges(session_factory, demo.org_id) == 0


def test_a_replayed_key_with_another_amount_is_a_conflict(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    shipped = ship(session_factory, demo, 1)
    headers = {**as_("吴会计"), "Idempotency-Key": "charge-replay"}
    body = {"document_id": shipped.document_id, "kind": "freight", "amount": "10"}
    first = client.post("/api/v1/margin/charges", headers=headers, json=body)
    assert first.status_code == 200
    assert client.post("/api/v1/margin/charges", headers=headers, json=body).get_json() == first.get_json()
    again = client.post("/api/v1/margin/charges", headers=headers, json={**body, "amount": "99"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert _charges(session_factory, demo.org_id) == 1


def _thin_order(session_factory, demo, actors) -> int:
    """A sales order under the margin threshold (81 over an 80 cost): it waits for approval."""
    receive(session_factory, demo, 20)
    thin = run(session_factory, create_order, actors["赵经理"], CreateOrder(
        DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
        (OrderLineIn(demo.items["茶青"], Decimal(5), unit_price=Decimal(81)),)))
    assert thin.approval_reasons
    return thin.document_id


def test_a_sales_order_awaiting_approval_ships_nothing_by_any_route(client, demo, session_factory, engine, actors,
                                                                   as_):
    order_id = _thin_order(session_factory, demo, actors)
    body = {"site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "quantity": "1", "sales_order_id": order_id}
    before = rows(engine)
    assert_refused(client.post("/api/v1/shipments", headers=as_("赵经理"), json=body), 409, "APPROVAL_PENDING")
    r = client.post("/api/v1/sync", headers=as_("赵经理"),
                    json={"operations": [{"client_id": str(uuid.uuid4()), "kind": "ship", "body": body}]})
    [result] = r.get_json()["results"]
    assert result["status"] == "conflict" and result["error"]["code"] == "APPROVAL_PENDING", result
    assert rows(engine) == before


def test_a_rejected_sales_order_never_ships(client, demo, session_factory, engine, actors, as_):
    order_id = _thin_order(session_factory, demo, actors)
    with session_factory() as s:
        req_id = s.scalar(select(ApprovalRequest.id).where(ApprovalRequest.doc_kind == "sales_order",
                                                           ApprovalRequest.document_id == order_id))
    run(session_factory, decide_approval, actors["钱总监"], DecideApproval(req_id, False, "价格太低"))
    before = rows(engine)
    body = {"site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "quantity": "1", "sales_order_id": order_id}
    r = client.post("/api/v1/shipments", headers=as_("赵经理"), json=body)
    assert r.status_code == 409 and r.get_json()["error"]["code"] in ("APPROVAL_PENDING", "INVALID_STATE")
    assert rows(engine) == before


def test_an_approved_sales_order_cannot_be_shipped_below_its_price(client, demo, session_factory, engine, actors,
                                                                   as_):
    """The order's price is what its margin check and its approval judged: a shipment against it with
    another price is refused (by either route) and writes nothing; at the agreed price it ships."""
    order_id = _thin_order(session_factory, demo, actors)
    with session_factory() as s:
        req_id = s.scalar(select(ApprovalRequest.id).where(ApprovalRequest.doc_kind == "sales_order",
                                                           ApprovalRequest.document_id == order_id))
    from models.actor import Actor

    run(session_factory, decide_approval, Actor.system_actor(demo.org_id), DecideApproval(req_id, True))
    body = {"site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "quantity": "1", "sales_order_id": order_id}
    before = rows(engine)
    for price in ("1", "80.99", "0"):
        assert_refused(client.post("/api/v1/shipments", headers=as_("钱总监"), json={**body, "unit_price": price}),
                       422, "VALIDATION_ERROR", "约定单价 81")
        r = client.post("/api/v1/sync", headers=as_("钱总监"), json={"operations": [
            {"client_id": str(uuid.uuid4()), "kind": "ship", "body": {**body, "unit_price": price}}]})
        [result] = r.get_json()["results"]
        assert result["status"] == "conflict" and result["error"]["code"] == "VALIDATION_ERROR", result
    assert rows(engine) == before
    shipped = client.post("/api/v1/shipments", headers=as_("钱总监"), json={**body, "unit_price": "81"})
    assert shipped.status_code == 200 and shipped.get_json()["revenue"] == "81.00", shipped.get_json()


def test_a_charge_is_reversed_once_and_a_reversal_never(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    shipped = ship(session_factory, demo, 1)
    added = client.post("/api/v1/margin/charges", headers=as_("吴会计"),
                        json={"document_id": shipped.document_id, "kind": "freight", "amount": "10"}).get_json()
    undone = client.delete(f"/api/v1/margin/charges/{added['charge_id']}", headers=as_("吴会计"))
    assert undone.status_code == 200
    again = client.delete(f"/api/v1/margin/charges/{added['charge_id']}", headers=as_("吴会计"))
    assert_refused(again, 409, "INVALID_STATE")
    twice = client.delete(f"/api/v1/margin/charges/{undone.get_json()['charge_id']}", headers=as_("吴会计"))
    assert_refused(twice, 409, "INVALID_STATE")
    assert _charges(session_factory, demo.org_id) == 2


def test_no_charge_on_a_reversed_shipment_or_its_reversal(client, demo, session_factory, actors, as_):
    receive(session_factory, demo, 10)
    shipped = ship(session_factory, demo, 1)
    rev = run(session_factory, reverse_document, actors["钱总监"], ReverseDocument(shipped.document_id, "录错"))
    for document_id in (shipped.document_id, rev.document_id):
        r = client.post("/api/v1/margin/charges", headers=as_("吴会计"),
                        json={"document_id": document_id, "kind": "freight", "amount": "1"})
        assert r.status_code in (409, 422), r.get_data(as_text=True)
    assert _charges(session_factory, demo.org_id) == 0


def test_absurd_preview_prices_are_refused(client, demo, as_):
    line = {"item_id": demo.items["茶青"], "quantity": "1", "unit_price": "1"}
    base = {"party_id": demo.parties["杭州茶城"], "site_id": demo.sites["ZC"], "lines": [line]}
    for bad in ({"lines": [{**line, "unit_price": "1e30"}]}, {"lines": [{**line, "unit_price": "-1"}]},
                {"price_changes": ["-100"]}, {"price_changes": ["1000.01"]}, {"price_changes": ["NaN"]},
                {"price_changes": ["1", "2", "3", "4"]}, {"lines": [line] * 101}, {"lines": []}):
        r = client.post("/api/v1/margin/preview", headers=as_("吴会计"), json={**base, **bad})
        assert r.status_code == 422, bad


def test_a_sales_orders_approval_is_decided_by_neither_its_creator_nor_a_clerk_nor_another_org(
        client, app, demo, session_factory, actors, as_):
    order_id = _thin_order(session_factory, demo, actors)  # created by 赵经理, the chain's first level
    with session_factory() as s:
        req_id = s.scalar(select(ApprovalRequest.id).where(ApprovalRequest.doc_kind == "sales_order",
                                                           ApprovalRequest.document_id == order_id))
    url, approve = f"/api/v1/approvals/requests/{req_id}", {"decision": "approve"}
    assert_refused(client.post(url, headers=as_("赵经理"), json=approve), 403, "SELF_APPROVAL")
    assert client.post(url, headers=as_("小周"), json=approve).status_code == 403
    other = run(session_factory, seed_demo, f"y-{uuid.uuid4().hex[:8]}")
    assert client.post(url, headers=bearer(app, other, "钱总监"), json=approve).status_code == 404
    with session_factory() as s:
        assert s.get_one(ApprovalRequest, req_id).status.value == "pending"
    with pytest.raises(SalesOrderNotApproved):
        ship(session_factory, demo, 1, sales_order_id=order_id)
