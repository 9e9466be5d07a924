"""Stock by site/item/lot, shipments and counts through the API: roles, org scoping, idempotency."""

from __future__ import annotations

import uuid
from datetime import timedelta

from models.base import utcnow
from models.timeutil import local_date
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client, receive  # noqa: F401


def test_stock_lists_only_the_clerks_sites(client, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "20", site="SX")
    receive(session_factory, demo, actors, "5", site="ZC")
    rows = client.get("/api/v1/stock", headers=as_("小周")).get_json()["items"]
    assert [(r["site_name"], r["item_name"], r["on_hand"], r["available"]) for r in rows] == [
        ("绍兴收购点", "茶青", "20", "20")]
    shelf_life = timedelta(days=3)  # 茶青 keeps three days from the day it was received
    assert rows[0]["nearest_expiry"] == (local_date(utcnow()) + shelf_life).isoformat()
    everything = client.get("/api/v1/stock", headers=as_("赵经理")).get_json()["items"]
    assert {r["site_name"] for r in everything} == {"绍兴收购点", "总仓"}
    denied = client.get(f"/api/v1/stock?site_id={demo.sites['ZC']}", headers=as_("小周"))
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "PERMISSION_DENIED"


def test_farmer_sees_no_stock_and_bad_token_is_401(client, as_):
    assert client.get("/api/v1/stock", headers=as_("王阿姨")).status_code == 403
    assert client.get("/api/v1/stock").get_json()["error"]["code"] == "UNAUTHENTICATED"
    assert client.get("/api/v1/stock", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_lots_with_expiry_first_expiry_first(client, demo, actors, session_factory, as_):
    first = receive(session_factory, demo, actors, "3")
    second = receive(session_factory, demo, actors, "4", grade="特级")
    body = client.get(f"/api/v1/stock/{demo.items['茶青']}/lots", headers=as_("小周")).get_json()
    assert body["item_name"] == "茶青" and body["base_unit"] == "公斤"
    assert [lot["lot_code"] for lot in body["lots"]] == [first.lot_code, second.lot_code]
    assert body["lots"][0]["days_to_expiry"] in (2, 3) and body["lots"][0]["qc_status"] == "pending"


def test_another_orgs_ids_are_not_found(client, demo, session_factory, as_):
    from models.demo import seed_demo
    from models.uow import run

    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    r = client.get(f"/api/v1/stock/{other.items['茶青']}/lots", headers=as_("赵经理"))
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "NOT_FOUND"
    r = client.post("/api/v1/shipments", headers=as_("赵经理"), json={
        "site_id": other.sites["SX"], "item_id": demo.items["茶青"], "quantity": "1"})
    assert r.status_code == 404


def test_ship_is_idempotent_and_a_changed_body_is_409(client, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "10")
    headers = {**as_("小周"), "Idempotency-Key": "ship-1"}
    body = {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "3", "unit": "斤",
            "party_id": demo.parties["杭州茶城"], "unit_price": "200"}
    first = client.post("/api/v1/shipments", headers=headers, json=body)
    assert first.status_code == 200, first.get_json()
    again = client.post("/api/v1/shipments", headers=headers, json=body)
    assert again.get_json() == first.get_json()
    assert first.get_json()["number"].startswith("CK-SX-") and first.get_json()["quantity"].startswith("1.5")
    changed = client.post("/api/v1/shipments", headers=headers, json={**body, "quantity": "4"})
    assert changed.status_code == 409 and changed.get_json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    level = client.get("/api/v1/stock", headers=as_("小周")).get_json()["items"][0]
    assert level["on_hand"] == "8.5"


def test_oversell_and_wrong_site_answer_in_the_error_shape(client, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "2")
    r = client.post("/api/v1/shipments", headers=as_("小周"), json={
        "site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "5"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "INSUFFICIENT_STOCK"
    r = client.post("/api/v1/shipments", headers=as_("小周"), json={
        "site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "quantity": "1"})
    assert r.status_code == 403
    r = client.post("/api/v1/shipments", headers=as_("小周"), json={"site_id": "x", "quantity": "-1"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_count_makes_the_counted_quantity_the_book(client, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "10")
    r = client.post("/api/v1/counts", headers=as_("小周"), json={
        "site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "counted": "9.5"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["number"].startswith("PD-SX-") and r.get_json()["difference"].startswith("-0.5")
    assert client.get("/api/v1/stock", headers=as_("小周")).get_json()["items"][0]["on_hand"] == "9.5"
