"""/api/v1/finance: money received and paid, matching, credit terms, aging and statements."""

from __future__ import annotations

from datetime import timedelta

from models.base import utcnow
from models.timeutil import local_date
from tests.factories import receive, ship
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


def _sales(session_factory, demo):
    receive(session_factory, demo, 50)
    now = utcnow()
    return [ship(session_factory, demo, 1, unit_price=price, business_time=now - timedelta(days=days))
            for price, days in ((300, 40), (200, 1))]


def test_the_accountant_records_money_and_reads_aging_open_items_and_the_statement(
        client, demo, session_factory, as_):
    old, new = _sales(session_factory, demo)
    customer = demo.parties["杭州茶城"]
    aged = client.get("/api/v1/finance/aging?side=receivable", headers=as_("吴会计")).get_json()
    row = next(r for r in aged["rows"] if r["party_id"] == customer)
    assert (row["buckets"]["d31_60"], row["buckets"]["d1_30"], row["total"]) == ("300.00", "200.00", "500.00")
    assert aged["balanced"] is True and aged["total"] == aged["control_balance"] == "500.00"
    assert aged["columns"]["over_180"] == "180天以上"

    headers = {**as_("吴会计"), "Idempotency-Key": f"sk-{customer}"}
    paid = client.post("/api/v1/finance/money-received", headers=headers,
                       json={"party_id": customer, "amount": "350.00", "via": "cash"})
    assert paid.status_code == 200, paid.get_json()
    body = paid.get_json()
    assert [m["document_id"] for m in body["matched"]] == [old.document_id, new.document_id]
    assert client.post("/api/v1/finance/money-received", headers=headers,
                       json={"party_id": customer, "amount": "350.00", "via": "cash"}).get_json() == body

    items = client.get(f"/api/v1/finance/parties/{customer}/open-items", headers=as_("吴会计")).get_json()
    assert [(i["document_id"], i["open"]) for i in items["items"]] == [(new.document_id, "150.00")]

    today = local_date(utcnow()).isoformat()
    start = (local_date(utcnow()) - timedelta(days=60)).isoformat()
    stmt = client.get(f"/api/v1/finance/parties/{customer}/statement?date_from={start}&date_to={today}",
                      headers=as_("吴会计")).get_json()
    assert (stmt["opening"], stmt["closing"]) == ("0.00", "150.00") and len(stmt["lines"]) == 3


def test_credit_terms_move_items_out_of_overdue(client, demo, session_factory, as_):
    _sales(session_factory, demo)
    customer = demo.parties["杭州茶城"]
    r = client.put(f"/api/v1/finance/parties/{customer}/credit-terms", headers=as_("吴会计"),
                   json={"credit_days": 30, "credit_limit": "10000"})
    assert r.status_code == 200 and r.get_json()["credit_days"] == 30
    aged = client.get("/api/v1/finance/aging", headers=as_("吴会计")).get_json()
    row = next(r for r in aged["rows"] if r["party_id"] == customer)
    assert (row["buckets"]["current"], row["buckets"]["d1_30"]) == ("200.00", "300.00")


def test_clerks_and_farmers_see_no_money_and_record_none(client, demo, session_factory, as_):
    _sales(session_factory, demo)
    customer = demo.parties["杭州茶城"]
    for name in ("小周", "王阿姨"):
        assert client.get("/api/v1/finance/aging", headers=as_(name)).status_code == 403
        assert client.get(f"/api/v1/finance/parties/{customer}/open-items", headers=as_(name)).status_code == 403
        r = client.post("/api/v1/finance/money-received", headers=as_(name), json={"party_id": customer, "amount": 1})
        assert r.status_code == 403


def test_bad_input_is_a_clear_error(client, demo, as_):
    customer = demo.parties["杭州茶城"]
    for body in ({"party_id": customer, "amount": "0"}, {"party_id": customer, "amount": "1.001"},
                 {"party_id": customer, "amount": "1e13"}, {"party_id": customer, "amount": 5, "via": "wechat"},
                 {"party_id": True, "amount": 5}):
        r = client.post("/api/v1/finance/money-received", headers=as_("吴会计"), json=body)
        assert r.status_code == 422, body
    r = client.get("/api/v1/finance/aging?basis=someday", headers=as_("吴会计"))
    assert r.status_code == 422
    r = client.get(f"/api/v1/finance/parties/{customer}/statement?date_from=2026-12-05&date_to=2026-11-01",
                   headers=as_("吴会计"))
    assert r.status_code == 422 and r.get_json()["error"]["details"]["field"] == "date_from"
