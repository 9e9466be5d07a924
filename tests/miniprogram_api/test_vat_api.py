"""/api/v1/finance VAT routes: the summary of a month, invoice numbers, item and party rates; and the
shipment/receipt bodies taking an optional rate and invoice number."""

from __future__ import annotations

import uuid

from models.base import utcnow
from models.timeutil import period_of
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


def _buy_and_sell(client, demo, as_):
    jar, zc = demo.items["龙井"], demo.sites["ZC"]
    r = client.put(f"/api/v1/finance/items/{jar}/vat-rate", headers=as_("吴会计"), json={"vat_rate": "0.13"})
    assert r.status_code == 200 and r.get_json()["rate"] == "0.1300", r.get_json()
    r = client.post("/api/v1/sync", headers=as_("钱总监"), json={"operations": [{
        "client_id": str(uuid.uuid4()), "kind": "receive", "body": {
            "site_id": zc, "item_id": jar, "quantity": "10", "party_id": demo.parties["包装厂"],
            "unit_price": "20", "price_reason": "合同价", "invoice_number": "00112233"}}]})
    assert r.status_code == 200 and r.get_json()["applied"] == 1, r.get_json()
    r = client.post("/api/v1/shipments", headers={**as_("钱总监"), "Idempotency-Key": uuid.uuid4().hex}, json={
        "site_id": zc, "item_id": jar, "quantity": "2", "party_id": demo.parties["杭州茶城"], "unit_price": "150"})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_the_accountant_reads_the_vat_summary_and_records_an_invoice_number(client, demo, as_):
    sold = _buy_and_sell(client, demo, as_)
    assert (sold["revenue"], sold["tax"], sold["total"]) == ("300.00", "39.00", "339.00")
    r = client.get(f"/api/v1/finance/vat-summary?period={period_of(utcnow())}", headers=as_("吴会计"))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["output_tax"], body["input_tax"], body["tax_payable"], body["balanced"]) == (
        "39.00", "26.00", "13.00", True)
    assert body["rates"] == [{"rate": "0.1300", "sales": "300.00", "output_tax": "39.00", "purchases": "200.00",
                              "input_tax": "26.00"}]
    assert client.get("/api/v1/finance/vat-summary", headers=as_("吴会计")).get_json() == body  # default: this month
    by_kind = {d["kind"]: d for d in body["documents"]}
    assert by_kind["receipt"]["invoice_number"] == "00112233" and by_kind["shipment"]["invoice_number"] is None

    r = client.put(f"/api/v1/finance/documents/{sold['document_id']}/invoice-number", headers=as_("吴会计"),
                   json={"invoice_number": "24330000000012345678"})
    assert r.status_code == 200 and r.get_json()["invoice_number"] == "24330000000012345678", r.get_json()
    again = client.get("/api/v1/finance/vat-summary", headers=as_("吴会计")).get_json()
    assert {d["kind"]: d["invoice_number"] for d in again["documents"]}["shipment"] == "24330000000012345678"


def test_an_explicit_rate_on_the_shipment_wins(client, demo, as_):
    _buy_and_sell(client, demo, as_)
    r = client.post("/api/v1/shipments", headers=as_("钱总监"), json={
        "site_id": demo.sites["ZC"], "item_id": demo.items["龙井"], "quantity": "1",
        "party_id": demo.parties["杭州茶城"], "unit_price": "100", "tax_rate": "0", "invoice_number": "A-1"})
    assert r.status_code == 200 and r.get_json()["tax"] == "0.00", r.get_json()


def test_bad_periods_rates_and_invoice_numbers_are_422(client, demo, as_):
    for period in ("2026-12", "202613", "x"):
        assert client.get(f"/api/v1/finance/vat-summary?period={period}", headers=as_("吴会计")).status_code == 422
    jar = demo.items["龙井"]
    for rate in ("1", "-0.01", "0.12345", "1e9", True, "十三"):
        r = client.put(f"/api/v1/finance/items/{jar}/vat-rate", headers=as_("吴会计"), json={"vat_rate": rate})
        assert r.status_code == 422, rate
    r = client.put(f"/api/v1/finance/parties/{demo.parties['王阿姨']}/vat-rate", headers=as_("吴会计"),
                   json={"vat_rate": "0.09"})
    assert r.status_code == 422 and "免税" in r.get_json()["error"]["message"]
    for number in ("9" * 33, "发票", "1 2"):
        r = client.put("/api/v1/finance/documents/1/invoice-number", headers=as_("吴会计"),
                       json={"invoice_number": number})
        assert r.status_code == 422, number


def test_the_orgs_default_rate_applies_when_nothing_else_sets_one(client, demo, as_):
    """PUT /vat-rate: the org's own rate (修改记账规则, audited) taxes a shipment of an item and a
    customer without rates; an item's rate still wins; null clears it; a manager may not set it."""
    jar, zc, buyer = demo.items["龙井"], demo.sites["ZC"], demo.parties["杭州茶城"]

    def sell() -> dict:
        r = client.post("/api/v1/shipments", headers={**as_("钱总监"), "Idempotency-Key": uuid.uuid4().hex},
                        json={"site_id": zc, "item_id": jar, "quantity": "1", "party_id": buyer, "unit_price": "100"})
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    r = client.post("/api/v1/sync", headers=as_("钱总监"), json={"operations": [{
        "client_id": str(uuid.uuid4()), "kind": "receive", "body": {
            "site_id": zc, "item_id": jar, "quantity": "10", "party_id": demo.parties["包装厂"],
            "unit_price": "20", "price_reason": "合同价"}}]})
    assert r.status_code == 200 and r.get_json()["applied"] == 1, r.get_json()
    assert client.put("/api/v1/finance/vat-rate", headers=as_("赵经理"), json={"vat_rate": "0.13"}).status_code == 403
    assert client.put("/api/v1/finance/vat-rate", headers=as_("吴会计"), json={"vat_rate": "1.5"}).status_code == 422
    assert sell()["tax"] == "0.00"
    r = client.put("/api/v1/finance/vat-rate", headers=as_("吴会计"), json={"vat_rate": "0.13", "reason": "一般纳税人"})
    assert r.status_code == 200 and (r.get_json()["rate"], r.get_json()["previous"]) == ("0.1300", None)
    assert sell()["tax"] == "13.00"
    client.put(f"/api/v1/finance/items/{jar}/vat-rate", headers=as_("吴会计"), json={"vat_rate": "0.09"})
    assert sell()["tax"] == "9.00"  # the item's rate comes before the org's
    client.put(f"/api/v1/finance/items/{jar}/vat-rate", headers=as_("吴会计"), json={"vat_rate": None})
    r = client.put("/api/v1/finance/vat-rate", headers=as_("吴会计"), json={"vat_rate": None})
    assert r.status_code == 200 and r.get_json()["previous"] == "0.1300"
    assert sell()["tax"] == "0.00"
