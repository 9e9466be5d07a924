"""Attacks on the VAT routes: another org's document or item, a role without the permission, an
absurd rate, a replay with another body — each refused, and nothing written."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from models.demo import seed_demo
from models.documents import Document
from models.org import Org
from models.uow import run
from tests.factories import receive, ship
from tests.security.conftest import assert_refused, rows


def _sale(session_factory, demo):
    receive(session_factory, demo, 10)
    return ship(session_factory, demo, 1, unit_price=500)


def test_another_orgs_document_item_or_party_is_not_found(client, demo, session_factory, as_, engine):
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")
    theirs = _sale(session_factory, other)
    before = rows(engine)
    r = client.put(f"/api/v1/finance/documents/{theirs.document_id}/invoice-number", headers=as_("吴会计"),
                   json={"invoice_number": "12345678"})
    assert_refused(r, 404, "NOT_FOUND", "单据")
    for path in (f"items/{other.items['龙井']}", f"parties/{other.parties['杭州茶城']}"):
        r = client.put(f"/api/v1/finance/{path}/vat-rate", headers=as_("吴会计"), json={"vat_rate": "0.13"})
        assert_refused(r, 404, "NOT_FOUND")
    assert rows(engine) == before
    with session_factory() as s:
        assert s.get_one(Document, theirs.document_id).invoice_number is None
    # Their documents are not in our summary.
    ours = client.get("/api/v1/finance/vat-summary", headers=as_("吴会计")).get_json()
    assert all(d["document_id"] != theirs.document_id for d in ours["documents"])


def test_members_without_the_permission_are_refused(client, demo, session_factory, as_, engine):
    sold = _sale(session_factory, demo)
    before = rows(engine)
    for who in ("小周", "老孙", "王阿姨"):
        assert_refused(client.get("/api/v1/finance/vat-summary", headers=as_(who)), 403, "PERMISSION_DENIED")
        r = client.put(f"/api/v1/finance/documents/{sold.document_id}/invoice-number", headers=as_(who),
                       json={"invoice_number": "1"})
        assert_refused(r, 403, "PERMISSION_DENIED")
    # The manager sets prices, but not how the vouchers book tax.
    for path in (f"items/{demo.items['龙井']}", f"parties/{demo.parties['包装厂']}"):
        r = client.put(f"/api/v1/finance/{path}/vat-rate", headers=as_("赵经理"), json={"vat_rate": "0.13"})
        assert_refused(r, 403, "PERMISSION_DENIED", "修改记账规则")
    assert rows(engine) == before


def test_absurd_rates_are_refused_and_write_nothing(client, demo, session_factory, as_, engine):
    receive(session_factory, demo, 10)
    before = rows(engine)
    for rate in ("1", "1.5", "-0.13", "0.00001", "1e400", "NaN", "Infinity", 13):
        r = client.put(f"/api/v1/finance/items/{demo.items['龙井']}/vat-rate", headers=as_("吴会计"),
                       json={"vat_rate": rate})
        assert r.status_code == 422, rate
        r = client.post("/api/v1/shipments", headers=as_("钱总监"), json={
            "site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "quantity": "1", "tax_rate": rate})
        assert r.status_code == 422, rate
    assert rows(engine) == before
    with session_factory() as s:
        assert s.scalar(select(Document.invoice_number).where(Document.org_id == demo.org_id,
                                                              Document.invoice_number.is_not(None))) is None


def test_a_replayed_key_with_another_invoice_number_is_a_conflict(client, demo, session_factory, as_):
    sold = _sale(session_factory, demo)
    headers = {**as_("吴会计"), "Idempotency-Key": f"inv-{uuid.uuid4().hex}"}
    path = f"/api/v1/finance/documents/{sold.document_id}/invoice-number"
    first = client.put(path, headers=headers, json={"invoice_number": "11111111"})
    assert first.status_code == 200
    assert client.put(path, headers=headers, json={"invoice_number": "11111111"}).get_json() == first.get_json()
    assert_refused(client.put(path, headers=headers, json={"invoice_number": "22222222"}), 409,
                   "IDEMPOTENCY_CONFLICT")
    with session_factory() as s:
        assert s.get_one(Document, sold.document_id).invoice_number == "11111111"


def test_the_orgs_default_rate_is_set_only_by_the_mapping_permission_and_only_for_its_own_org(
        client, demo, session_factory, as_, engine):
    """PUT /vat-rate: a role without 修改记账规则 is refused, an absurd rate is 422, and setting ours
    leaves another organisation's default alone."""
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")
    before = rows(engine)
    for who in ("小周", "老孙", "王阿姨", "赵经理"):
        assert_refused(client.put("/api/v1/finance/vat-rate", headers=as_(who), json={"vat_rate": "0.13"}), 403,
                       "PERMISSION_DENIED")
    for rate in ("1", "1.5", "-0.13", "0.00001", "1e400", "NaN", "Infinity", 13, True, "十三"):
        r = client.put("/api/v1/finance/vat-rate", headers=as_("吴会计"), json={"vat_rate": rate})
        assert r.status_code == 422, rate
    assert rows(engine) == before
    with session_factory() as s:
        assert "vat_rate" not in (s.get_one(Org, demo.org_id).settings or {})
    r = client.put("/api/v1/finance/vat-rate", headers=as_("吴会计"), json={"vat_rate": "0.13"})
    assert r.status_code == 200, r.get_json()
    with session_factory() as s:
        assert s.get_one(Org, demo.org_id).settings["vat_rate"] == "0.1300"
        assert "vat_rate" not in (s.get_one(Org, other.org_id).settings or {})


