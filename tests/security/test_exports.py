"""Attacks on the export and print routes: another org's voucher, shipment, delivery or party; a
member without the permission; absurd ids and ranges. Each is refused, reveals nothing and writes
nothing. (Reads only: there is no write to replay.)"""

from __future__ import annotations

import io
import uuid

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models.base import utcnow
from models.demo import seed_demo
from models.finance import Voucher
from models.timeutil import local_date
from models.uow import run
from tests.factories import receive, ship
from tests.security.conftest import assert_refused, rows

RANGE = "from=2000-01-01&to=2001-12-31"


def _books(session_factory, demo, price=500):
    receipt = receive(session_factory, demo, 10)
    shipment = ship(session_factory, demo, 1, unit_price=price)
    with session_factory() as s:
        voucher = s.scalar(select(Voucher.id).where(Voucher.document_id == shipment.document_id))
    return receipt, shipment, voucher


@pytest.fixture
def theirs(session_factory):
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")
    receipt, shipment, voucher = _books(session_factory, other, price=777)
    return other, receipt, shipment, voucher


def test_another_orgs_documents_and_parties_are_not_found(client, demo, session_factory, as_, engine, theirs):
    other, receipt, shipment, voucher = theirs
    party = other.parties["杭州茶城"]
    before = rows(engine)
    for url in (f"/api/v1/print/vouchers/{voucher}.pdf", f"/api/v1/print/shipments/{shipment.document_id}.pdf",
                f"/api/v1/print/delivery-notes/{receipt.document_id}.pdf",
                f"/api/v1/print/statement.pdf?party_id={party}&date_from=2026-01-01&date_to=2026-12-31",
                f"/api/v1/exports/statement.xlsx?party_id={party}&date_from=2026-01-01&date_to=2026-12-31",
                f"/api/v1/exports/open-items.xlsx?party_id={party}"):
        r = client.get(url, headers=as_("钱总监"))  # a director of ours may see all of ours, none of theirs
        assert_refused(r, 404, "NOT_FOUND")
        assert "777" not in r.get_data(as_text=True)
    assert rows(engine) == before


def test_their_vouchers_never_appear_in_our_exports(client, demo, session_factory, as_, theirs):
    _books(session_factory, demo, price=500)
    r = client.get("/api/v1/exports/vouchers.xlsx?from=2000-01-01&to=2001-12-31", headers=as_("吴会计"))
    assert r.status_code == 200  # an empty range is an empty list, not an error
    today = local_date(utcnow()).isoformat()
    for layout in ("default", "yonyou_t3"):
        r = client.get(f"/api/v1/exports/vouchers.xlsx?from={today}&to={today}&layout={layout}",
                       headers=as_("吴会计"))
        values = {c for row in load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True) for c in row}
        assert 500 in values and 777 not in values
    r = client.get(f"/api/v1/exports/vouchers.csv?from={today}&to={today}", headers=as_("吴会计"))
    assert "500.00" in r.data.decode("gbk") and "777" not in r.data.decode("gbk")


def test_a_receipt_is_no_shipment_and_a_shipment_no_delivery_note(client, demo, session_factory, as_):
    receipt, shipment, _ = _books(session_factory, demo)
    assert_refused(client.get(f"/api/v1/print/shipments/{receipt.document_id}.pdf", headers=as_("钱总监")),
                   404, "NOT_FOUND")
    assert_refused(client.get(f"/api/v1/print/delivery-notes/{shipment.document_id}.pdf", headers=as_("钱总监")),
                   404, "NOT_FOUND")


FINANCE = ("/api/v1/exports/aging.xlsx", f"/api/v1/exports/vouchers.xlsx?{RANGE}",
           f"/api/v1/exports/vouchers.csv?{RANGE}",
           "/api/v1/exports/open-items.xlsx?party_id={party}",
           "/api/v1/exports/statement.xlsx?party_id={party}&date_from=2026-01-01&date_to=2026-12-31",
           "/api/v1/print/statement.pdf?party_id={party}&date_from=2026-01-01&date_to=2026-12-31",
           "/api/v1/print/vouchers/{voucher}.pdf")


@pytest.mark.parametrize("who", ["王阿姨", "小周", "老孙", "赵经理"])
def test_members_without_the_finance_permission_get_no_finance_file(client, demo, session_factory, as_, who):
    _, _, voucher = _books(session_factory, demo)
    for url in FINANCE:
        r = client.get(url.format(party=demo.parties["杭州茶城"], voucher=voucher), headers=as_(who))
        assert_refused(r, 403, "PERMISSION_DENIED", "查看财务")


def test_only_who_may_ship_from_the_site_or_read_the_books_prints_the_shipment(client, demo, session_factory, as_):
    _, shipment, _ = _books(session_factory, demo)  # shipped from 总仓
    url = f"/api/v1/print/shipments/{shipment.document_id}.pdf"
    for who in ("小周", "王阿姨"):  # a clerk of 绍兴收购点, a farmer
        assert_refused(client.get(url, headers=as_(who)), 403, "PERMISSION_DENIED", "出库单")
    for who in ("老孙", "赵经理", "吴会计"):
        assert client.get(url, headers=as_(who)).status_code == 200, who


def test_a_farmer_prints_only_her_own_delivery_note(client, demo, session_factory, as_):
    hers = receive(session_factory, demo, 5)
    his = receive(session_factory, demo, 5, party="李大伯")
    assert client.get(f"/api/v1/print/delivery-notes/{hers.document_id}.pdf", headers=as_("王阿姨")).status_code == 200
    assert_refused(client.get(f"/api/v1/print/delivery-notes/{his.document_id}.pdf", headers=as_("王阿姨")),
                   403, "PERMISSION_DENIED")
    assert_refused(client.get(f"/api/v1/print/delivery-notes/{his.document_id}.pdf", headers=as_("小周")),
                   403, "PERMISSION_DENIED")  # received at 总仓, not at 小周's 绍兴收购点


@pytest.mark.parametrize("url", [
    "/api/v1/print/vouchers/0.pdf", f"/api/v1/print/vouchers/{2**60}.pdf", "/api/v1/print/shipments/-1.pdf",
    "/api/v1/exports/vouchers.xlsx?from=2020-01-01&to=2026-12-31",  # more than two years
    "/api/v1/exports/vouchers.xlsx?from=2026-12-31&to=2026-01-01",
    "/api/v1/exports/vouchers.xlsx?from=99999-01-01&to=2026-01-01",
    "/api/v1/exports/vouchers.xlsx?from=1700000000&to=2026-01-01",
    "/api/v1/exports/vouchers.xlsx?from=2026-01-01&to=2026-01-31&layout=../../pyproject",
    "/api/v1/exports/open-items.xlsx?party_id=true",
    "/api/v1/exports/aging.xlsx?side=both",
])
def test_absurd_ids_and_ranges_are_refused(client, demo, as_, url):
    r = client.get(url, headers=as_("钱总监"))
    assert r.status_code in (404, 422), (url, r.status_code)
    assert r.get_json()["error"]["code"] in ("NOT_FOUND", "VALIDATION_ERROR")


def test_a_signed_out_caller_gets_nothing(client, demo):
    assert client.get("/api/v1/exports/aging.xlsx").status_code == 401
    assert client.get("/api/v1/print/shipments/1.pdf").status_code == 401
