"""/api/v1/finance: farmers to pay and settlement, vouchers, mapping rules with the change preview —
the API beside the console's 资金 pages (the same queries and operations)."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from models.finance import MappingRule, Voucher
from tests.console.money_fixtures import deliveries, farmer_rule_id, other_org, settlement_ids
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401
from tests.security.conftest import assert_refused, rows

RAW = [{"account": "1403", "side": "debit", "amount": "goods", "memo": "原材料"},
       {"account": "2202", "side": "credit", "amount": "goods", "memo": "应付农户款"}]


def test_farmers_due_then_settle_the_chosen_delivery(client, demo, actors, session_factory, as_):
    first, second = deliveries(session_factory, demo, actors, 2)
    wu = as_("吴会计")
    listed = client.get("/api/v1/finance/farmers-due", headers=wu).get_json()
    assert [(f["party_name"], f["deliveries"]) for f in listed["farmers"]] == [("王阿姨", 2)]
    wang = demo.parties["王阿姨"]
    detail = client.get(f"/api/v1/finance/farmers-due/{wang}", headers=wu).get_json()
    assert [d["receipt_number"] for d in detail["deliveries"]] == [first.number, second.number]
    pick = settlement_ids(session_factory, demo.org_id)[first.document_id]
    paid = client.post("/api/v1/finance/settlements", json={"party_id": wang, "settlement_ids": [pick]},
                       headers={**wu, "Idempotency-Key": "settle-1"})
    assert paid.status_code == 201, paid.get_json()
    body = paid.get_json()
    assert [i["receipt_number"] for i in body["items"]] == [first.number]
    assert D(body["amount"]) == D(detail["deliveries"][0]["amount"])
    paper = client.get(f"/api/v1/finance/settlements/{body['document_id']}", headers=wu).get_json()
    assert paper["number"] == body["number"] and paper["party_name"] == "王阿姨"
    before = rows(session_factory.kw["bind"])
    again = client.post("/api/v1/finance/settlements", json={"party_id": wang, "settlement_ids": [pick]},
                        headers=wu)  # a new request for a delivery already paid
    assert_refused(again, 422, "VALIDATION_ERROR", "已结算")
    assert rows(session_factory.kw["bind"]) == before


def test_vouchers_page_and_one_voucher(client, demo, actors, session_factory, as_):
    (receipt,) = deliveries(session_factory, demo, actors, 1)
    other, _people = other_org(session_factory)
    wu = as_("吴会计")
    page = client.get("/api/v1/finance/vouchers", headers=wu).get_json()
    assert [v["document_number"] for v in page["vouchers"]] == [receipt.number]
    one = client.get(f"/api/v1/finance/vouchers/{page['vouchers'][0]['voucher_id']}", headers=wu).get_json()
    assert one["debit_total"] == one["credit_total"] and one["lines"]
    with session_factory() as s:
        foreign = s.scalars(select(Voucher.id).where(Voucher.org_id == other.org_id)).first()
    assert_refused(client.get(f"/api/v1/finance/vouchers/{foreign}", headers=wu), 404, "NOT_FOUND")


def test_preview_writes_nothing_and_the_change_makes_a_new_version(client, demo, actors, session_factory, as_):
    deliveries(session_factory, demo, actors, 1)
    rule_id = farmer_rule_id(session_factory, demo.org_id)
    wu = as_("吴会计")
    listed = client.get("/api/v1/finance/mapping-rules", headers=wu).get_json()["rules"]
    assert rule_id in [r["rule_id"] for r in listed]
    before = rows(session_factory.kw["bind"])
    preview = client.post(f"/api/v1/finance/mapping-rules/{rule_id}/preview", json={"lines": RAW}, headers=wu)
    body = preview.get_json()
    assert preview.status_code == 200 and body["count"] == 1 and body["problem"] == ""
    assert [ln["account"] for ln in body["vouchers"][0]["after"]] == ["1403", "2202"]
    assert rows(session_factory.kw["bind"]) == before
    changed = client.put(f"/api/v1/finance/mapping-rules/{rule_id}", json={"lines": RAW, "reason": "原材料"},
                         headers=wu)
    assert changed.status_code == 200 and changed.get_json()["reposted"] == body["count"]
    with session_factory() as s:
        assert not s.get_one(MappingRule, rule_id).active


def test_a_manager_may_not_change_rules_or_settle(client, demo, actors, session_factory, as_):
    deliveries(session_factory, demo, actors, 1)
    rule_id = farmer_rule_id(session_factory, demo.org_id)
    zhao = as_("赵经理")
    before = rows(session_factory.kw["bind"])
    assert_refused(client.put(f"/api/v1/finance/mapping-rules/{rule_id}", json={"lines": RAW}, headers=zhao),
                   403, "PERMISSION_DENIED")
    assert_refused(client.post("/api/v1/finance/settlements", json={"party_id": demo.parties["王阿姨"]},
                               headers=zhao), 403, "PERMISSION_DENIED")
    assert_refused(client.get("/api/v1/finance/farmers-due", headers=zhao), 403, "PERMISSION_DENIED")
    assert rows(session_factory.kw["bind"]) == before
