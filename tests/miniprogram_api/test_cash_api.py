"""/api/v1/finance/cash-forecast and /cash-threshold: the 72-hour cash view and its minimum."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from models.actor import Actor
from models.base import utcnow
from models.operations.money import RecordMoney, receive_money
from models.timeutil import SHANGHAI, local_date
from models.uow import run
from tests.factories import receive
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


def _book(session_factory, demo) -> int:
    """300 in cash; a farmer delivery (prepayment 560 owed); return the receipt's id."""
    run(session_factory, receive_money, Actor.system_actor(demo.org_id),
        RecordMoney(demo.parties["杭州茶城"], Decimal(300), via="cash", matches=()))
    yesterday = datetime.combine(local_date(utcnow()) - timedelta(days=1), time(12), SHANGHAI)
    return receive(session_factory, demo, 10, business_time=yesterday).document_id


def test_the_accountant_reads_the_forecast_with_its_documents(client, demo, session_factory, as_):
    receipt = _book(session_factory, demo)
    r = client.get("/api/v1/finance/cash-forecast", headers=as_("吴会计"))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["hours"], len(body["by_hour"]), body["due_hour"]) == (72, 72, 10)
    assert (body["cash"], body["opening"], body["outflow"], body["closing"]) == ("300.00", "300.00", "560.00",
                                                                               "-260.00")
    assert body["lowest"] == "-260.00" and body["lowest_at"] == body["as_of"]
    [item] = body["items"]
    assert (item["kind"], item["document_id"], item["amount"], item["note"], item["overdue"]) == (
        "farmer", receipt, "560.00", "预付款", True)
    assert item["number"].startswith("RK-") and item["party_name"] == "王阿姨"
    assert body["start"].endswith("+08:00")  # Shanghai hours
    short = client.get("/api/v1/finance/cash-forecast?hours=6", headers=as_("钱总监")).get_json()
    assert len(short["by_hour"]) == 6 and short["closing"] == "-260.00"


def test_the_threshold_is_set_shown_in_the_forecast_and_cleared(client, demo, session_factory, as_):
    _book(session_factory, demo)
    headers = {**as_("吴会计"), "Idempotency-Key": f"cash-min-{demo.org_id}"}
    r = client.put("/api/v1/finance/cash-threshold", headers=headers, json={"minimum": "1000", "reason": "月底发工资"})
    assert r.status_code == 200 and r.get_json() == {"minimum": "1000.00"}
    assert client.put("/api/v1/finance/cash-threshold", headers=headers,
                      json={"minimum": "1000", "reason": "月底发工资"}).get_json() == {"minimum": "1000.00"}
    body = client.get("/api/v1/finance/cash-forecast", headers=as_("吴会计")).get_json()
    assert body["threshold"] == "1000.00" and body["first_below_at"] == body["as_of"]
    r = client.put("/api/v1/finance/cash-threshold", headers=as_("吴会计"), json={"minimum": None})
    assert r.status_code == 200 and r.get_json() == {"minimum": None}
    body = client.get("/api/v1/finance/cash-forecast", headers=as_("吴会计")).get_json()
    assert body["threshold"] is None and body["first_below_at"] is None


def test_the_routes_are_in_the_spec(client):
    spec = client.get("/openapi/openapi.json").get_json()
    assert "get" in spec["paths"]["/api/v1/finance/cash-forecast"]
    assert "put" in spec["paths"]["/api/v1/finance/cash-threshold"]
