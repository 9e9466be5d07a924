"""/api/v1/books: periods, close and reopen, and the three statements."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

from models.timeutil import SHANGHAI
from tests.factories import receive, ship
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401

NOV = "202611"


def _november(session_factory, demo):
    receive(session_factory, demo, 100, business_time=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI))
    ship(session_factory, demo, 30, unit_price=100, business_time=datetime(2026, 11, 10, 9, tzinfo=SHANGHAI))


def test_the_accountant_reads_the_statements_closes_the_month_and_the_director_reopens_it(
        client, demo, session_factory, as_):
    _november(session_factory, demo)
    wu = as_("吴会计")
    tb = client.get(f"/api/v1/books/trial-balance?period={NOV}", headers=wu).get_json()
    assert tb["balanced"] is True and tb["totals"]["debit"] == tb["totals"]["credit"]
    assert {r["code"] for r in tb["rows"]} >= {"1405", "1122", "6001", "6401"}
    income = client.get(f"/api/v1/books/income-statement?period={NOV}", headers=wu).get_json()
    assert income["rows"][0]["label"] == "一、营业收入" and D(income["rows"][0]["amount"]) == D(3000)
    assert income["balanced"] is True and D(income["net_profit"]) > 0
    sheet = client.get(f"/api/v1/books/balance-sheet?period={NOV}", headers=wu).get_json()
    assert sheet["balanced"] is True and sheet["total_assets"] == sheet["total_liabilities_and_equity"]

    closed = client.post(f"/api/v1/books/periods/{NOV}/close", headers={**wu, "Idempotency-Key": "close-nov"})
    assert closed.status_code == 200, closed.get_json()
    body = closed.get_json()
    assert body["status"] == "closed" and D(body["profit"]) == D(income["net_profit"])
    # A replay answers the first close again.
    again = client.post(f"/api/v1/books/periods/{NOV}/close", headers={**wu, "Idempotency-Key": "close-nov"})
    assert again.get_json() == body
    listed = client.get("/api/v1/books/periods", headers=wu).get_json()["periods"]
    assert next(p for p in listed if p["period"] == NOV)["status"] == "closed"
    after = client.get(f"/api/v1/books/balance-sheet?period={NOV}", headers=wu).get_json()
    assert after["balanced"] is True and after["total_assets"] == sheet["total_assets"]
    assert client.get(f"/api/v1/books/income-statement?period={NOV}", headers=wu).get_json()["net_profit"] \
        == income["net_profit"]

    r = client.post(f"/api/v1/books/periods/{NOV}/reopen", headers=as_("钱总监"), json={"reason": "漏记运费"})
    assert r.status_code == 200 and r.get_json()["status"] == "open"


def test_the_reports_are_in_the_openapi_spec(client):
    paths = client.get("/openapi/openapi.json").get_json()["paths"]
    for path in ("/api/v1/books/periods", "/api/v1/books/periods/{period}/close",
                 "/api/v1/books/periods/{period}/reopen", "/api/v1/books/trial-balance",
                 "/api/v1/books/balance-sheet", "/api/v1/books/income-statement"):
        assert path in paths, path


def test_the_readme_walk_through_closes_this_month_of_the_demo(client, demo, as_):
    """README: close the current month of the demo data, be refused a posting, reopen as the director."""
    from models.base import utcnow
    from models.timeutil import period_of

    period = period_of(utcnow())
    wu = as_("吴会计")
    r = client.post(f"/api/v1/books/periods/{period}/close", headers={**wu, "Idempotency-Key": "close-1"})
    assert r.status_code == 200, r.get_json()
    refused = client.post("/api/v1/finance/money-received", headers=wu,
                          json={"party_id": demo.parties["杭州茶城"], "amount": "10"})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "PERIOD_CLOSED"
    r = client.post(f"/api/v1/books/periods/{period}/reopen", headers=as_("钱总监"), json={"reason": "漏记一笔收款"})
    assert r.status_code == 200
    assert client.post("/api/v1/finance/money-received", headers=wu,
                       json={"party_id": demo.parties["杭州茶城"], "amount": "10"}).status_code == 200
