"""/api/v1/margin: a document's margin, rollups, the margin preview and order charges."""

from __future__ import annotations

from tests.factories import receive, ship
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


def test_the_accountant_enters_freight_and_reads_the_margin_and_the_rollup(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    shipped = ship(session_factory, demo, 2, unit_price=100)
    headers = {**as_("吴会计"), "Idempotency-Key": "freight-1"}
    body = {"document_id": shipped.document_id, "kind": "freight", "amount": "12.50", "note": "顺丰"}
    r = client.post("/api/v1/margin/charges", headers=headers, json=body)
    assert r.status_code == 200, r.get_json()
    added = r.get_json()
    assert (added["kind_label"], added["amount"]) == ("运费", "12.50")
    assert client.post("/api/v1/margin/charges", headers=headers, json=body).get_json() == added  # replay

    m = client.get(f"/api/v1/margin/documents/{shipped.document_id}", headers=as_("吴会计")).get_json()
    assert m["figures"] == {"revenue": "200.00", "cost": "160.00", "extras": "12.50", "margin": "27.50",
                            "margin_pct": "13.8"}
    for group in ("customer", "item", "site", "month"):
        r = client.get(f"/api/v1/margin/rollup?group_by={group}", headers=as_("吴会计"))
        assert r.status_code == 200 and r.get_json()["totals"]["margin"] == "27.50", group
    rows = client.get("/api/v1/margin/rollup", headers=as_("吴会计")).get_json()["rows"]
    assert [(row["label"], row["figures"]["margin"]) for row in rows] == [("杭州茶城", "27.50")]

    r = client.delete(f"/api/v1/margin/charges/{added['charge_id']}?reason=录错", headers=as_("吴会计"))
    assert r.status_code == 200 and r.get_json()["amount"] == "-12.50"
    m = client.get(f"/api/v1/margin/documents/{shipped.document_id}", headers=as_("吴会计")).get_json()
    assert m["figures"]["margin"] == "40.00"


def test_the_preview_prices_a_draft_and_its_alternatives(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    r = client.post("/api/v1/margin/preview", headers=as_("吴会计"), json={
        "party_id": demo.parties["杭州茶城"], "site_id": demo.sites["ZC"],
        "lines": [{"item_id": demo.items["茶青"], "quantity": "5", "unit_price": "100"}],
        "price_changes": ["-10", "10"]})
    assert r.status_code == 200, r.get_json()
    p = r.get_json()
    assert [(s["label"], s["margin"], s["margin_pct"], s["needs_approval"]) for s in p["scenarios"]] == [
        ("报价", "100.00", "20.0", False), ("-10%", "50.00", "11.1", False), ("+10%", "150.00", "27.3", False)]
    assert "cash_72h" in p and p["scenarios"][0]["exposure"]["over_limit"] is False  # cash: None until the forecast


def test_bad_input_is_a_clear_error(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    shipped = ship(session_factory, demo, 1)
    for body in ({"document_id": shipped.document_id, "kind": "freight", "amount": "0"},
                 {"document_id": shipped.document_id, "kind": "freight", "amount": "1.001"},
                 {"document_id": shipped.document_id, "kind": "freight", "amount": "1e9"},
                 {"document_id": shipped.document_id, "kind": "bribe", "amount": "1"},
                 {"document_id": True, "kind": "freight", "amount": "1"}):
        assert client.post("/api/v1/margin/charges", headers=as_("吴会计"), json=body).status_code == 422, body
    assert client.get("/api/v1/margin/rollup?group_by=weather", headers=as_("吴会计")).status_code == 422
    r = client.get("/api/v1/margin/rollup?date_from=2026-12-05&date_to=2026-11-01", headers=as_("吴会计"))
    assert r.status_code == 422 and r.get_json()["error"]["details"]["field"] == "date_from"
    line = {"item_id": demo.items["茶青"], "quantity": "1", "unit_price": "1"}
    draft = {"party_id": demo.parties["杭州茶城"], "site_id": demo.sites["ZC"], "lines": [line]}
    for extra in ({"price_changes": ["1", "2", "3", "4"]}, {"price_changes": ["-100"]}, {"lines": []}):
        assert client.post("/api/v1/margin/preview", headers=as_("吴会计"), json={**draft, **extra}).status_code == 422


def test_the_routes_are_in_the_openapi_spec(client):
    paths = client.get("/openapi/openapi.json").get_json()["paths"]
    for path in ("/api/v1/margin/documents/{document_id}", "/api/v1/margin/rollup", "/api/v1/margin/preview",
                 "/api/v1/margin/charges", "/api/v1/margin/charges/{charge_id}"):
        assert path in paths, path


def test_a_thin_sales_order_waits_in_the_approvers_list_with_its_preview(client, demo, session_factory, actors, as_):
    from decimal import Decimal

    from models.documents import DocKind
    from models.operations import CreateOrder, OrderLineIn, create_order
    from models.uow import run

    receive(session_factory, demo, 10)
    order = run(session_factory, create_order, actors["赵经理"], CreateOrder(
        DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
        (OrderLineIn(demo.items["茶青"], Decimal(5), unit_price=Decimal(82)),)))
    items = client.get("/api/v1/approvals/requests", headers=as_("钱总监")).get_json()["items"]
    [item] = [i for i in items if i["document_id"] == order.document_id]
    assert item["kind_label"] == "销售订单" and item["preview"][0] == "毛利 10.00 元，毛利率 2.4%"
    detail = client.get(f"/api/v1/approvals/requests/{item['request_id']}", headers=as_("钱总监")).get_json()
    assert detail["preview"] == item["preview"]  # the page the WeChat message opens


def test_a_whole_yuan_charge_is_answered_to_the_fen(client, demo, session_factory, as_):
    """"10" is 10.00 in the answer, as in the table (and as a 收款单's amount is)."""
    receive(session_factory, demo, 10)
    shipped = ship(session_factory, demo, 1)
    body = {"document_id": shipped.document_id, "kind": "freight", "amount": "10"}
    added = client.post("/api/v1/margin/charges", headers=as_("吴会计"), json=body).get_json()
    assert added["amount"] == "10.00", added
    undone = client.delete(f"/api/v1/margin/charges/{added['charge_id']}", headers=as_("吴会计")).get_json()
    assert undone["amount"] == "-10.00", undone
