"""Attacks on the margin routes: another org's order, shipment or charge; a role without the
permission; absurd amounts; a replayed key with another body — each refused, nothing written."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select

from models.charges import OrderCharge
from models.demo import seed_demo
from models.documents import DocKind
from models.operations import CreateOrder, OrderLineIn, create_order
from models.operations.charges import AddCharge, add_charge
from models.uow import run
from tests.factories import receive, ship
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


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
