"""The documents API beside the console: list, detail, orders, reversal."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client, receive  # noqa: F401
from tests.security.conftest import assert_refused, rows


def test_list_and_detail(client, as_, demo, actors, session_factory):
    receipt = receive(session_factory, demo, actors, qty="12")
    page = client.get("/api/v1/documents?kind=receipt", headers=as_("吴会计"))
    assert page.status_code == 200, page.get_data(as_text=True)
    body = page.get_json()
    assert [r["number"] for r in body["rows"]] == [receipt.number]
    assert body["rows"][0]["kind_label"] == "入库单" and body["rows"][0]["status_label"] == "已过账"
    detail = client.get(f"/api/v1/documents/{receipt.document_id}", headers=as_("吴会计")).get_json()
    assert Decimal(detail["lines"][0]["quantity"]) == 12 and detail["vouchers"][0]["lines"]
    assert detail["reversible"] is True
    assert client.get("/api/v1/documents?kind=nonsense", headers=as_("吴会计")).status_code == 422


def test_orders_and_reversal(client, as_, demo, actors, session_factory):
    order = client.post("/api/v1/orders", headers={**as_("赵经理"), "Idempotency-Key": str(uuid.uuid4())}, json={
        "kind": "purchase_order", "site_id": demo.sites["ZC"], "party_id": demo.parties["包装厂"],
        "lines": [{"item_id": demo.items["龙井"], "quantity": "2", "unit": "箱", "unit_price": "50"}]})
    assert order.status_code == 200, order.get_data(as_text=True)
    assert order.get_json()["total"] == "2000.00"
    receipt = receive(session_factory, demo, actors, qty="12")
    reversed_ = client.post(f"/api/v1/documents/{receipt.document_id}/reverse", headers=as_("吴会计"),
                            json={"reason": "录错"})
    assert reversed_.status_code == 200, reversed_.get_data(as_text=True)
    assert reversed_.get_json()["reversed_number"] == receipt.number


def test_refusals_write_nothing(client, as_, demo, actors, session_factory, engine):
    receipt = receive(session_factory, demo, actors, qty="12")
    before = rows(engine)
    assert_refused(client.post(f"/api/v1/documents/{receipt.document_id}/reverse", headers=as_("小周"),
                               json={"reason": "想撤销"}), 403, "PERMISSION_DENIED")
    assert_refused(client.post("/api/v1/orders", headers=as_("小周"), json={
        "kind": "purchase_order", "site_id": demo.sites["SX"], "party_id": demo.parties["包装厂"],
        "lines": [{"item_id": demo.items["龙井"], "quantity": "1", "unit_price": "1"}]}), 403, "PERMISSION_DENIED")
    assert rows(engine) == before


def test_export_is_the_filtered_list(client, as_, demo, actors, session_factory):
    import io

    from openpyxl import load_workbook

    receipt = receive(session_factory, demo, actors, qty="12")
    response = client.get("/api/v1/documents.xlsx?kind=receipt", headers=as_("赵经理"))
    assert response.status_code == 200, response.get_data(as_text=True)
    values = [c for row in load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True) for c in row]
    assert receipt.number in values and "入库单" in values


@pytest.mark.parametrize("member", ["赵经理", "王阿姨", "小周"])
def test_fuzzing_the_documents_routes_finds_no_5xx(member, app, demo, actors, session_factory, as_):
    from tests.fuzzing import fuzz_spec

    receive(session_factory, demo, actors, "20")
    seen, failures = fuzz_spec(app, as_(member), 10, include=lambda p: p.startswith("/api/v1/documents")
                               or p == "/api/v1/orders")
    assert len(seen) == 5, seen
    assert not failures, "\n\n".join(f"{op}\n{msg}" for op, msg in failures.items())
