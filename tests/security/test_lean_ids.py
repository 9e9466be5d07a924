"""Shipments and counts run on the posting writer (issue 11) and resolve their ids in the org's catalog
snapshot and its own locked balances: another co-operative's site, item, customer, lot or sales order
is NOT_FOUND there, exactly as a receipt's are (test_receipts.py), and nothing is written."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from models.demo import seed_demo
from models.documents import DocKind
from models.operations import CreateOrder, OrderLineIn, create_order
from models.uow import run
from tests.miniprogram_api.fixtures_3b import receive
from tests.security.conftest import rows


def _sync(client, headers, kind: str, body: dict) -> dict:
    r = client.post("/api/v1/sync", headers=headers,
                    json={"operations": [{"client_id": str(uuid.uuid4()), "kind": kind, "body": body}]})
    assert r.status_code == 200, r.get_data(as_text=True)
    [result] = r.get_json()["results"]
    return result


@pytest.fixture
def theirs(session_factory, demo, actors):
    """Stock in both organisations at 绍兴收购点, and a confirmed sales order in the other one."""
    receive(session_factory, demo, actors, "30")
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:8]}")
    from models.actor import load_actor  # the other org's manager, by the same demo name

    with session_factory() as s:
        manager = load_actor(s, other.members["赵经理"])
    receipt = run(session_factory, receive_goods_for(other), manager)
    order = run(session_factory, create_order, manager, CreateOrder(
        DocKind.SALES_ORDER, other.sites["SX"], other.parties["杭州茶城"],
        (OrderLineIn(other.items["茶青"], Decimal(2), unit_price=Decimal(200)),)))
    return {"site_id": other.sites["SX"], "item_id": other.items["茶青"], "party_id": other.parties["杭州茶城"],
            "lot_id": receipt.lot_id, "sales_order_id": order.document_id}


def receive_goods_for(other):
    from models.operations.receiving import ReceiveGoods, receive_goods

    def go(session, actor):
        return receive_goods(session, actor, ReceiveGoods(
            site_id=other.sites["SX"], item_id=other.items["茶青"], quantity=Decimal(20),
            party_id=other.parties["王阿姨"], grade_id=other.grades["一级"]))
    return go


@pytest.mark.parametrize("field", ["site_id", "item_id", "party_id", "lot_id", "sales_order_id"])
def test_a_shipment_naming_another_orgs_ids_finds_nothing_and_writes_nothing(client, as_, demo, engine, theirs,
                                                                             field):
    body = {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "2",
            "party_id": demo.parties["杭州茶城"], "unit_price": "200", field: theirs[field]}
    before = rows(engine)
    result = _sync(client, as_("赵经理"), "ship", body)
    assert result["status"] == "conflict", result
    # Their lot is simply not among our balances at our site: nothing of it is available to ship,
    # and the answer names only our own site's stock.
    if field == "lot_id":
        assert result["error"]["code"] == "INSUFFICIENT_STOCK", result
        assert result["error"]["details"]["site_id"] == demo.sites["SX"], result
    else:
        assert result["error"]["code"] in ("NOT_FOUND", "VALIDATION_ERROR"), result
    assert rows(engine) == before


@pytest.mark.parametrize("field", ["site_id", "item_id", "lot_id"])
def test_a_count_naming_another_orgs_ids_finds_nothing_and_writes_nothing(client, as_, demo, engine, theirs, field):
    body = {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "counted": "1", field: theirs[field]}
    before = rows(engine)
    result = _sync(client, as_("赵经理"), "count", body)
    assert result["status"] == "conflict", result
    assert result["error"]["code"] in ("NOT_FOUND", "VALIDATION_ERROR"), result
    assert rows(engine) == before


@pytest.mark.parametrize("kind, body", [
    ("ship", {"quantity": "2", "unit_price": "200"}),
    ("count", {"counted": "7"}),
])
def test_a_lean_posting_sent_twice_is_written_once_and_answered_alike(client, as_, demo, session_factory, actors,
                                                                    engine, kind, body):
    receive(session_factory, demo, actors, "30")
    op = {"client_id": str(uuid.uuid4()), "kind": kind,
          "body": {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], **body}}
    first = client.post("/api/v1/sync", headers=as_("赵经理"), json={"operations": [op]}).get_json()["results"][0]
    assert first["status"] == "applied", first
    after_first = rows(engine)
    again = client.post("/api/v1/sync", headers=as_("赵经理"), json={"operations": [op]}).get_json()["results"][0]
    assert again["status"] == "already_applied" and again["result"] == first["result"], again
    assert rows(engine) == after_first


@pytest.mark.parametrize("kind, body", [
    ("ship", {"quantity": "1e13", "unit_price": "200"}),
    ("ship", {"quantity": "2", "unit_price": "-1"}),
    ("ship", {"quantity": "2", "unit_price": "1e13"}),
    ("ship", {"quantity": "0", "unit_price": "200"}),
    ("ship", {"quantity": "NaN", "unit_price": "200"}),
    ("count", {"counted": "1e13"}),
    ("count", {"counted": "-1"}),
    ("count", {"counted": "Infinity"}),
])
def test_absurd_numbers_in_a_lean_posting_write_nothing(client, as_, demo, session_factory, actors, engine, kind,
                                                        body):
    receive(session_factory, demo, actors, "30")
    before = rows(engine)
    r = client.post("/api/v1/sync", headers=as_("赵经理"), json={"operations": [{
        "client_id": str(uuid.uuid4()), "kind": kind,
        "body": {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], **body}}]})
    if r.status_code == 200:
        [result] = r.get_json()["results"]
        assert result["status"] == "conflict" and result["error"]["code"] == "VALIDATION_ERROR", result
    else:
        assert r.status_code == 422, r.get_data(as_text=True)
    assert rows(engine) == before
