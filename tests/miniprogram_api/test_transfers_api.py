"""Transfers through the API: request, one-tap emergency, approve via the inbox, dispatch, receive."""

from __future__ import annotations

from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client, receive  # noqa: F401


def _lines(demo, qty="5"):
    return [{"item_id": demo.items["茶青"], "quantity": qty}]


def test_transfer_lifecycle_through_the_api(client, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "20")
    r = client.post("/api/v1/transfers", headers={**as_("小周"), "Idempotency-Key": "t-1"}, json={
        "from_site_id": demo.sites["SX"], "to_site_id": demo.sites["ZC"], "lines": _lines(demo), "reason": "补货"})
    assert r.status_code == 200, r.get_json()
    doc = r.get_json()
    assert doc["status"] == "requested" and doc["number"].startswith("DB-SX-")
    again = client.post("/api/v1/transfers", headers={**as_("小周"), "Idempotency-Key": "t-1"}, json={
        "from_site_id": demo.sites["SX"], "to_site_id": demo.sites["ZC"], "lines": _lines(demo), "reason": "补货"})
    assert again.get_json()["document_id"] == doc["document_id"]

    # the clerk may not approve; the manager sees it in the inbox and approves
    denied = client.post(f"/api/v1/approvals/{doc['document_id']}", headers=as_("小周"), json={"decision": "approve"})
    assert denied.status_code == 403
    inbox = client.get("/api/v1/approvals", headers=as_("赵经理")).get_json()["items"]
    assert [a["number"] for a in inbox] == [doc["number"]] and inbox[0]["requested_by"] == "小周"
    assert client.get("/api/v1/approvals", headers=as_("小周")).get_json()["items"] == []
    ok = client.post(f"/api/v1/approvals/{doc['document_id']}", headers=as_("赵经理"), json={"decision": "approve"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "approved"
    assert client.get("/api/v1/approvals", headers=as_("赵经理")).get_json()["items"] == []

    sent = client.post(f"/api/v1/transfers/{doc['document_id']}/dispatch", headers=as_("小周"), json={})
    assert sent.status_code == 200 and sent.get_json()["status"] == "in_transit"
    wrong = client.post(f"/api/v1/transfers/{doc['document_id']}/receive", headers=as_("小周"), json={})
    assert wrong.status_code == 403
    got = client.post(f"/api/v1/transfers/{doc['document_id']}/receive", headers=as_("老孙"), json={})
    assert got.status_code == 200 and got.get_json()["status"] == "received"
    stock = client.get("/api/v1/stock", headers=as_("老孙")).get_json()["items"]
    assert [(s["site_name"], s["on_hand"]) for s in stock] == [("总仓", "5")]
    shown = client.get(f"/api/v1/transfers/{doc['document_id']}", headers=as_("老孙")).get_json()
    assert shown["status_label"] == "已收货"


def test_reject_needs_a_reason_and_cancel(client, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "20")
    doc = client.post("/api/v1/transfers", headers=as_("小周"), json={
        "from_site_id": demo.sites["SX"], "to_site_id": demo.sites["ZC"], "lines": _lines(demo)}).get_json()
    r = client.post(f"/api/v1/approvals/{doc['document_id']}", headers=as_("赵经理"), json={"decision": "reject"})
    assert r.status_code == 422 and r.get_json()["error"]["details"]["field"] == "reason"
    r = client.post(f"/api/v1/transfers/{doc['document_id']}/cancel", headers=as_("小周"), json={"reason": "不要了"})
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    r = client.post(f"/api/v1/approvals/{doc['document_id']}", headers=as_("赵经理"), json={"decision": "approve"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "INVALID_STATE"


def test_emergency_transfer_prefills_from_shortfall_and_spare(client, demo, actors, session_factory, as_):
    # 老孙 may see stock at 总仓 and 门店 only: the source is chosen among those.
    receive(session_factory, demo, actors, "12", site="ZC")
    receive(session_factory, demo, actors, "3", site="MD")
    body = {"to_site_id": demo.sites["MD"], "items": [{"item_id": demo.items["茶青"], "need": "10"}]}
    preview = client.post("/api/v1/transfers/emergency", headers=as_("老孙"), json={**body, "preview": True})
    assert preview.status_code == 200, preview.get_json()
    p = preview.get_json()
    assert p["from_site_id"] == demo.sites["ZC"] and p["transfer"] is None
    assert (p["suggestions"][0]["shortfall"], p["suggestions"][0]["suggested"]) == ("7", "7")
    made = client.post("/api/v1/transfers/emergency", headers={**as_("老孙"), "Idempotency-Key": "em-1"}, json=body)
    t = made.get_json()["transfer"]
    assert t["urgent"] is True and t["lines"][0]["quantity"].startswith("7")
    receive(session_factory, demo, actors, "1", site="MD")  # stock moved; a retry still replays the first answer
    retry = client.post("/api/v1/transfers/emergency", headers={**as_("老孙"), "Idempotency-Key": "em-1"}, json=body)
    assert retry.status_code == 200 and retry.get_json()["transfer"]["document_id"] == t["document_id"]
    inbox = client.get("/api/v1/approvals", headers=as_("钱总监")).get_json()["items"]
    assert inbox[0]["urgent"] is True
    todos = client.get("/api/v1/todos", headers=as_("钱总监")).get_json()["items"]
    assert todos[0]["kind"] == "approval" and "紧急" in todos[0]["title"]


def test_emergency_with_nothing_to_spare_is_a_clear_error(client, demo, as_):
    r = client.post("/api/v1/transfers/emergency", headers=as_("老孙"), json={
        "to_site_id": demo.sites["MD"], "from_site_id": demo.sites["ZC"],
        "items": [{"item_id": demo.items["茶青"]}]})
    assert r.status_code == 422 and "没有可调出的库存" in r.get_json()["error"]["message"]