def test_a_farmer_stays_exempt(client, demo, session_factory, as_, engine):
    """A farmer's rate cannot be set above 0, nor a tax put on her delivery: the farmer rule books
    no tax line, so the tax would be owed to her and never booked."""
    before = rows(engine)
    r = client.put(f"/api/v1/finance/parties/{demo.parties['王阿姨']}/vat-rate", headers=as_("吴会计"),
                   json={"vat_rate": "0.09"})
    assert_refused(r, 422, "VALIDATION_ERROR", "免税")
    r = client.post("/api/v1/sync", headers=as_("钱总监"), json={"operations": [{
        "client_id": str(uuid.uuid4()), "kind": "receive", "body": {
            "site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "quantity": "10",
            "grade_id": demo.grades["一级"], "party_id": demo.parties["王阿姨"], "tax_rate": "0.09"}}]})
    assert r.status_code == 200 and r.get_json()["applied"] == 0, r.get_json()
    error = r.get_json()["results"][0]["error"]
    assert (error["code"], "免税" in error["message"]) == ("VALIDATION_ERROR", True), error
    assert rows(engine) == before


def test_a_draft_receipt_gets_no_invoice_number_before_it_is_confirmed(client, demo, session_factory, as_, engine):
    """A receipt above the plausibility limit waits for a second person: until then it is no posted
    document, and an invoice number is refused (409) without writing anything."""
    r = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": [{
        "client_id": str(uuid.uuid4()), "kind": "receive", "body": {
            "site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "1500", "unit": "公斤",
            "grade_id": demo.grades["一级"], "party_id": demo.parties["王阿姨"]}}]})
    result = r.get_json()["results"][0]
    assert result["status"] == "applied" and result["result"]["status"] == "draft", result
    draft_id = result["result"]["document_id"]
    before = rows(engine)
    r = client.put(f"/api/v1/finance/documents/{draft_id}/invoice-number", headers=as_("吴会计"),
                   json={"invoice_number": "12345678"})
    assert_refused(r, 409, "INVALID_STATE", "不是已记账")
    assert rows(engine) == before
    with session_factory() as s:
        assert s.get_one(Document, draft_id).invoice_number is None
